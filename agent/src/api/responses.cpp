#include "podnetstat/agent/api/responses.h"

#include <utility>

namespace podnetstat::agent {
namespace {

HttpResponse uncached(unsigned status, const char* content_type) {
  HttpResponse r;
  r.status = status;
  r.content_type = content_type;
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

}  // namespace

HttpResponse jsonAnswer(unsigned status, std::string body) {
  HttpResponse r = uncached(status, kJsonType);
  r.body = std::move(body);
  return r;
}

HttpResponse textAnswer(unsigned status, std::string body) {
  HttpResponse r = uncached(status, kTextType);
  r.body = std::move(body);
  return r;
}

HttpResponse streamAnswer(OutputFormat format, std::shared_ptr<BodyStream> stream) {
  HttpResponse r = uncached(200, format == OutputFormat::Json ? kJsonType : kTextType);
  r.stream = std::move(stream);
  return r;
}

HttpResponse errorAnswer(unsigned status, std::string_view message) {
  HttpResponse r = errorResponse(status, message);
  r.headers.emplace_back("Cache-Control", "no-store");
  if (status == 503) {
    r.headers.emplace_back("Retry-After", "1");
  }
  if (status == 405) {
    r.headers.emplace_back("Allow", "GET, HEAD");
  }
  return r;
}

unsigned statusOf(const Error& error) {
  switch (error.kind) {
    case ErrorKind::Invalid:
    case ErrorKind::Malformed:
      return 400;
    case ErrorKind::NotFound:
      return 404;
    case ErrorKind::Gone:
    case ErrorKind::Permission:
    case ErrorKind::Unavailable:
      return 503;
    case ErrorKind::Failed:
      break;
  }
  return 500;
}

HttpResponse notReady() {
  return errorAnswer(503, "no snapshot yet: the first scan has not finished");
}

}  // namespace podnetstat::agent
