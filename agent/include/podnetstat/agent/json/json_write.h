#pragma once

// Small pieces of hand-written JSON shared by the API answers: numbers, timestamps and the error
// object. Strings go through appendJsonString() (socket_json.h).

#include <cstdint>
#include <string>
#include <string_view>

namespace podnetstat::agent {

void appendJsonUint(std::string& out, std::uint64_t value);

void appendJsonInt(std::string& out, std::int64_t value);

/// Appends `value` rounded to 3 decimals, without trailing zeros ("12.5", "0"); non-finite
/// values become null (JSON has no NaN).
void appendJsonMillis(std::string& out, double value);

/// RFC 3339 UTC with milliseconds: "2024-05-01T12:34:56.789Z".
std::string formatRfc3339Ms(std::int64_t unix_ms);

/// `{"error":{"code":N,"message":"..."}}` followed by a newline.
std::string errorJson(unsigned code, std::string_view message);

}  // namespace podnetstat::agent
