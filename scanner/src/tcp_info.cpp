// struct tcp_info read by its length. The layout is the kernel's ABI (fields are only ever
// appended), written here as data so that a build on older headers still reads a newer kernel's
// fields; where this build's <linux/tcp.h> has a field, the offset is checked against it.

#include "podnetstat/scanner/tcp_info.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/tcp.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace podnetstat::scanner {
namespace {

constexpr std::array<TcpInfoLayout, kTcpInfoFieldCount> kLayout = {{
    {0, 1, 0, 0},    // state
    {1, 1, 0, 0},    // ca_state
    {2, 1, 0, 0},    // retransmits
    {3, 1, 0, 0},    // probes
    {4, 1, 0, 0},    // backoff
    {5, 1, 0, 0},    // options
    {6, 0, 0, 4},    // snd_wscale : 4
    {6, 0, 4, 4},    // rcv_wscale : 4
    {7, 0, 0, 1},    // delivery_rate_app_limited : 1
    {8, 4, 0, 0},    // rto
    {12, 4, 0, 0},   // ato
    {16, 4, 0, 0},   // snd_mss
    {20, 4, 0, 0},   // rcv_mss
    {24, 4, 0, 0},   // unacked
    {28, 4, 0, 0},   // sacked
    {32, 4, 0, 0},   // lost
    {36, 4, 0, 0},   // retrans
    {40, 4, 0, 0},   // fackets
    {44, 4, 0, 0},   // last_data_sent
    {48, 4, 0, 0},   // last_ack_sent
    {52, 4, 0, 0},   // last_data_recv
    {56, 4, 0, 0},   // last_ack_recv
    {60, 4, 0, 0},   // pmtu
    {64, 4, 0, 0},   // rcv_ssthresh
    {68, 4, 0, 0},   // rtt
    {72, 4, 0, 0},   // rttvar
    {76, 4, 0, 0},   // snd_ssthresh
    {80, 4, 0, 0},   // snd_cwnd
    {84, 4, 0, 0},   // advmss
    {88, 4, 0, 0},   // reordering
    {92, 4, 0, 0},   // rcv_rtt
    {96, 4, 0, 0},   // rcv_space
    {100, 4, 0, 0},  // total_retrans
    {104, 8, 0, 0},  // pacing_rate
    {112, 8, 0, 0},  // max_pacing_rate
    {120, 8, 0, 0},  // bytes_acked
    {128, 8, 0, 0},  // bytes_received
    {136, 4, 0, 0},  // segs_out
    {140, 4, 0, 0},  // segs_in
    {144, 4, 0, 0},  // notsent_bytes
    {148, 4, 0, 0},  // min_rtt
    {152, 4, 0, 0},  // data_segs_in
    {156, 4, 0, 0},  // data_segs_out
    {160, 8, 0, 0},  // delivery_rate
    {168, 8, 0, 0},  // busy_time
    {176, 8, 0, 0},  // rwnd_limited
    {184, 8, 0, 0},  // sndbuf_limited
    {192, 4, 0, 0},  // delivered
    {196, 4, 0, 0},  // delivered_ce
    {200, 8, 0, 0},  // bytes_sent
    {208, 8, 0, 0},  // bytes_retrans
    {216, 4, 0, 0},  // dsack_dups
    {220, 4, 0, 0},  // reord_seen
    {224, 4, 0, 0},  // rcv_ooopack
    {228, 4, 0, 0},  // snd_wnd
}};

constexpr std::uint16_t offsetOf(TcpInfoField f) {
  return kLayout[static_cast<std::size_t>(f)].offset;
}

static_assert(offsetOf(TcpInfoField::Rto) == offsetof(tcp_info, tcpi_rto));
static_assert(offsetOf(TcpInfoField::Rtt) == offsetof(tcp_info, tcpi_rtt));
static_assert(offsetOf(TcpInfoField::TotalRetrans) == offsetof(tcp_info, tcpi_total_retrans));
static_assert(offsetOf(TcpInfoField::PacingRate) == offsetof(tcp_info, tcpi_pacing_rate));
static_assert(offsetOf(TcpInfoField::BytesAcked) == offsetof(tcp_info, tcpi_bytes_acked));
static_assert(offsetOf(TcpInfoField::SegsOut) == offsetof(tcp_info, tcpi_segs_out));
static_assert(offsetOf(TcpInfoField::MinRtt) == offsetof(tcp_info, tcpi_min_rtt));
static_assert(offsetOf(TcpInfoField::DeliveryRate) == offsetof(tcp_info, tcpi_delivery_rate));
static_assert(offsetOf(TcpInfoField::SndbufLimited) == offsetof(tcp_info, tcpi_sndbuf_limited));
static_assert(offsetOf(TcpInfoField::BytesSent) == offsetof(tcp_info, tcpi_bytes_sent));
static_assert(offsetOf(TcpInfoField::SndWnd) == offsetof(tcp_info, tcpi_snd_wnd));
static_assert(kTcpInfoKnownLength == offsetOf(TcpInfoField::SndWnd) + 4);
static_assert(kLayout.size() == static_cast<std::size_t>(TcpInfoField::SndWnd) + 1);

template <class T>
T readAt(const std::uint8_t* bytes) {
  T v{};
  std::memcpy(&v, bytes, sizeof v);
  return v;
}

struct AttributeHeader {
  std::uint16_t len;
  std::uint16_t type;
};

constexpr std::size_t align4(std::size_t n) {
  return (n + 3U) & ~std::size_t{3};
}

void takeInfo(std::string_view payload, TcpDetails& out) {
  const std::size_t n = std::min(payload.size(), kTcpInfoKnownLength);
  out.info_bytes = {};
  std::memcpy(out.info_bytes.data(), payload.data(), n);
  out.info_length = static_cast<std::uint16_t>(n);
}

void takeCongestion(std::string_view payload, TcpDetails& out) {
  // A NUL-terminated name (TCP_CA_NAME_MAX, 16 bytes); cut at the first NUL.
  out.congestion.assign(payload.substr(0, payload.find('\0')));
}

void takeMemory(std::string_view payload, TcpDetails& out) {
  const std::size_t n = std::min(payload.size() / sizeof(std::uint32_t), kSkMemFieldCount);
  out.skmem = {};
  std::memcpy(out.skmem.data(), payload.data(), n * sizeof(std::uint32_t));
  out.skmem_count = static_cast<std::uint8_t>(n);
}

}  // namespace

