// read_file.h: read a whole input file, bounded. Every file acx reads whole
// (a config, an .npy, a bench report) comes through here, so that a path to
// /dev/zero, a FIFO, a directory or a file larger than the reader's documented
// limit is refused before a byte is read, naming the path and the limit.
#pragma once

#include <cstdint>
#include <string>

namespace acx {

// The contents of `path`, a regular file of at most `max_bytes`. `what` names
// the file's role in messages ("config file", ".npy file"). UsageError when
// it is missing, not a regular file or over the limit; Error on a read error.
std::string read_file(const std::string& path, uint64_t max_bytes, const std::string& what);

// The size of `path` after the same checks, for readers that stream.
uint64_t checked_file_size(const std::string& path, uint64_t max_bytes, const std::string& what);

}  // namespace acx
