#include "channel/channel.h"

#include <fmt/format.h>

#include <cstring>

#include "channel/channel_format.h"

namespace ctdump::channel {

namespace {

Status ProtocolError(std::string_view what) {
  return InvalidArgumentError(fmt::format("Channel protocol error: {}", what));
}

// Reads a head's prefix and JSON text; the magic must be `magic`.
Result<std::string> ReadHead(Reader& in, const char* magic, std::string_view what) {
  char prefix[kHeadPrefixSize];
  RETURN_IF_ERROR(in.ReadExact(prefix, sizeof(prefix)));
  if (std::memcmp(prefix, magic, kMagicSize) != 0) {
    return ProtocolError(fmt::format("expected a {} head", what));
  }
  uint32_t n = GetU32(prefix + kHeadLengthOffset);
  if (n == 0 || n > kMaxHeaderSize) {
    return ProtocolError(
        fmt::format("a {} header of {} bytes (1 to {} allowed)", what, n, kMaxHeaderSize));
  }
  std::string text(n, '\0');
  RETURN_IF_ERROR(in.ReadExact(text.data(), n));
  return text;
}

std::string FrameLength(uint32_t n) {
  std::string out(kFrameLengthSize, '\0');
  PutU32(out.data(), n);
  return out;
}

Result<std::string> EncodeHead(const char* magic, Result<std::string> header) {
  if (!header.ok()) return header.status();
  std::string out(kHeadPrefixSize, '\0');
  std::memcpy(out.data(), magic, kMagicSize);
  PutU32(out.data() + kHeadLengthOffset, static_cast<uint32_t>(header->size()));
  return out + *header;
}

}  // namespace

Result<BodyChunk> ReadBodyChunk(Reader& in) {
  char len[kFrameLengthSize];
  RETURN_IF_ERROR(in.ReadExact(len, sizeof(len)));
  uint32_t n = GetU32(len);
  BodyChunk chunk;
  if (n == kEndFrame) return chunk;
  if (n == kAbortFrame) {
    chunk.kind = BodyChunk::Kind::kAbort;
    return chunk;
  }
  if (n > kMaxBodyFrame) {
    return ProtocolError(fmt::format("a body frame of {} bytes (at most {})", n, kMaxBodyFrame));
  }
  chunk.kind = BodyChunk::Kind::kData;
  chunk.data.resize(n);
  RETURN_IF_ERROR(in.ReadExact(chunk.data.data(), n));
  return chunk;
}

Result<Request> ReadRequest(Reader& in) {
  ASSIGN_OR_RETURN(std::string text, ReadHead(in, kRequestMagic, "request"));
  Request req;
  ASSIGN_OR_RETURN(req.header, DecodeRequestHeader(text));
  char len[kFrameLengthSize];
  for (;;) {
    RETURN_IF_ERROR(in.ReadExact(len, sizeof(len)));
    uint32_t n = GetU32(len);
    if (n == kEndFrame) return req;
    if (n == kAbortFrame) return CancelledError("The request body was aborted by the proxy");
    if (n > kMaxBodyFrame || n > kMaxRequestBody - req.body.size()) {
      return ProtocolError(fmt::format("a request body of more than {} bytes", kMaxRequestBody));
    }
    size_t old = req.body.size();
    req.body.resize(old + n);
    RETURN_IF_ERROR(in.ReadExact(req.body.data() + old, n));
  }
}

Result<ResponseHeader> ReadResponseHead(Reader& in) {
  ASSIGN_OR_RETURN(std::string text, ReadHead(in, kResponseMagic, "response"));
  return DecodeResponseHeader(text);
}

Result<std::string> EncodeRequest(const RequestHeader& header, std::string_view body) {
  if (body.size() > kMaxRequestBody) {
    return InvalidArgumentError(
        fmt::format("A request body of {} bytes (at most {})", body.size(), kMaxRequestBody));
  }
  ASSIGN_OR_RETURN(std::string out, EncodeHead(kRequestMagic, EncodeRequestHeader(header)));
  return out + EncodeBodyFrames(body) + EncodeEndFrame();
}

Result<std::string> EncodeResponseHead(const ResponseHeader& header) {
  return EncodeHead(kResponseMagic, EncodeResponseHeader(header));
}

std::string EncodeBodyFrames(std::string_view data) {
  std::string out;
  while (!data.empty()) {
    std::string_view part = data.substr(0, kMaxBodyFrame);
    out += FrameLength(static_cast<uint32_t>(part.size()));
    out += part;
    data.remove_prefix(part.size());
  }
  return out;
}

std::string EncodeEndFrame() { return FrameLength(kEndFrame); }
std::string EncodeAbortFrame() { return FrameLength(kAbortFrame); }

Result<Request> ReadRequest(int fd, Deadline deadline) {
  SocketReader in(fd, deadline);
  return ReadRequest(in);
}

Status WriteResponseHead(int fd, const ResponseHeader& header, Deadline deadline) {
  ASSIGN_OR_RETURN(std::string head, EncodeResponseHead(header));
  return WriteAll(fd, head, deadline);
}

Status WriteBodyChunk(int fd, std::string_view data, Deadline deadline) {
  // Length and data written separately: a 1 MiB chunk is not copied.
  while (!data.empty()) {
    std::string_view part = data.substr(0, kMaxBodyFrame);
    RETURN_IF_ERROR(WriteAll(fd, FrameLength(static_cast<uint32_t>(part.size())), deadline));
    RETURN_IF_ERROR(WriteAll(fd, part, deadline));
    data.remove_prefix(part.size());
  }
  return Status::OK();
}

Status EndBody(int fd, Deadline deadline) { return WriteAll(fd, EncodeEndFrame(), deadline); }

Status AbortBody(int fd, Deadline deadline) { return WriteAll(fd, EncodeAbortFrame(), deadline); }

Status WriteRequest(int fd, const RequestHeader& header, std::string_view body, Deadline deadline) {
  ASSIGN_OR_RETURN(std::string bytes, EncodeRequest(header, body));
  return WriteAll(fd, bytes, deadline);
}

Result<ResponseHeader> ReadResponseHead(int fd, Deadline deadline) {
  SocketReader in(fd, deadline);
  return ReadResponseHead(in);
}

Result<BodyChunk> ReadBodyChunk(int fd, Deadline deadline) {
  SocketReader in(fd, deadline);
  return ReadBodyChunk(in);
}

}  // namespace ctdump::channel
