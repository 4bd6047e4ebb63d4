#include "podnetstat/agent/json/json_write.h"

#include <time.h>

#include <charconv>
#include <cmath>
#include <cstdio>

#include "podnetstat/agent/render/socket_json.h"

namespace podnetstat::agent {

void appendJsonUint(std::string& out, std::uint64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, end);
}

void appendJsonInt(std::string& out, std::int64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, end);
}

void appendJsonMillis(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  const double rounded = std::round(value * 1000.0) / 1000.0;
  char buf[48];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), rounded, std::chars_format::fixed, 3);
  if (ec != std::errc()) {
    out += "null";
    return;
  }
  // Trim "12.500" to "12.5" and "3.000" to "3".
  while (end > buf && end[-1] == '0') {
    --end;
  }
  if (end > buf && end[-1] == '.') {
    --end;
  }
  if (end == buf || (end - buf == 1 && buf[0] == '-')) {
    out += '0';
    return;
  }
  out.append(buf, end);
}

std::string formatRfc3339Ms(std::int64_t unix_ms) {
  std::int64_t seconds = unix_ms / 1000;
  std::int64_t millis = unix_ms % 1000;
  if (millis < 0) {
    millis += 1000;
    --seconds;
  }
  const auto t = static_cast<time_t>(seconds);

  struct tm tm {};

  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buf;
}

std::string errorJson(unsigned code, std::string_view message) {
  std::string out = R"({"error":{"code":)";
  appendJsonUint(out, code);
  out += R"(,"message":)";
  appendJsonString(out, message);
  out += "}}\n";
  return out;
}

}  // namespace podnetstat::agent
