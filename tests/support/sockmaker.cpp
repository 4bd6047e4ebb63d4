#include "sockmaker.h"

#include <algorithm>
#include <charconv>
#include <sstream>
#include <stdexcept>

#include "test_paths.h"

namespace podnetstat::testing {

namespace {

using std::chrono::milliseconds;

std::vector<pid_t> parsePids(std::string_view text) {
  std::vector<pid_t> pids;
  if (text == "-") {
    return pids;
  }
  while (!text.empty()) {
    std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    pid_t pid = 0;
    std::from_chars(item.data(), item.data() + item.size(), pid);
    pids.push_back(pid);
    if (comma == std::string_view::npos) {
      break;
    }
    text.remove_prefix(comma + 1);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

}  // namespace

bool isInvisibleSocket(std::string_view label) {
  return label == "tcp4-bound-only-absent" || label == "icmp-ping-invisible";
}

Sockmaker::Sockmaker(const NetNamespace& ns,
                     const std::vector<std::string>& args,
                     std::filesystem::path binary,
                     milliseconds ready_timeout) {
  if (binary.empty()) {
    binary = sockmakerBinary();
  }
  std::vector<std::string> argv{binary.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  process_ = std::make_unique<Subprocess>(
      argv, SubprocessOptions{.netns = ns.name(), .inherit_stderr = true});
  std::vector<std::string> partial;
  auto lines = process_->readUntil("READY", ready_timeout, &partial);
  if (!lines) {
    std::ostringstream msg;
    msg << "sockmaker in " << ns.name() << " did not get ready; it printed:";
    for (const auto& l : partial) {
      msg << "\n  " << l;
    }
    throw std::runtime_error(msg.str());
  }
  for (const auto& line : *lines) {
    addLine(line);
  }
}

void Sockmaker::addLine(const std::string& line) {
  std::istringstream in(line);
  std::string first;
  in >> first;
  if (first == "SKIP") {
    skipped_.push_back(line.substr(5));
    return;
  }
  SockmakerSocket s;
  s.label = first;
  std::string pids;
  in >> s.inode >> pids;
  s.pids = parsePids(pids);
  sockets_.push_back(std::move(s));
}

const SockmakerSocket* Sockmaker::find(std::string_view label) const {
  auto it = std::find_if(sockets_.begin(), sockets_.end(),
                         [&](const SockmakerSocket& s) { return s.label == label; });
  return it == sockets_.end() ? nullptr : &*it;
}

bool Sockmaker::waitFor(std::string_view label, int count, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto have = std::count_if(sockets_.begin(), sockets_.end(),
                              [&](const SockmakerSocket& s) { return s.label == label; });
    if (have >= count) {
      return true;
    }
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= milliseconds(0)) {
      return false;
    }
    auto line = process_->readLine(left);
    if (!line) {
      return false;
    }
    addLine(*line);
  }
}

}  // namespace podnetstat::testing
