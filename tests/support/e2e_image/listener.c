/* A socket holder for the containerd end-to-end test, run as a container of a pod or as a
 * helper moved into a pod's cgroup. Usage: listener PORT [ADDRESS] (PORT 0: any port; ADDRESS:
 * an IPv4 address to bind, 0.0.0.0 by default). It opens
 *   - a TCP listener on ADDRESS:PORT,
 *   - a connection to it (both ends, ESTABLISHED, held by this process),
 *   - a UDP socket on ADDRESS:PORT+1 (any port when PORT is 0),
 * prints `READY <tcp port> <udp port>` and sleeps until SIGTERM/SIGINT. Built with
 * `gcc -static`. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void onTerm(int signo) {
  (void)signo;
  _exit(0);
}

static int fail(const char* what) {
  perror(what);
  return 1;
}

static unsigned short portOf(int fd) {
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  if (getsockname(fd, (struct sockaddr*)&addr, &len) < 0) {
    return 0;
  }
  return ntohs(addr.sin_port);
}

static struct in_addr bind_address;

static int bound(int type, unsigned short port) {
  int fd = socket(AF_INET, type, 0);
  int one = 1;
  struct sockaddr_in addr;
  if (fd < 0) {
    return -1;
  }
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr = bind_address;
  if (bind(fd, (struct sockaddr*)&addr, sizeof addr) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int main(int argc, char** argv) {
  struct sigaction sa;
  struct sockaddr_in peer;
  unsigned short port = argc > 1 ? (unsigned short)atoi(argv[1]) : 0;
  int listener, client, server, udp;

  bind_address.s_addr = htonl(INADDR_ANY);
  if (argc > 2 && inet_pton(AF_INET, argv[2], &bind_address) != 1) {
    fprintf(stderr, "listener: bad address %s\n", argv[2]);
    return 2;
  }
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = onTerm;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  listener = bound(SOCK_STREAM, port);
  if (listener < 0 || listen(listener, 16) < 0) {
    return fail("tcp listen");
  }
  client = socket(AF_INET, SOCK_STREAM, 0);
  memset(&peer, 0, sizeof peer);
  peer.sin_family = AF_INET;
  peer.sin_port = htons(portOf(listener));
  peer.sin_addr.s_addr =
      bind_address.s_addr == htonl(INADDR_ANY) ? htonl(INADDR_LOOPBACK) : bind_address.s_addr;
  if (client < 0 || connect(client, (struct sockaddr*)&peer, sizeof peer) < 0) {
    return fail("tcp connect");
  }
  server = accept(listener, NULL, NULL);
  if (server < 0) {
    return fail("tcp accept");
  }
  udp = bound(SOCK_DGRAM, port == 0 ? 0 : (unsigned short)(port + 1));
  if (udp < 0) {
    return fail("udp bind");
  }
  printf("READY %u %u\n", portOf(listener), portOf(udp));
  fflush(stdout);
  for (;;) {
    pause();
  }
}
