#include "podnetstat/agent/http/fd_limit.h"

#include <sys/resource.h>

namespace podnetstat::agent {

std::size_t raiseFdLimit(std::size_t wanted) {
  struct rlimit lim {};

  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    return wanted;
  }
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < wanted) {
    rlim_t target = wanted;
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < target) {
      target = lim.rlim_max;
    }
    struct rlimit raised = lim;
    raised.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      lim = raised;
    }
  }
  return lim.rlim_cur == RLIM_INFINITY ? wanted : static_cast<std::size_t>(lim.rlim_cur);
}

}  // namespace podnetstat::agent
