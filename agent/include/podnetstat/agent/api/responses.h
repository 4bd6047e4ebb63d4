#pragma once

// The shapes of the API's answers: JSON bodies, text tables, streamed lists, and errors as
// `{"error":{"code":N,"message":"..."}}`. Every answer but /metrics is marked not to be cached.

#include <memory>
#include <string>
#include <string_view>

#include "podnetstat/agent/api/api_query.h"
#include "podnetstat/agent/http/http_message.h"

namespace podnetstat::agent {

/// A JSON body.
HttpResponse jsonAnswer(unsigned status, std::string body);

/// A text body (netstat tables).
HttpResponse textAnswer(unsigned status, std::string body);

/// A body streamed in `format` (a socket or listener list).
HttpResponse streamAnswer(OutputFormat format, std::shared_ptr<BodyStream> stream);

/// An error: 503 says when to ask again (Retry-After), 405 which methods are allowed.
HttpResponse errorAnswer(unsigned status, std::string_view message);

/// The status of an answer that failed with `error`: 400 for what the request got wrong, 404 for
/// what does not exist, 503 for what cannot be had now (gone, not permitted, unavailable), 500
/// otherwise.
unsigned statusOf(const Error& error);

/// 503 before the first snapshot.
HttpResponse notReady();

}  // namespace podnetstat::agent
