// sockfill: fills the network namespace it runs in with sockets for the benchmark, then holds
// them until SIGTERM (or --lifetime seconds). All traffic stays on 127.0.0.1.
//
//   sockfill --listeners N --pairs N --timewait N --udp N --procs N --lifetime S
//
// Prints "READY <pid>" on stdout when every socket exists.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Options {
  int listeners = 0;
  int pairs = 0;
  int timewait = 0;
  int udp = 0;
  int procs = 1;
  int lifetime = 600;
};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "sockfill: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int listener(std::uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    die("socket");
  }
  sockaddr_in a = loopback(0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 128) != 0) {
    die("bind/listen");
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

/// A connected pair over loopback: {client, accepted}.
std::pair<int, int> connectedPair(int listen_fd, std::uint16_t port) {
  const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = loopback(port);
  if (c < 0 || ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    die("connect");
  }
  const int s = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (s < 0) {
    die("accept");
  }
  return {c, s};
}

int parseInt(const char* s) {
  return static_cast<int>(std::strtol(s, nullptr, 10));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int v = parseInt(argv[i + 1]);
    if (flag == "--listeners") {
      o.listeners = v;
    } else if (flag == "--pairs") {
      o.pairs = v;
    } else if (flag == "--timewait") {
      o.timewait = v;
    } else if (flag == "--udp") {
      o.udp = v;
    } else if (flag == "--procs") {
      o.procs = v < 1 ? 1 : v;
    } else if (flag == "--lifetime") {
      o.lifetime = v;
    } else {
      std::fprintf(stderr, "sockfill: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &nofile);

  std::vector<int> fds;
  std::uint16_t port = 0;
  int hub = -1;  // accepts the pairs and the time-wait connections
  if (o.listeners > 0 || o.pairs > 0 || o.timewait > 0) {
    hub = listener(&port);
    fds.push_back(hub);
  }
  for (int i = 1; i < o.listeners; ++i) {
    std::uint16_t p = 0;
    fds.push_back(listener(&p));
  }
  for (int i = 0; i < o.pairs; ++i) {
    auto [c, s] = connectedPair(hub, port);
    fds.push_back(c);
    fds.push_back(s);
  }
  for (int i = 0; i < o.timewait; ++i) {
    auto [c, s] = connectedPair(hub, port);
    ::close(c);  // the active closer keeps TIME_WAIT for 60 s
    ::close(s);
  }
  for (int i = 0; i < o.udp; ++i) {
    const int u = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = loopback(0);
    if (u < 0 || ::bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      die("udp");
    }
    fds.push_back(u);
  }
  // Spread the sockets over `procs` processes: child k keeps every procs-th fd from k on.
  const pid_t parent = ::getpid();
  int rank = 0;
  for (int k = 1; k < o.procs; ++k) {
    const pid_t child = ::fork();
    if (child < 0) {
      die("fork");
    }
    if (child == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) {
        std::_Exit(0);
      }
      rank = k;
      break;
    }
  }
  if (o.procs > 1) {
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (static_cast<int>(i % static_cast<std::size_t>(o.procs)) != rank) {
        ::close(fds[i]);
      }
    }
  }
  if (rank == 0) {
    std::printf("READY %d\n", static_cast<int>(::getpid()));
    std::fflush(stdout);
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  timespec limit{o.lifetime, 0};
  ::sigtimedwait(&set, nullptr, &limit);
  return 0;  // children die with the parent (PR_SET_PDEATHSIG)
}