TcpInfoLayout tcpInfoLayout(TcpInfoField f) {
  return kLayout[static_cast<std::size_t>(f)];
}

std::optional<std::uint64_t> TcpDetails::field(TcpInfoField f) const {
  const TcpInfoLayout at = tcpInfoLayout(f);
  const std::size_t width = at.size == 0 ? 1 : at.size;
  if (at.offset + width > info_length) {
    return std::nullopt;
  }
  const std::uint8_t* p = info_bytes.data() + at.offset;
  switch (at.size) {
    case 0:
      return (*p >> at.shift) & ((1U << at.bits) - 1U);
    case 1:
      return *p;
    case 4:
      return readAt<std::uint32_t>(p);
    default:
      return readAt<std::uint64_t>(p);
  }
}

std::optional<std::uint32_t> TcpDetails::memory(SkMemField f) const {
  const auto i = static_cast<std::size_t>(f);
  if (i >= skmem_count) {
    return std::nullopt;
  }
  return skmem[i];
}

bool parseTcpDiagAttributes(std::string_view attrs, TcpDetails& out) {
  for (std::size_t off = 0; off < attrs.size();) {
    if (attrs.size() - off < sizeof(AttributeHeader)) {
      return false;
    }
    AttributeHeader a{};
    std::memcpy(&a, attrs.data() + off, sizeof a);
    if (a.len < sizeof a || a.len > attrs.size() - off) {
      return false;
    }
    const std::string_view payload = attrs.substr(off + sizeof a, a.len - sizeof a);
    switch (a.type & NLA_TYPE_MASK) {
      case INET_DIAG_INFO:
        takeInfo(payload, out);
        break;
      case INET_DIAG_CONG:
        takeCongestion(payload, out);
        break;
      case INET_DIAG_SKMEMINFO:
        takeMemory(payload, out);
        break;
      default:
        break;
    }
    off += align4(a.len);
  }
  return true;
}

}  // namespace podnetstat::scanner
