#include "netstat_text.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>

namespace podnetstat::testing {

namespace {

constexpr std::array<std::string_view, 8> kTimerLabels = {"off",   "on",  "keepalive", "timewait",
                                                          "probe", "on1", "on2",       "unkn-"};

bool isTimerLabel(std::string_view word) {
  for (std::string_view label : kTimerLabels) {
    if (label.back() == '-' ? word.starts_with(label) && word.size() > label.size()
                            : word == label) {
      return true;
    }
  }
  return false;
}

bool isHeader(std::string_view line) {
  return line.starts_with("Active ") || line.starts_with("Proto ");
}

}  // namespace

std::string maskTimer(std::string_view row) {
  if (!row.ends_with(')')) {
    return std::string(row);
  }
  std::size_t open = row.rfind(" (");
  if (open == std::string_view::npos || open == 0) {
    return std::string(row);
  }
  std::size_t word_start = row.rfind(' ', open - 1);
  word_start = word_start == std::string_view::npos ? 0 : word_start + 1;
  if (!isTimerLabel(row.substr(word_start, open - word_start))) {
    return std::string(row);
  }
  return std::string(row.substr(0, open)) + " (*)";
}

std::vector<std::string> splitLines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    lines.emplace_back(text.substr(0, nl));
    if (nl == std::string_view::npos) {
      break;
    }
    text.remove_prefix(nl + 1);
  }
  return lines;
}

NetstatListing parseListing(std::string_view text) {
  NetstatListing listing;
  int section = -1;
  bool last_was_header = false;
  for (const std::string& line : splitLines(text)) {
    if (isHeader(line)) {
      if (!last_was_header) {
        ++section;
      }
      listing.headers.push_back(line);
      last_was_header = true;
      continue;
    }
    last_was_header = false;
    if (line.empty()) {
      continue;
    }
    listing.rows.push_back(std::to_string(section) + "|" + maskTimer(line));
  }
  return listing;
}

std::string diffListings(std::string_view expected, std::string_view actual) {
  NetstatListing want = parseListing(expected);
  NetstatListing got = parseListing(actual);
  std::string report;
  if (want.headers != got.headers) {
    report += "headers differ:\n";
    for (const auto& h : want.headers) {
      report += "  - [" + h + "]\n";
    }
    for (const auto& h : got.headers) {
      report += "  + [" + h + "]\n";
    }
  }
  std::map<std::string, int> count;
  for (const auto& r : want.rows) {
    ++count[r];
  }
  for (const auto& r : got.rows) {
    --count[r];
  }
  std::string missing;
  std::string extra;
  for (const auto& [row, n] : count) {
    for (int i = 0; i < n; ++i) {
      missing += "  - [" + row + "]\n";
    }
    for (int i = 0; i < -n; ++i) {
      extra += "  + [" + row + "]\n";
    }
  }
  if (!missing.empty() || !extra.empty()) {
    report +=
        "rows differ (- only in netstat, + only in podnetstat; '<section>|' prefix, "
        "timers masked):\n" +
        missing + extra;
  }
  return report;
}

bool sameRowOrder(std::string_view expected, std::string_view actual) {
  return parseListing(expected).rows == parseListing(actual).rows;
}

std::vector<NetnsBlock> splitNetnsBlocks(std::string_view text) {
  std::vector<NetnsBlock> blocks;
  for (const std::string& line : splitLines(text)) {
    if (line.starts_with("Netns: ")) {
      blocks.push_back({line, {}});
      continue;
    }
    if (!blocks.empty()) {
      blocks.back().text += line + "\n";
    }
  }
  for (auto& b : blocks) {
    while (b.text.ends_with("\n\n")) {
      b.text.pop_back();
    }
    if (b.text == "\n") {
      b.text.clear();
    }
  }
  return blocks;
}

}  // namespace podnetstat::testing
