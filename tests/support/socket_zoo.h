#pragma once

// The live test bed shared by the agent and scanner live tests: two namespaces A and B joined by
// a veth pair, with sockmaker running in each.
//   A: lo also has a 38-character IPv6 address (cut without -W), black-holed neighbours
//      10.77.0.3, 10.77.0.4 and fd00:77::3 (SYN_SENT, SYN_RECV hold), ping sockets allowed;
//      sockmaker runs under a long argv[0] (netstat cuts `PID/Program name` to 19 characters)
//      and listens on the veth for B.
//   B: sockmaker connects to A over the veth (IPv4 and IPv6).
// Members are destroyed in reverse order: processes, then veth, namespaces, directory.

#include <memory>

#include "netns.h"
#include "sockmaker.h"

namespace podnetstat::testing {

struct SocketZoo {
  static constexpr const char* kLongV6 = "2001:db8:abcd:1234:5678:9abc:def0:1234";
  static constexpr const char* kLongProgram = "podnetstat-sockmaker-long-name";

  /// Builds everything and waits until A has accepted B's connections. Throws on failure
  /// (whatever was built so far is removed again).
  SocketZoo();

  ScratchDir dir{"podnetstat-live-"};
  NetNamespace a{"pnsa"};
  NetNamespace b{"pnsb"};
  VethPair veth{a, b};
  std::unique_ptr<Sockmaker> maker_a;
  std::unique_ptr<Sockmaker> maker_b;
  bool udplite = false;  // the kernel has UDP-Lite and sockmaker made such sockets
};

}  // namespace podnetstat::testing
