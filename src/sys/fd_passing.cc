#include "sys/fd_passing.h"

#include <errno.h>
#include <fmt/format.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

namespace ctdump::sys {

namespace {

// Room for this many descriptors in the control buffer: a hostile sender's
// extra descriptors land here (and are closed) instead of being dropped
// silently, so the error can say how many there were.
constexpr size_t kMaxDescriptorsSeen = 16;

// Takes ownership of every descriptor in msg's SCM_RIGHTS parts; false if
// any other ancillary data came along.
bool CollectDescriptors(msghdr* msg, std::vector<UniqueFd>* fds) {
  bool only_rights = true;
  for (cmsghdr* c = CMSG_FIRSTHDR(msg); c != nullptr; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
      only_rights = false;
      continue;
    }
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds->emplace_back(fd);
    }
  }
  return only_rights;
}

}  // namespace

Status SendFd(int sock, const void* data, size_t len, int fd) {
  if (len == 0) return InvalidArgumentError("Cannot send an empty message with a descriptor");
  iovec iov{const_cast<void*>(data), len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  for (;;) {
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n >= 0) {
      if (static_cast<size_t>(n) != len) {
        return IOError(fmt::format("Short send on a socket: {} of {} bytes", n, len));
      }
      return Status::OK();
    }
    if (errno == EINTR) continue;
    if (errno == EPIPE || errno == ECONNRESET) {
      return UnavailableError("Failed to send a message: the peer closed the socket");
    }
    return ErrnoError(errno, "Failed to send a message on a socket");
  }
}

Result<ReceivedMessage> ReceiveFd(int sock, size_t max_len) {
  ReceivedMessage out;
  out.data.resize(max_len);
  iovec iov{out.data.data(), max_len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxDescriptorsSeen)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoError(errno, "Failed to receive a message on a socket");
  std::vector<UniqueFd> fds;
  bool only_rights = CollectDescriptors(&msg, &fds);
  if (msg.msg_flags & MSG_TRUNC) {
    return InvalidArgumentError(
        fmt::format("Received a message longer than {} bytes (truncated)", max_len));
  }
  if (msg.msg_flags & MSG_CTRUNC) {
    return InvalidArgumentError("Received a message whose ancillary data was truncated");
  }
  if (!only_rights)
    return InvalidArgumentError("Received a message with unexpected ancillary data");
  if (fds.size() > 1) {
    return InvalidArgumentError(
        fmt::format("Received a message with {} descriptors (at most 1 expected)", fds.size()));
  }
  if (n == 0 && fds.empty()) return UnavailableError("The peer closed the socket");
  out.data.resize(static_cast<size_t>(n));
  if (!fds.empty()) out.fd = std::move(fds[0]);
  return out;
}

Result<SocketPair> MakeSocketPair(int type) {
  int fds[2];
  if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) != 0) {
    return ErrnoError(errno, "Failed to create a socket pair");
  }
  return SocketPair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace ctdump::sys
