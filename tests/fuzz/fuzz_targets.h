#pragma once

// The bodies of the libFuzzer targets, one per parser. Each <name>_fuzz.cpp defines its body
// and, unless PODNETSTAT_FUZZ_NO_ENTRY is set, the LLVMFuzzerTestOneInput that calls it. The
// regression test (tests/fuzz/fuzz_regressions_test.cpp) compiles the same files without the
// entry points and replays tests/fuzz/regressions/<name>/ and tests/fuzz/corpus/<name>/ through
// these bodies, so a crasher found once stays covered in the normal suite.
//
// A body must not crash, hang, leak or trip a sanitizer on any input; it checks the few
// invariants the parsers promise (and aborts when one breaks, so the fuzzer reports it).

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace podnetstat::fuzz {

/// proc_net: byte 0 picks the transport (modulo 9, in kAllTransports order), the rest is the
/// text of a /proc/net table.
void fuzzProcNet(std::string_view input);

/// net_stats: byte 0 picks the parser (modulo 8: dev, route, ipv6_route, snmp/netstat pairs,
/// snmp6, igmp, igmp6, RTM_NEWLINK messages), the rest is its input.
void fuzzNetStats(std::string_view input);

/// tcp_info: the attributes after an inet_diag_msg (tcp_info, congestion, socket memory).
void fuzzTcpInfo(std::string_view input);

/// cgroup: the content of /proc/<pid>/cgroup, also tried as a single cgroup path and a pod UID.
void fuzzCgroup(std::string_view input);

/// pod_list: a kubelet /pods body.
void fuzzPodList(std::string_view input);

/// cri_info: the info JSON of a sandbox and of a container, bare and inside the verbose map
/// (under "info", and under the legacy "pid").
void fuzzCriInfo(std::string_view input);

/// api_query: a query string: percent-decoding, splitting, socket list and plain parameters.
void fuzzApiQuery(std::string_view input);

/// api_handler: "<METHOD> <target>" (split at the first blank; no blank: GET <input>) sent to the
/// API handler and to the health-only handler over a small hand-made snapshot; streamed bodies
/// are drained.
void fuzzApiHandler(std::string_view input);

inline std::string_view asView(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace podnetstat::fuzz

#ifndef PODNETSTAT_FUZZ_NO_ENTRY
/// Defines the libFuzzer entry point of a target from its body.
#define PODNETSTAT_FUZZ_ENTRY(body)                                                   \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
    body(podnetstat::fuzz::asView(data, size));                                       \
    return 0;                                                                         \
  }
#else
#define PODNETSTAT_FUZZ_ENTRY(body)
#endif
