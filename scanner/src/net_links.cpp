// MTU and flags of a namespace's interfaces: an RTM_GETLINK dump (rtnetlink) over a socket made
// inside the namespace. netstat -i asks the same through SIOCGIFMTU/SIOCGIFFLAGS on a socket of
// the namespace; both read dev->mtu and dev_get_flags().

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "podnetstat/scanner/net_stats.h"

#include "sys/netns_enter.h"
#include "sys/procfs.h"

namespace podnetstat::scanner {
namespace {

using procfs::UniqueFd;

// The NLMSG_*/RTA_* macros are C casts; the same arithmetic, typed.
constexpr std::size_t align4(std::size_t n) {
  return (n + 3U) & ~std::size_t{3};
}

constexpr std::size_t kHeaderLen = align4(sizeof(nlmsghdr));
constexpr std::size_t kInfoLen = align4(sizeof(ifinfomsg));

struct Attribute {
  std::uint16_t len;
  std::uint16_t type;
};

/// One RTM_NEWLINK payload (ifinfomsg + attributes); false when it names no interface.
bool parseLink(std::string_view payload, LinkAttributes& link) {
  ifinfomsg info{};
  std::memcpy(&info, payload.data(), sizeof info);
  link.index = info.ifi_index;
  link.flags = info.ifi_flags;
  bool named = false;
  for (std::size_t off = kInfoLen; off + sizeof(Attribute) <= payload.size();) {
    Attribute a{};
    std::memcpy(&a, payload.data() + off, sizeof a);
    if (a.len < sizeof a || off + a.len > payload.size()) {
      break;
    }
    const std::string_view value = payload.substr(off + align4(sizeof a), a.len - sizeof a);
    off += align4(a.len);
    if (a.type == IFLA_IFNAME) {
      link.name.assign(value.substr(0, value.find('\0')));
      named = !link.name.empty();
    } else if (a.type == IFLA_MTU && value.size() >= sizeof link.mtu) {
      std::memcpy(&link.mtu, value.data(), sizeof link.mtu);
      link.has_mtu = true;
    }
  }
  return named;
}

}  // namespace

ParseCounts parseLinkMessages(std::string_view bytes, std::vector<LinkAttributes>& out) {
  ParseCounts counts;
  std::size_t off = 0;
  while (off + sizeof(nlmsghdr) <= bytes.size()) {
    nlmsghdr h{};
    std::memcpy(&h, bytes.data() + off, sizeof h);
    if (h.nlmsg_len < sizeof(nlmsghdr) || off + h.nlmsg_len > bytes.size()) {
      ++counts.skipped;  // a broken frame: nothing after it can be trusted
      break;
    }
    const std::string_view message = bytes.substr(off, h.nlmsg_len);
    off += align4(h.nlmsg_len);
    if (h.nlmsg_type != RTM_NEWLINK) {
      continue;
    }
    if (message.size() < kHeaderLen + sizeof(ifinfomsg)) {
      ++counts.skipped;
      continue;
    }
    LinkAttributes link;
    if (!parseLink(message.substr(kHeaderLen), link)) {
      ++counts.skipped;
      continue;
    }
    out.push_back(std::move(link));
    ++counts.rows;
  }
  return counts;
}

Result<std::vector<LinkAttributes>> readLinks(const Roots& roots, const NetNamespace& ns) {
  const UniqueFd proc(procfs::openDir(AT_FDCWD, roots.proc.c_str()));
  auto opened = openInNamespace(proc.get(), roots.netns_dir, ns, [] {
    return ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  });
  if (!opened) {
    return Error{"rtnetlink socket in the namespace: " + opened.error().message};
  }
  const UniqueFd nl(*opened);

  struct {
    nlmsghdr header;
    ifinfomsg body;
  } request{};

  request.header.nlmsg_len = sizeof request;
  request.header.nlmsg_type = RTM_GETLINK;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.header.nlmsg_seq = 1;
  request.body.ifi_family = AF_UNSPEC;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(nl.get(), &request, sizeof request, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) < 0) {
    return Error{"RTM_GETLINK: " + std::string(std::strerror(errno))};
  }
  std::vector<LinkAttributes> links;
  thread_local std::array<char, 65536> buf;
  // Bounded: the kernel ends every dump with NLMSG_DONE (or an error), and each recv() carries
  // at least one message.
  for (;;) {
    const ssize_t n = ::recv(nl.get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Error{"RTM_GETLINK: " + std::string(std::strerror(errno))};
    }
    if (n == 0) {
      return links;
    }
    const std::string_view bytes(buf.data(), static_cast<std::size_t>(n));
    // The end of the dump (DONE or an error) comes last in its datagram.
    bool done = false;
    int status = 0;
    for (std::size_t off = 0; off + sizeof(nlmsghdr) <= bytes.size();) {
      nlmsghdr h{};
      std::memcpy(&h, bytes.data() + off, sizeof h);
      if (h.nlmsg_len < sizeof(nlmsghdr) || off + h.nlmsg_len > bytes.size()) {
        break;
      }
      if (h.nlmsg_type == NLMSG_DONE) {
        done = true;
      } else if (h.nlmsg_type == NLMSG_ERROR) {
        done = true;
        if (h.nlmsg_len >= kHeaderLen + sizeof(nlmsgerr)) {
          nlmsgerr e{};
          std::memcpy(&e, bytes.data() + off + kHeaderLen, sizeof e);
          status = e.error;
        }
      }
      off += align4(h.nlmsg_len);
    }
    parseLinkMessages(bytes, links);
    if (status != 0) {
      return Error{"RTM_GETLINK: " + std::string(std::strerror(-status))};
    }
    if (done) {
      return links;
    }
  }
}

}  // namespace podnetstat::scanner
