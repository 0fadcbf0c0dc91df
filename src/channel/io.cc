#include "channel/io.h"

#include <errno.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace ctdump::channel {

namespace {

Status PeerClosed(std::string_view while_doing) {
  return UnavailableError(fmt::format("Channel closed by the peer while {}", while_doing));
}

// Waits until `fd` is ready for `events` or the deadline passes.
Status WaitFor(int fd, short events, Deadline deadline, std::string_view while_doing) {
  // poll() ignores a negative descriptor and would wait out the deadline.
  if (fd < 0) return InvalidArgumentError("The channel is not an open descriptor");
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return DeadlineExceededError(fmt::format("Channel timed out while {}", while_doing));
    }
    pollfd p{fd, events, 0};
    int timeout = static_cast<int>(std::min<int64_t>(left.count(), 1 << 30));
    int r = ::poll(&p, 1, timeout);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("Failed to poll the channel while {}", while_doing));
    }
    if (r == 0) continue;  // the loop's head reports the deadline
    if (p.revents & POLLNVAL) return InvalidArgumentError("The channel is not an open descriptor");
    // POLLHUP/POLLERR: the read or write that follows reports what happened.
    return Status::OK();
  }
}

}  // namespace

Status SocketReader::ReadExact(char* buf, size_t n) {
  while (n > 0) {
    RETURN_IF_ERROR(WaitFor(fd_, POLLIN, deadline_, "reading"));
    ssize_t r = ::recv(fd_, buf, n, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      if (errno == ECONNRESET) return PeerClosed("reading");
      return ErrnoError(errno, "Failed to read from the channel");
    }
    if (r == 0) return PeerClosed("reading");
    buf += r;
    n -= static_cast<size_t>(r);
  }
  return Status::OK();
}

Status BufferReader::ReadExact(char* buf, size_t n) {
  if (n > data_.size()) {
    data_ = {};
    return PeerClosed("reading");
  }
  if (n > 0) std::memcpy(buf, data_.data(), n);
  data_.remove_prefix(n);
  return Status::OK();
}

Status WriteAll(int fd, std::string_view data, Deadline deadline) {
  while (!data.empty()) {
    RETURN_IF_ERROR(WaitFor(fd, POLLOUT, deadline, "writing"));
    ssize_t r = ::send(fd, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      if (errno == EPIPE || errno == ECONNRESET) return PeerClosed("writing");
      return ErrnoError(errno, "Failed to write to the channel");
    }
    data.remove_prefix(static_cast<size_t>(r));
  }
  return Status::OK();
}

}  // namespace ctdump::channel
