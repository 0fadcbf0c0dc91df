// Bounded-time I/O on a channel socket, and the byte source the frame
// decoders read from.
//
// Every wait is a poll() against an absolute deadline (a steady clock time
// point), so a peer that stalls holds a channel only until the deadline;
// EINTR is retried against the same deadline. Reads and writes never block
// past poll: they use MSG_DONTWAIT, and writes MSG_NOSIGNAL, so a closed
// peer is an error (Unavailable) and never a SIGPIPE.
//
// Errors: the deadline passing is DeadlineExceeded; the peer's close (EOF,
// EPIPE, ECONNRESET) is Unavailable; other failures carry their errno.
#ifndef CTDUMP_CHANNEL_IO_H_
#define CTDUMP_CHANNEL_IO_H_

#include <chrono>
#include <cstddef>
#include <string_view>

#include "ctdump/status.h"

namespace ctdump::channel {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// Where the decoders get their bytes: a socket (SocketReader) or a buffer
// (BufferReader: tests and the fuzz target).
class Reader {
 public:
  virtual ~Reader() = default;
  // Reads exactly `n` bytes into `buf`. EOF before the n-th byte is
  // Unavailable ("closed by the peer"), whatever was read is lost.
  virtual Status ReadExact(char* buf, size_t n) = 0;
};

// Reads from a connected stream socket until `deadline` (settable between
// reads, e.g. one deadline per body frame). Does not own the descriptor.
class SocketReader : public Reader {
 public:
  SocketReader(int fd, Deadline deadline) : fd_(fd), deadline_(deadline) {}
  void set_deadline(Deadline d) { deadline_ = d; }
  Status ReadExact(char* buf, size_t n) override;

 private:
  int fd_;
  Deadline deadline_;
};

// Reads from memory the caller keeps alive.
class BufferReader : public Reader {
 public:
  explicit BufferReader(std::string_view data) : data_(data) {}
  Status ReadExact(char* buf, size_t n) override;
  size_t remaining() const { return data_.size(); }

 private:
  std::string_view data_;
};

// Writes all of `data` to the stream socket `fd` by `deadline`.
Status WriteAll(int fd, std::string_view data, Deadline deadline);

}  // namespace ctdump::channel

#endif  // CTDUMP_CHANNEL_IO_H_
