/* The pod sandbox's pause process for the containerd end-to-end test: sleeps until SIGTERM or
 * SIGINT, reaps children on SIGCHLD. Built by the test with `gcc -static`. */
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

static void onTerm(int signo) {
  (void)signo;
  _exit(0);
}

static void onChild(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction sa = {0};
  sa.sa_handler = onTerm;
  if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) {
    return 1;
  }
  sa.sa_handler = onChild;
  sa.sa_flags = SA_NOCLDSTOP;
  if (sigaction(SIGCHLD, &sa, NULL) < 0) {
    return 2;
  }
  for (;;) {
    pause();
  }
}
