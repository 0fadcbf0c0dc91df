// Template definitions of tree_walker.h.
#ifndef CTDUMP_ARCHIVE_TREE_WALKER_INL_H_
#define CTDUMP_ARCHIVE_TREE_WALKER_INL_H_

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace ctdump::archive {

template <typename Write>
Status ReadRange(int fd, uint64_t offset, uint64_t length, std::vector<char>& buf,
                 const std::string& rel, uint64_t* shrunk, Write&& write) {
  while (length > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(length, buf.size()));
    ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("Failed to read \"/{}\"", rel));
    }
    if (n == 0) {
      *shrunk += length;
      return Status::OK();
    }
    RETURN_IF_ERROR(write(buf.data(), static_cast<size_t>(n)));
    offset += static_cast<uint64_t>(n);
    length -= static_cast<uint64_t>(n);
  }
  return Status::OK();
}

}  // namespace ctdump::archive

#endif  // CTDUMP_ARCHIVE_TREE_WALKER_INL_H_
