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

#include "sys/netlink.h"
#include "sys/netns_enter.h"
#include "sys/procfs.h"

namespace podnetstat::scanner {
namespace {

using procfs::UniqueFd;

using netlink::align4;
using netlink::Attribute;
using netlink::kHeaderLen;

constexpr std::size_t kInfoLen = align4(sizeof(ifinfomsg));

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
    return Error{"rtnetlink socket in the namespace: " + opened.error().message,
                 opened.error().kind};
  }
  const UniqueFd nl(*opened);
  ifinfomsg request{};
  request.ifi_family = AF_UNSPEC;
  std::vector<LinkAttributes> links;
  const int err = netlink::dump(nl.get(), RTM_GETLINK, request, [&](const nlmsghdr* h) {
    parseLinkMessages(std::string_view(reinterpret_cast<const char*>(h), h->nlmsg_len), links);
  });
  if (err != 0) {
    return Error{"RTM_GETLINK: " + std::string(std::strerror(err)), errorKindOfErrno(err)};
  }
  return links;
}

}  // namespace podnetstat::scanner
