#pragma once

// Hand-written JSON, written straight into a string (no document tree) so that large answers can
// be produced piece by piece: strings, numbers, timestamps and the error object. Shared by the
// renderers and the HTTP server's own error answers.

#include <cstdint>
#include <string>
#include <string_view>

namespace podnetstat::agent {

/// Appends `text` as a JSON string literal (quotes included), escaping as RFC 8259 requires.
/// Invalid UTF-8 bytes are replaced by U+FFFD so the output is always valid JSON.
void appendJsonString(std::string& out, std::string_view text);

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
