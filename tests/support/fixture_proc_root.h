#pragma once

// Lays the frozen capture of tests/fixtures/netstat-samples out as a proc root, so the scanner
// and `podnetstat list --proc-root` run on it exactly as on /proc:
//   <root>/<pid>/net/<table>   the captured tables of the PID's namespace (proc_nsA or proc_nsB)
//   <root>/<pid>/ns/net        symlink -> "net:[<inode>]"
//   <root>/<pid>/fd/<n>        symlinks -> the targets recorded in fd.txt
//   <root>/<pid>/cmdline, comm copies of the captured files

#include <filesystem>

namespace podnetstat::testing {

/// A temporary directory, removed with everything in it when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// The capture's PIDs: the helper in nsA, its two children, and the peer in nsB.
inline constexpr int kHelperPid = 24658;
inline constexpr int kPeerPid = 24782;
inline constexpr unsigned long long kNsAInode = 4026532251ULL;
inline constexpr unsigned long long kNsBInode = 4026532320ULL;

/// Builds the proc root under `root` (which must exist).
void buildFixtureProcRoot(const std::filesystem::path& root);

}  // namespace podnetstat::testing
