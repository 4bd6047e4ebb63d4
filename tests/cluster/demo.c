/* The cluster suite's demo workload: one static binary, the only file of its image.
 *
 *   demo SPEC...   listen on each SPEC and serve until SIGTERM/SIGINT:
 *                    tcp:PORT   TCP on 0.0.0.0 (accepts, writes "demo\n", closes)
 *                    tcp6:PORT  TCP on :: (IPv6 only)
 *                    udp:PORT   UDP on 0.0.0.0 (reads and drops)
 *                    lo:PORT    TCP on 127.0.0.1, plus one connection to it kept open, so that
 *                               the namespace holds an ESTABLISHED pair as well
 *                    hold:PORT  TCP on 0.0.0.0, never accepted: a server that never answers
 *                               (the kernel completes up to 16 handshakes, then nothing)
 *   demo cat FILE...  print files (e.g. /proc/net/tcp from inside the pod)
 *
 * Prints "demo ready" on stdout once every socket is open. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 64

static volatile sig_atomic_t stopping;
static void on_signal(int signo) {
  (void)signo;
  stopping = 1;
}

static int cat(int argc, char **argv) {
  char buf[65536];
  for (int i = 0; i < argc; ++i) {
    FILE *f = fopen(argv[i], "r");
    if (!f) {
      fprintf(stderr, "demo cat: %s: %s\n", argv[i], strerror(errno));
      return 1;
    }
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
    fclose(f);
  }
  return 0;
}

static void die(const char *what, const char *spec) {
  fprintf(stderr, "demo: %s %s: %s\n", what, spec, strerror(errno));
  exit(1);
}

/* Opens the socket of one SPEC; returns its fd, and for lo: the connected client in *extra. */
static int open_spec(const char *spec, int *extra) {
  const char *colon = strchr(spec, ':');
  if (!colon) die("bad spec", spec);
  int port = atoi(colon + 1);
  size_t kind_len = (size_t)(colon - spec);
  int v6 = kind_len == 4 && strncmp(spec, "tcp6", 4) == 0;
  int udp = kind_len == 3 && strncmp(spec, "udp", 3) == 0;
  int lo = kind_len == 2 && strncmp(spec, "lo", 2) == 0;
  int hold = kind_len == 4 && strncmp(spec, "hold", 4) == 0;
  if (!v6 && !udp && !lo && !hold && !(kind_len == 3 && strncmp(spec, "tcp", 3) == 0))
    die("bad spec", spec);
  int fd = socket(v6 ? AF_INET6 : AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
  if (fd < 0) die("socket", spec);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_storage ss;
  socklen_t len;
  memset(&ss, 0, sizeof ss);
  if (v6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((unsigned short)port);
    a->sin6_addr = in6addr_any;
    len = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((unsigned short)port);
    a->sin_addr.s_addr = htonl(lo ? INADDR_LOOPBACK : INADDR_ANY);
    len = sizeof *a;
  }
  if (bind(fd, (struct sockaddr *)&ss, len) < 0) die("bind", spec);
  if (!udp && listen(fd, 16) < 0) die("listen", spec);
  if (lo) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&ss, len) < 0) die("connect", spec);
    *extra = c;
  }
  return fd;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "cat") == 0) return cat(argc - 2, argv + 2);
  if (argc < 2 || argc - 1 > MAX_FDS / 3) {
    fprintf(stderr, "usage: demo tcp:PORT|tcp6:PORT|udp:PORT|lo:PORT|hold:PORT... | demo cat FILE...\n");
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct pollfd fds[MAX_FDS];
  int is_udp[MAX_FDS];
  int n = 0;
  int kept[MAX_FDS]; /* connections held open: the lo: client and its accepted peer */
  int nkept = 0;
  for (int i = 1; i < argc; ++i) {
    int extra = -1;
    fds[n].fd = open_spec(argv[i], &extra);
    fds[n].events = strncmp(argv[i], "hold:", 5) == 0 ? 0 : POLLIN; /* hold: never accepted */
    is_udp[n] = strncmp(argv[i], "udp:", 4) == 0;
    ++n;
    if (extra >= 0) {
      kept[nkept++] = extra;
      int peer = accept(fds[n - 1].fd, NULL, NULL);
      if (peer < 0) die("accept", argv[i]);
      kept[nkept++] = peer;
    }
  }
  printf("demo ready\n");
  fflush(stdout);
  char buf[2048];
  while (!stopping) {
    if (poll(fds, (nfds_t)n, 1000) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      if (is_udp[i]) {
        (void)recv(fds[i].fd, buf, sizeof buf, MSG_DONTWAIT);
      } else {
        int c = accept(fds[i].fd, NULL, NULL);
        if (c >= 0) {
          (void)write(c, "demo\n", 5);
          close(c);
        }
      }
    }
  }
  for (int i = 0; i < nkept; ++i) close(kept[i]);
  return 0;
}
