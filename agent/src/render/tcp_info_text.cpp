#include "podnetstat/agent/render/tcp_info_text.h"

#include <cinttypes>
#include <cstdio>
#include <optional>

namespace podnetstat::agent {
namespace {

using scanner::TcpDetails;
using scanner::TcpInfoField;

// The tcpi_options bit of window scaling (include/uapi/linux/tcp.h: TCPI_OPT_WSCALE).
constexpr std::uint64_t kOptWscale = 4;

/// ss's `%g` of microseconds as milliseconds.
void appendMs(std::string& out, const char* name, std::uint64_t usec) {
  char buf[64];
  std::snprintf(buf, sizeof buf, " %s:%g", name, static_cast<double>(usec) / 1000.0);
  out += buf;
}

void appendUint(std::string& out, const char* name, std::uint64_t v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, " %s:%" PRIu64, name, v);
  out += buf;
}

/// ss -n's bandwidth: `%.0f` bits per second.
void appendBps(std::string& out, double bps) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0fbps", bps);
  out += buf;
}

std::uint64_t get(const TcpDetails& d, TcpInfoField f) {
  return d.field(f).value_or(0);
}

/// The words of tcp_stats_print, each only when ss would print it (mostly: when non-zero).
void appendWords(std::string& out, const TcpDetails& d, bool listening) {
  // ts, sack, ecn, ecnseen and fastopen come first with -o or -e, not with -tin.
  const std::uint64_t options = get(d, TcpInfoField::Options);
  if (!d.congestion.empty()) {
    out += ' ';
    out += d.congestion;
  }
  if ((options & kOptWscale) != 0) {
    out += " wscale:" + std::to_string(get(d, TcpInfoField::SndWscale)) + "," +
           std::to_string(get(d, TcpInfoField::RcvWscale));
  }
  const std::uint64_t rto = get(d, TcpInfoField::Rto);
  if (rto != 0 && rto != 3'000'000) {  // ss leaves out the initial 3 s
    appendMs(out, "rto", rto);
  }
  if (const auto backoff = get(d, TcpInfoField::Backoff); backoff != 0) {
    appendUint(out, "backoff", backoff);
  }
  const std::uint64_t rtt = get(d, TcpInfoField::Rtt);
  if (rtt != 0) {
    char buf[96];
    std::snprintf(buf, sizeof buf, " rtt:%g/%g", static_cast<double>(rtt) / 1000.0,
                  static_cast<double>(get(d, TcpInfoField::Rttvar)) / 1000.0);
    out += buf;
  }
  if (const auto ato = get(d, TcpInfoField::Ato); ato != 0) {
    appendMs(out, "ato", ato);
  }
  const std::uint64_t mss = get(d, TcpInfoField::SndMss);
  const std::uint64_t cwnd = get(d, TcpInfoField::SndCwnd);
  for (auto [field, name] :
       {std::pair{TcpInfoField::SndMss, "mss"}, std::pair{TcpInfoField::Pmtu, "pmtu"},
        std::pair{TcpInfoField::RcvMss, "rcvmss"}, std::pair{TcpInfoField::Advmss, "advmss"},
        std::pair{TcpInfoField::SndCwnd, "cwnd"}}) {
    if (const auto v = get(d, field); v != 0) {
      appendUint(out, name, v);
    }
  }
  if (const auto ssthresh = get(d, TcpInfoField::SndSsthresh); ssthresh != 0 && ssthresh < 0xFFFF) {
    appendUint(out, "ssthresh", ssthresh);
  }
  for (auto [field, name] :
       {std::pair{TcpInfoField::BytesSent, "bytes_sent"},
        std::pair{TcpInfoField::BytesRetrans, "bytes_retrans"},
        std::pair{TcpInfoField::BytesAcked, "bytes_acked"},
        std::pair{TcpInfoField::BytesReceived, "bytes_received"},
        std::pair{TcpInfoField::SegsOut, "segs_out"}, std::pair{TcpInfoField::SegsIn, "segs_in"},
        std::pair{TcpInfoField::DataSegsOut, "data_segs_out"},
        std::pair{TcpInfoField::DataSegsIn, "data_segs_in"}}) {
    if (const auto v = get(d, field); v != 0) {
      appendUint(out, name, v);
    }
  }
  if (rtt != 0 && mss != 0 && cwnd != 0) {
    out += " send ";
    appendBps(out, static_cast<double>(cwnd) * static_cast<double>(mss) * 8'000'000.0 /
                       static_cast<double>(rtt));
  }
  for (auto [field, name] : {std::pair{TcpInfoField::LastDataSent, "lastsnd"},
                             std::pair{TcpInfoField::LastDataRecv, "lastrcv"},
                             std::pair{TcpInfoField::LastAckRecv, "lastack"}}) {
    if (const auto v = get(d, field); v != 0) {
      appendUint(out, name, v);
    }
  }
  const auto pacing = d.field(TcpInfoField::PacingRate);
  if (pacing && *pacing != ~std::uint64_t{0} && *pacing != 0) {
    out += " pacing_rate ";
    appendBps(out, static_cast<double>(*pacing) * 8.0);
    const auto max = get(d, TcpInfoField::MaxPacingRate);
    if (max != ~std::uint64_t{0} && max != 0) {
      out += '/';
      appendBps(out, static_cast<double>(max) * 8.0);
    }
  }
  if (const auto v = get(d, TcpInfoField::DeliveryRate); v != 0) {
    out += " delivery_rate ";
    appendBps(out, static_cast<double>(v) * 8.0);
  }
  if (const auto v = get(d, TcpInfoField::Delivered); v != 0) {
    appendUint(out, "delivered", v);
  }
  if (const auto v = get(d, TcpInfoField::DeliveredCe); v != 0) {
    appendUint(out, "delivered_ce", v);
  }
  if (get(d, TcpInfoField::DeliveryRateAppLimited) != 0) {
    out += " app_limited";
  }
  if (const auto busy = get(d, TcpInfoField::BusyTime); busy != 0) {
    out += " busy:" + std::to_string(busy / 1000) + "ms";
    for (auto [field, name] : {std::pair{TcpInfoField::RwndLimited, "rwnd_limited"},
                               std::pair{TcpInfoField::SndbufLimited, "sndbuf_limited"}}) {
      if (const auto v = get(d, field); v != 0) {
        char buf[96];
        std::snprintf(buf, sizeof buf, " %s:%" PRIu64 "ms(%.1f%%)", name, v / 1000,
                      100.0 * static_cast<double>(v) / static_cast<double>(busy));
        out += buf;
      }
    }
  }
  if (const auto v = get(d, TcpInfoField::Unacked); v != 0) {
    appendUint(out, "unacked", v);
  }
  const auto retrans = get(d, TcpInfoField::Retrans);
  const auto total_retrans = get(d, TcpInfoField::TotalRetrans);
  if (retrans != 0 || total_retrans != 0) {
    out += " retrans:" + std::to_string(retrans) + "/" + std::to_string(total_retrans);
  }
  if (const auto v = get(d, TcpInfoField::Lost); v != 0) {
    appendUint(out, "lost", v);
  }
  if (const auto v = get(d, TcpInfoField::Sacked); v != 0 && !listening) {
    appendUint(out, "sacked", v);
  }
  for (auto [field, name] : {std::pair{TcpInfoField::DsackDups, "dsack_dups"},
                             std::pair{TcpInfoField::Fackets, "fackets"}}) {
    if (const auto v = get(d, field); v != 0) {
      appendUint(out, name, v);
    }
  }
  if (const auto v = d.field(TcpInfoField::Reordering); v && *v != 3) {
    appendUint(out, "reordering", *v);
  }
  if (const auto v = get(d, TcpInfoField::ReordSeen); v != 0) {
    appendUint(out, "reord_seen", v);
  }
  if (const auto v = get(d, TcpInfoField::RcvRtt); v != 0) {
    appendMs(out, "rcv_rtt", v);
  }
  for (auto [field, name] : {std::pair{TcpInfoField::RcvSpace, "rcv_space"},
                             std::pair{TcpInfoField::RcvSsthresh, "rcv_ssthresh"},
                             std::pair{TcpInfoField::NotsentBytes, "notsent"}}) {
    if (const auto v = get(d, field); v != 0) {
      appendUint(out, name, v);
    }
  }
  if (const auto v = get(d, TcpInfoField::MinRtt); v != 0) {
    appendMs(out, "minrtt", v);
  }
  for (auto [field, name] : {std::pair{TcpInfoField::RcvOoopack, "rcv_ooopack"},
                             std::pair{TcpInfoField::SndWnd, "snd_wnd"}}) {
    if (const auto v = get(d, field); v != 0) {
      appendUint(out, name, v);
    }
  }
}

}  // namespace

void appendSsTcpInfoLine(std::string& out, const scanner::Socket& s) {
  if (!s.tcp || !s.tcp->hasInfo()) {
    return;
  }
  out += '\t';
  appendWords(out, *s.tcp, s.state == static_cast<std::uint8_t>(scanner::TcpState::Listen));
  out += '\n';
}

}  // namespace podnetstat::agent
