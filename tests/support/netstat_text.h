#pragma once

// Comparing netstat-style listings that were taken a moment apart: same header lines in the same
// order, same rows as a multiset (per section), timer values masked (they move between reads).

#include <string>
#include <string_view>
#include <vector>

namespace podnetstat::testing {

/// A listing split into headers ("Active ..." and "Proto ..." lines) and rows. Each row is
/// prefixed with the index of its section ("0|tcp ...") so that a row can only match a row of
/// the same table.
struct NetstatListing {
  std::vector<std::string> headers;
  std::vector<std::string> rows;  // in output order, timers masked
};

/// `keepalive (7197.01/0/0)` at the end of a row becomes `keepalive (*)`; the label stays, since
/// it changes only when the socket's state does. Rows without a timer are returned unchanged.
std::string maskTimer(std::string_view row);

/// Splits `text` into lines (without '\n'; a trailing empty line is dropped).
std::vector<std::string> splitLines(std::string_view text);

NetstatListing parseListing(std::string_view text);

/// Empty when `actual` shows the same listing as `expected`; otherwise a readable report:
/// header differences, then rows only in expected (`- `) and only in actual (`+ `).
std::string diffListings(std::string_view expected, std::string_view actual);

/// True when the rows of the two listings are in the same order (after masking); informative
/// only, since both read the kernel's tables in their own time.
bool sameRowOrder(std::string_view expected, std::string_view actual);

/// One block of a multi-namespace listing: its `Netns: ...` line and the listing below it.
struct NetnsBlock {
  std::string title;
  std::string text;
};

/// Splits output into blocks at lines starting with `Netns: `. Text before the first such line
/// (if any) is dropped; blank lines at the end of a block are dropped.
std::vector<NetnsBlock> splitNetnsBlocks(std::string_view text);

}  // namespace podnetstat::testing
