#pragma once

// JSON of the API objects, written straight into a string (no document tree), so that large
// answers can be produced piece by piece. Shapes: DESIGN.md "REST API".

#include <string>
#include <string_view>

#include "podnetstat/scanner/model.h"

namespace podnetstat::agent {

/// Appends `text` as a JSON string literal (quotes included), escaping as RFC 8259 requires.
/// Invalid UTF-8 bytes are replaced by U+FFFD so the output is always valid JSON.
void appendJsonString(std::string& out, std::string_view text);

/// Appends the socket object of DESIGN.md for `s`, with every owner and its namespace.
void appendSocketJson(std::string& out, const scanner::Socket& s, const scanner::ScanResult& scan);

}  // namespace podnetstat::agent
