#pragma once

// What sock_diag tells of a TCP socket beyond its table row: struct tcp_info (INET_DIAG_INFO),
// the congestion control algorithm (INET_DIAG_CONG) and the socket's memory
// (INET_DIAG_SKMEMINFO). Plain data and a pure parser of the attributes; no I/O.
//
// struct tcp_info grows at its end with the kernel: an older kernel sends a shorter attribute, a
// newer one a longer one. The attribute is kept as sent (up to what this build knows) and a field
// is read only when the attribute reaches past its end, so a field the kernel did not send is
// absent, never zero.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace podnetstat::scanner {

/// The fields of struct tcp_info (include/uapi/linux/tcp.h), in their kernel order.
enum class TcpInfoField : std::uint8_t {
  State,
  CaState,
  Retransmits,
  Probes,
  Backoff,
  Options,
  SndWscale,
  RcvWscale,
  DeliveryRateAppLimited,
  Rto,  // microseconds
  Ato,  // microseconds
  SndMss,
  RcvMss,
  Unacked,  // a listener: its accept queue's length
  Sacked,   // a listener: its accept queue's maximum
  Lost,
  Retrans,
  Fackets,
  LastDataSent,  // milliseconds ago
  LastAckSent,
  LastDataRecv,  // milliseconds ago
  LastAckRecv,   // milliseconds ago
  Pmtu,
  RcvSsthresh,
  Rtt,     // microseconds
  Rttvar,  // microseconds
  SndSsthresh,
  SndCwnd,
  Advmss,
  Reordering,
  RcvRtt,  // microseconds
  RcvSpace,
  TotalRetrans,
  PacingRate,     // bytes per second
  MaxPacingRate,  // bytes per second
  BytesAcked,
  BytesReceived,
  SegsOut,
  SegsIn,
  NotsentBytes,
  MinRtt,  // microseconds
  DataSegsIn,
  DataSegsOut,
  DeliveryRate,   // bytes per second
  BusyTime,       // microseconds
  RwndLimited,    // microseconds
  SndbufLimited,  // microseconds
  Delivered,
  DeliveredCe,
  BytesSent,
  BytesRetrans,
  DsackDups,
  ReordSeen,
  RcvOoopack,
  SndWnd,
};

inline constexpr std::size_t kTcpInfoFieldCount = 55;

/// The largest struct tcp_info this build reads (Linux 5.12's, with snd_wnd); longer attributes
/// are cut there.
inline constexpr std::size_t kTcpInfoKnownLength = 232;

/// SK_MEMINFO_* (include/uapi/linux/sock_diag.h): what ss prints in skmem:(...).
enum class SkMemField : std::uint8_t {
  RmemAlloc,
  Rcvbuf,
  WmemAlloc,
  Sndbuf,
  FwdAlloc,
  WmemQueued,
  Optmem,
  Backlog,
  Drops,
};

inline constexpr std::size_t kSkMemFieldCount = 9;

/// One TCP socket's sock_diag details. Each part may be missing: the kernel sends no
/// INET_DIAG_INFO for request and time-wait sockets, and older kernels send fewer fields.
struct TcpDetails {
  /// The tcp_info attribute as the kernel sent it, cut at kTcpInfoKnownLength.
  std::array<std::uint8_t, kTcpInfoKnownLength> info_bytes{};
  std::uint16_t info_length = 0;  // 0: no INET_DIAG_INFO
  std::string congestion;         // empty: no INET_DIAG_CONG
  std::array<std::uint32_t, kSkMemFieldCount> skmem{};
  std::uint8_t skmem_count = 0;  // fields the INET_DIAG_SKMEMINFO attribute carried

  /// A tcp_info field, when the kernel sent it.
  std::optional<std::uint64_t> field(TcpInfoField f) const;
  /// A memory counter, when the kernel sent it.
  std::optional<std::uint32_t> memory(SkMemField f) const;

  bool hasInfo() const { return info_length > 0; }
};

/// Where a tcp_info field lies: its byte offset and size (1, 4 or 8; bit fields: size 0 and the
/// bit position in `shift`, 4 bits wide unless noted).
struct TcpInfoLayout {
  std::uint16_t offset;
  std::uint8_t size;
  std::uint8_t shift;
  std::uint8_t bits;
};

TcpInfoLayout tcpInfoLayout(TcpInfoField f);

/// Reads the attributes that follow an inet_diag_msg (a sequence of {u16 len, u16 type, payload}
/// aligned to 4 bytes) and fills INET_DIAG_INFO, INET_DIAG_CONG and INET_DIAG_SKMEMINFO into
/// `out`; other attributes are ignored. Returns false when the sequence is malformed (an
/// attribute shorter than its header or running past the end): what came before it is kept.
bool parseTcpDiagAttributes(std::string_view attrs, TcpDetails& out);

}  // namespace podnetstat::scanner
