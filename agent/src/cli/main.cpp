// podnetstat: which pod, and which process in it, holds which socket.

#include <cstdio>
#include <cstring>
#include <exception>

#include "podnetstat/agent/cli/commands.h"

namespace {

constexpr const char* kUsage =
    "usage: podnetstat <command> [options]\n"
    "\n"
    "commands:\n"
    "  list     print socket tables like net-tools netstat, for one or every network namespace\n"
    "  serve    run the agent: a REST/JSON API over an always-fresh scan\n"
    "  version  print the version\n"
    "\n"
    "Run 'podnetstat <command> --help' for a command's options.\n";

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) {
      std::fputs(kUsage, stderr);
      return 2;
    }
    const char* command = argv[1];
    if (std::strcmp(command, "list") == 0) {
      return podnetstat::agent::runList(argc - 1, argv + 1);
    }
    if (std::strcmp(command, "serve") == 0) {
      return podnetstat::agent::runServe(argc - 1, argv + 1);
    }
    if (std::strcmp(command, "version") == 0 || std::strcmp(command, "--version") == 0) {
      std::printf("podnetstat %s\n", PODNETSTAT_VERSION);
      return 0;
    }
    if (std::strcmp(command, "--help") == 0 || std::strcmp(command, "-h") == 0 ||
        std::strcmp(command, "help") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::fprintf(stderr, "podnetstat: unknown command '%s'\n\n%s", command, kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "podnetstat: %s\n", e.what());
    return 1;
  }
}
