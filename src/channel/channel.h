// The per-request channel between the API server's proxy and its privileged
// part (docs/design/api-server.md §1.1; wire format in channel_format.h and
// docs/formats/api-channel.md).
//
// Design. The proxy (network-facing, unprivileged) asks for a channel on the
// control socket (control.h); the privileged part answers with one end of a
// fresh SOCK_STREAM socketpair. On it the proxy writes one request (head +
// body frames + end) and the privileged part one response (head + body
// frames + end or abort); then both close. EOF means the other side is gone.
//
//   proxy                                  privileged part
//   WriteRequest(head, body)  ─────────►   ReadRequest         (kRequestTimeout)
//   ReadResponseHead          ◄─────────   WriteResponseHead   (kResponseHeadTimeout)
//   ReadBodyChunk ... kEnd    ◄─────────   WriteBodyChunk ... EndBody | AbortBody
//                                                              (kBodyFrameTimeout each)
//
// Invariants: neither side trusts the other. Every length is checked before
// anything is allocated (head ≤ 64 KiB, frame ≤ 1 MiB, request body ≤ 512
// KiB), every wait ends at a deadline (io.h), and a body is complete only
// with its end frame: abort and EOF before the end are distinct outcomes the
// proxy turns into a truncated HTTP transfer, never a complete-looking one.
//
// The decoders read from a Reader, so they run on a socket or on a buffer
// (tests, the channel_frame_fuzz target) alike; the socket functions below
// wrap them with deadlines.
//
// Errors: a protocol violation (magic, length, JSON) is InvalidArgument; the
// peer's close is Unavailable; a deadline is DeadlineExceeded; an aborted
// request body is Cancelled. After any error the channel is unusable: close
// it. Thread-safety: stateless; one channel belongs to one thread at a time.
#ifndef CTDUMP_CHANNEL_CHANNEL_H_
#define CTDUMP_CHANNEL_CHANNEL_H_

#include <string>
#include <string_view>

#include "channel/header.h"
#include "channel/io.h"
#include "ctdump/status.h"

namespace ctdump::channel {

// A request as the privileged part receives it: the header and the whole body.
struct Request {
  RequestHeader header;
  std::string body;  // at most kMaxRequestBody bytes
};

// One step of a body: data (1..kMaxBodyFrame bytes), its end, or its abort.
struct BodyChunk {
  enum class Kind { kData, kEnd, kAbort };
  Kind kind = Kind::kEnd;
  std::string data;  // kData only
};

// ---- Decoders (any Reader) ----

// A request head, then body frames up to the end frame.
Result<Request> ReadRequest(Reader& in);
// A response head; its body follows through ReadBodyChunk.
Result<ResponseHeader> ReadResponseHead(Reader& in);
// The next body frame.
Result<BodyChunk> ReadBodyChunk(Reader& in);

// ---- Encoders (bytes) ----

// Head, body frames and end frame; InvalidArgument for an invalid header or
// a body larger than kMaxRequestBody.
Result<std::string> EncodeRequest(const RequestHeader& header, std::string_view body);
// The response head.
Result<std::string> EncodeResponseHead(const ResponseHeader& header);
// `data` as body frames of at most kMaxBodyFrame bytes (nothing for no data).
std::string EncodeBodyFrames(std::string_view data);
// The end and the abort frame.
std::string EncodeEndFrame();
std::string EncodeAbortFrame();

// ---- The privileged part's side of a channel socket ----

// Reads the whole request by `deadline` (kRequestTimeout after the grant).
Result<Request> ReadRequest(int fd, Deadline deadline);
Status WriteResponseHead(int fd, const ResponseHeader& header, Deadline deadline);
// Sends `data` as one or more frames (nothing when empty).
Status WriteBodyChunk(int fd, std::string_view data, Deadline deadline);
// Ends the body: the transfer is complete.
Status EndBody(int fd, Deadline deadline);
// Ends the body as incomplete (a failed download): the proxy truncates the
// HTTP transfer.
Status AbortBody(int fd, Deadline deadline);

// ---- The proxy's side ----

Status WriteRequest(int fd, const RequestHeader& header, std::string_view body, Deadline deadline);
Result<ResponseHeader> ReadResponseHead(int fd, Deadline deadline);
// The next frame by `deadline` (kBodyFrameTimeout from the previous one).
Result<BodyChunk> ReadBodyChunk(int fd, Deadline deadline);

}  // namespace ctdump::channel

#endif  // CTDUMP_CHANNEL_CHANNEL_H_
