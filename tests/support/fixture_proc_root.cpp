#include "fixture_proc_root.h"

#include <stdlib.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_paths.h"

namespace podnetstat::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "podnetstat-test-XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

namespace {

std::string readAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

void buildFixtureProcRoot(const fs::path& root) {
  const fs::path samples = fixturesDir() / "netstat-samples";
  for (const auto& entry : fs::directory_iterator(samples / "proc_pids")) {
    const std::string pid = entry.path().filename().string();
    const fs::path dir = root / pid;
    fs::create_directories(dir / "ns");
    fs::create_directories(dir / "fd");
    fs::create_directories(dir / "net");
    fs::copy_file(entry.path() / "cmdline", dir / "cmdline");
    fs::copy_file(entry.path() / "comm", dir / "comm");
    std::string ns = readAll(entry.path() / "ns_net");
    while (!ns.empty() && (ns.back() == '\n' || ns.back() == ' ')) {
      ns.pop_back();
    }
    fs::create_symlink(ns, dir / "ns" / "net");
    std::istringstream fds(readAll(entry.path() / "fd.txt"));
    for (std::string line; std::getline(fds, line);) {
      const std::size_t space = line.find(' ');
      if (space != std::string::npos) {
        fs::create_symlink(line.substr(space + 1), dir / "fd" / line.substr(0, space));
      }
    }
    const fs::path tables =
        samples / (ns == "net:[" + std::to_string(kNsBInode) + "]" ? "proc_nsB" : "proc_nsA");
    for (const auto& table : fs::directory_iterator(tables)) {
      fs::copy_file(table.path(), dir / "net" / table.path().filename());
    }
  }
}

}  // namespace podnetstat::testing
