#pragma once

#include <filesystem>

namespace podnetstat::testing {

/// tests/fixtures in the source tree.
inline std::filesystem::path fixturesDir() {
  return PODNETSTAT_FIXTURES_DIR;
}

/// The built podnetstat executable.
inline std::filesystem::path podnetstatBinary() {
  return PODNETSTAT_BINARY;
}

/// The built sockmaker helper (tests/support/sockmaker_main.cpp).
inline std::filesystem::path sockmakerBinary() {
  return PODNETSTAT_SOCKMAKER;
}

}  // namespace podnetstat::testing
