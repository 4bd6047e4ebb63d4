#pragma once

// The subcommands of the podnetstat executable. Each parses its own arguments (argv[0] is the
// subcommand name) and returns the process exit code. Exceptions do not escape them.

namespace podnetstat::agent {

/// `podnetstat list ...`: netstat-compatible socket tables of one or more namespaces.
int runList(int argc, char** argv);

/// `podnetstat serve ...`: the REST/JSON agent.
int runServe(int argc, char** argv);

}  // namespace podnetstat::agent
