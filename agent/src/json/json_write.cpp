#include "podnetstat/agent/json/json_write.h"

#include <time.h>

#include <charconv>
#include <cmath>
#include <cstdio>

namespace podnetstat::agent {
namespace {

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

/// Length of the well-formed UTF-8 sequence starting at text[i] (RFC 3629: no overlongs, no
/// surrogates, nothing above U+10FFFF), or 0 when it is not one.
std::size_t utf8SequenceLength(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) {
    return static_cast<unsigned char>(text[k]);
  };
  const unsigned char lead = byte(i);
  std::size_t len = 0;
  unsigned char lo = 0x80;  // allowed range of the second byte
  unsigned char hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) {
      lo = 0xA0;  // overlong
    } else if (lead == 0xED) {
      hi = 0x9F;  // surrogates
    }
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) {
      lo = 0x90;  // overlong
    } else if (lead == 0xF4) {
      hi = 0x8F;  // above U+10FFFF
    }
  } else {
    return 0;
  }
  if (i + len > text.size()) {
    return 0;
  }
  if (byte(i + 1) < lo || byte(i + 1) > hi) {
    return 0;
  }
  for (std::size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) {
      return 0;
    }
  }
  return len;
}

}  // namespace

void appendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + text.size() + 2);
  out += '"';
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20) {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    const std::size_t len = utf8SequenceLength(text, i);
    if (len == 0) {
      out += kReplacementChar;  // one replacement per invalid byte
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  out += '"';
}

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
