#pragma once

// The open-file limit a server with many connections needs.

#include <cstddef>

namespace podnetstat::agent {

/// Raises the soft RLIMIT_NOFILE to at least `wanted` (bounded by the hard limit). Returns the
/// soft limit in force afterwards.
std::size_t raiseFdLimit(std::size_t wanted);

}  // namespace podnetstat::agent
