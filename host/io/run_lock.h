// run_lock.h: a run directory has one owner at a time. `acx train` takes an
// exclusive lock on DIR/acx.lock (flock(2): the kernel releases it when the
// process ends, however it ends) before it writes anything into DIR, and a
// second process is refused with the holder's pid and host. Local file
// systems honour flock; on NFS it depends on the mount.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace acx {

class RunLock {
 public:
  static constexpr const char* kFileName = "acx.lock";

  // Creates DIR/acx.lock if absent and locks it, writing this process's pid,
  // host and start time into it. UsageError naming the holder when another
  // process has it; Error when the file cannot be created or locked.
  explicit RunLock(const std::string& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

// Removes what atomic writes (host/io/atomic_file.h) left in DIR when their
// process was killed: files named NAME.tmp.PID. Call it only while holding
// DIR's RunLock, when no writer of this DIR can be running. Returns the
// names removed and adds their sizes to *bytes.
std::vector<std::string> remove_stale_temporaries(const std::string& dir, uint64_t* bytes);

}  // namespace acx
