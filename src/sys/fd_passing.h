// Descriptor passing over AF_UNIX sockets (SCM_RIGHTS), one message at a time.
//
// Used by the API server's control socket (docs/design/api-server.md §1.1):
// the privileged part hands the proxy one end of a fresh socketpair per
// request. The receiving side trusts nothing: it accepts at most one
// descriptor per message, always with close-on-exec, and treats a truncated
// message or any extra descriptor as an error after closing every descriptor
// the kernel installed.
//
// Thread-safety: the functions keep no state; concurrent calls on one socket
// are the caller's to serialize (a SOCK_SEQPACKET datagram is atomic, a
// SOCK_STREAM message is not).
#ifndef CTDUMP_SYS_FD_PASSING_H_
#define CTDUMP_SYS_FD_PASSING_H_

#include <cstddef>
#include <string>

#include "ctdump/status.h"
#include "sys/unique_fd.h"

namespace ctdump::sys {

// Sends `len` bytes of `data` (len >= 1: a zero-length datagram reads as EOF)
// as one message on `sock`, with `fd` attached when fd >= 0 (the caller keeps
// its own copy of fd). Retries EINTR, never raises SIGPIPE: a closed peer is
// Unavailable; a message the socket cannot take at once is sent blocking
// (the control socket's datagrams are a few bytes).
Status SendFd(int sock, const void* data, size_t len, int fd);

// One received message: its bytes and the descriptor it carried, if any.
struct ReceivedMessage {
  std::string data;
  UniqueFd fd;  // invalid when the message carried none
};

// Receives one message of at most `max_len` bytes from `sock` and at most one
// descriptor (installed with O_CLOEXEC). Retries EINTR; blocks unless the
// socket is non-blocking. Errors (every received descriptor closed first):
// the peer closed the socket (or sent an empty datagram): Unavailable; a
// datagram longer than max_len (MSG_TRUNC), a truncated control part
// (MSG_CTRUNC), more than one descriptor or any other ancillary data:
// InvalidArgument; else the errno's code.
Result<ReceivedMessage> ReceiveFd(int sock, size_t max_len);

// socketpair(AF_UNIX, type | SOCK_CLOEXEC): type is SOCK_STREAM or
// SOCK_SEQPACKET (SOCK_NONBLOCK may be or'ed in).
struct SocketPair {
  UniqueFd first;
  UniqueFd second;
};
Result<SocketPair> MakeSocketPair(int type);

}  // namespace ctdump::sys

#endif  // CTDUMP_SYS_FD_PASSING_H_
