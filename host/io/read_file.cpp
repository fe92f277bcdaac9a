#include "host/io/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kernels/runtime/error.h"

namespace acx {

namespace {

std::string size_text(uint64_t bytes) {
  if (bytes >= (uint64_t{1} << 30)) return std::to_string(bytes >> 30) + " GiB";
  if (bytes >= (uint64_t{1} << 20)) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= (uint64_t{1} << 10)) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

uint64_t checked_size(const std::string& path, const struct stat& st, uint64_t max_bytes, const std::string& what) {
  if (S_ISDIR(st.st_mode)) throw UsageError(what + " " + quote_input(path) + " is a directory, not a file");
  if (!S_ISREG(st.st_mode))
    throw UsageError(what + " " + quote_input(path) + " is not a regular file (a device, FIFO or socket cannot be read whole)");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes)
    throw UsageError(what + " " + quote_input(path) + " is " + std::to_string(size) + " bytes, over the " +
                     size_text(max_bytes) + " limit of a " + what);
  return size;
}

}  // namespace

uint64_t checked_file_size(const std::string& path, uint64_t max_bytes, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw UsageError(what + " " + quote_input(path) + ": cannot open: " + std::strerror(errno));
  return checked_size(path, st, max_bytes, what);
}

std::string read_file(const std::string& path, uint64_t max_bytes, const std::string& what) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer before the checks
  // below refuse it (a regular file reads the same either way).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw UsageError(what + " " + quote_input(path) + ": cannot open: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  // fstat on the open file: the checks apply to what is read, not to a path
  // that could be swapped in between.
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw Error(what + " " + quote_input(path) + ": cannot stat: " + std::strerror(errno));
  const uint64_t size = checked_size(path, st, max_bytes, what);
  std::string out(size, '\0');
  uint64_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, out.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(what + " " + quote_input(path) + ": read error: " + std::strerror(errno));
    if (n == 0) break;  // the file shrank while being read
    done += static_cast<uint64_t>(n);
  }
  out.resize(done);
  return out;
}

}  // namespace acx
