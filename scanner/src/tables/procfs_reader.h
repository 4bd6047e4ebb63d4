#pragma once

// The procfs TableReader: /proc/<pid>/net/<file> of a process living in the namespace (the next
// one when it vanished). No privileges beyond reading /proc, and rows in the kernel's file
// order, which is what netstat prints.

#include <vector>

#include "podnetstat/scanner/scan.h"

namespace podnetstat::scanner {

class ProcfsTableReader final : public TableReader {
 public:
  /// `proc_fd`: the proc root, open for the reader's life.
  explicit ProcfsTableReader(int proc_fd) : proc_fd_(proc_fd) {}

  Result<ParseCounts> read(const NetNamespace& ns,
                           Transport transport,
                           std::vector<Socket>& out) override;

  Backend backend() const override { return Backend::Procfs; }

 private:
  int proc_fd_;
};

}  // namespace podnetstat::scanner
