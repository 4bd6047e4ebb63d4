#pragma once

// Rendered rows kept in one string: row i is text[starts[i], starts[i + 1]).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace podnetstat::agent {

struct TextRows {
  std::string text;
  std::vector<std::size_t> starts;  // one per row, then text.size()

  /// Opens the next row: what is appended to `text` from now on belongs to it.
  void open() { starts.push_back(text.size()); }

  /// Ends the last row (call once, after the last row).
  void close() { starts.push_back(text.size()); }

  /// Rows [first, last), concatenated.
  std::string_view rows(std::size_t first, std::size_t last) const {
    return std::string_view(text).substr(starts[first], starts[last] - starts[first]);
  }
};

}  // namespace podnetstat::agent
