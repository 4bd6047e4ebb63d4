#include "socket_zoo.h"

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_paths.h"

namespace podnetstat::testing {

using std::chrono::seconds;

SocketZoo::SocketZoo() {
  a.ip({"addr", "add", std::string(kLongV6) + "/128", "dev", "lo", "nodad"});
  veth.addBlackHole(VethPair::Side::A, "10.77.0.3", "02:00:00:00:00:03");
  veth.addBlackHole(VethPair::Side::A, "10.77.0.4", "02:00:00:00:00:04");
  veth.addBlackHole(VethPair::Side::A, "fd00:77::3", "02:00:00:00:00:05");
  // Ping sockets (which netstat does not show) need this, per namespace; fine when it fails.
  (void)a.run({"sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"});
  std::filesystem::create_directory(dir.path() / "ua");
  std::filesystem::create_directory(dir.path() / "ub");
  const auto long_name = dir.path() / kLongProgram;
  std::filesystem::create_symlink(sockmakerBinary(), long_name);

  const VethAddresses& ip = veth.addresses();
  maker_a = std::make_unique<Sockmaker>(
      a,
      std::vector<std::string>{"--lifetime", "150", "--unix-dir", (dir.path() / "ua").string(),
                               "--listen-v4", ip.a_v4, "--listen-v6", ip.a_v6, "--blackhole-v4",
                               "10.77.0.3", "--blackhole-v6", "fd00:77::3", "--spoof-syn-from",
                               "10.77.0.4", "--long-v6", kLongV6},
      long_name);
  maker_b = std::make_unique<Sockmaker>(
      b,
      std::vector<std::string>{"--lifetime", "150", "--unix-dir", (dir.path() / "ub").string(),
                               "--peer-v4", ip.a_v4, "--peer-v6", ip.a_v6, "--listen-v4", ip.b_v4});
  if (!maker_a->waitFor("tcp4-est-xns-accepted", 1, seconds(10)) ||
      !maker_a->waitFor("tcp6-est-xns-accepted", 1, seconds(10))) {
    throw std::runtime_error("sockmaker in A did not accept B's connections");
  }
  udplite = maker_a->find("udplite4-bound-lo") != nullptr;
}

}  // namespace podnetstat::testing
