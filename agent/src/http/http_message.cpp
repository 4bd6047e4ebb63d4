#include "podnetstat/agent/http/http_message.h"

#include "podnetstat/agent/json/json_write.h"

namespace podnetstat::agent {

HttpResponse errorResponse(unsigned status, std::string_view message) {
  HttpResponse response;
  response.status = status;
  response.body = errorJson(status, message);
  return response;
}

}  // namespace podnetstat::agent
