#pragma once

// A netlink dump: one NLM_F_DUMP request and the loop that reads its answers, shared by the
// sock_diag table reader and the rtnetlink link dump. The NLMSG_*/RTA_* macros are C casts;
// the same arithmetic, typed.

#include <linux/netlink.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace podnetstat::scanner::netlink {

constexpr std::size_t align4(std::size_t n) {
  return (n + 3U) & ~std::size_t{3};
}

constexpr std::size_t kHeaderLen = align4(sizeof(nlmsghdr));

/// The payload of a message, as a T.
template <class T>
const T* payload(const nlmsghdr* h) {
  return reinterpret_cast<const T*>(reinterpret_cast<const char*>(h) + kHeaderLen);
}

/// Attribute type 16 bits, length 16 bits (struct rtattr / nlattr), then the payload.
struct Attribute {
  std::uint16_t len;
  std::uint16_t type;
};

/// Sends one dump request (`type`, body `req`) on `nl` and calls `onMessage(const nlmsghdr*)`
/// for every answer up to the end of the dump. Returns 0, or an errno: the kernel's (an error
/// message, or a DONE carrying a negative status, as a dump it has no handler for ends), or the
/// socket's. Bounded: the kernel ends every dump with DONE or an error, and each recv() carries
/// at least one message.
template <class Request, class OnMessage>
int dump(int nl, std::uint16_t type, const Request& req, OnMessage&& onMessage) {
  struct {
    nlmsghdr header;
    Request body;
  } msg{};

  msg.header.nlmsg_len = sizeof msg;
  msg.header.nlmsg_type = type;
  msg.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.header.nlmsg_seq = 1;
  msg.body = req;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(nl, &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    return errno;
  }
  thread_local std::array<char, 65536> buf;
  for (;;) {
    const ssize_t n = ::recv(nl, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    std::size_t off = 0;
    const auto len = static_cast<std::size_t>(n);
    while (off + sizeof(nlmsghdr) <= len) {
      const auto* h = reinterpret_cast<const nlmsghdr*>(buf.data() + off);
      if (h->nlmsg_len < sizeof(nlmsghdr) || off + h->nlmsg_len > len) {
        return EPROTO;
      }
      if (h->nlmsg_type == NLMSG_DONE) {
        int status = 0;
        if (h->nlmsg_len >= kHeaderLen + sizeof status) {
          std::memcpy(&status, payload<char>(h), sizeof status);
        }
        return status < 0 ? -status : 0;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* err = payload<nlmsgerr>(h);
        return err->error == 0 ? 0 : -err->error;
      }
      onMessage(h);
      off += align4(h->nlmsg_len);
    }
    if (n == 0) {
      return 0;
    }
  }
}

}  // namespace podnetstat::scanner::netlink
