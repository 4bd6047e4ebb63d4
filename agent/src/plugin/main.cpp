// kubectl-podnetstat: the kubectl plugin (`kubectl podnetstat ...`). A kubectl plugin is any
// executable of that name on $PATH; kubectl runs it with the arguments after the plugin's name.

#include <cstdio>
#include <exception>

#include "podnetstat/agent/plugin/child_process.h"
#include "podnetstat/agent/plugin/plugin_command.h"

int main(int argc, char** argv) {
  try {
    // First, before any other thread: the signal mask every thread inherits.
    podnetstat::agent::plugin::installInterruptHandler();
    return podnetstat::agent::plugin::runPlugin(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
