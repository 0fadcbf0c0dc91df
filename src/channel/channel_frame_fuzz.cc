// libFuzzer target for the channel's decoders (channel.h, control.h,
// header.h), run on a buffer.
//
// Input: a mode byte, then the bytes. Mode % 4: 0 a request (head and body
// frames, as the privileged part reads it), 1 a response head and its body
// frames up to the end, abort or an error (as the proxy reads it), 2 a
// control datagram (the mode's bit 2 says whether a descriptor came with
// it), 3 a request header's JSON then, after the first NUL, a response
// header's. Checks: every failure is InvalidArgument, Unavailable (the input
// ended) or Cancelled (an aborted request); no limit is exceeded; whatever
// decodes encodes and decodes again to the same value; a decoded reason is
// sanitized.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "channel/channel.h"
#include "channel/channel_format.h"
#include "channel/control.h"
#include "channel/header.h"

namespace {

using namespace ctdump::channel;
using ctdump::Code;
using ctdump::Status;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void CheckError(const Status& s) {
  Check(s.code() == Code::kInvalidArgument || s.code() == Code::kUnavailable ||
        s.code() == Code::kCancelled);
}

void CheckRequestHeader(const RequestHeader& h) {
  auto text = EncodeRequestHeader(h);
  Check(text.ok());
  auto again = DecodeRequestHeader(*text);
  Check(again.ok() && *again == h);
}

void CheckResponseHeader(const ResponseHeader& h) {
  Check(h.reason == SanitizeReason(h.status, h.reason));
  auto text = EncodeResponseHeader(h);
  Check(text.ok());
  auto again = DecodeResponseHeader(*text);
  Check(again.ok() && *again == h);
}

void FuzzRequest(std::string_view in) {
  BufferReader reader(in);
  auto r = ReadRequest(reader);
  if (!r.ok()) return CheckError(r.status());
  Check(r->body.size() <= kMaxRequestBody);
  CheckRequestHeader(r->header);
  auto bytes = EncodeRequest(r->header, r->body);
  Check(bytes.ok());
  BufferReader again(*bytes);
  auto r2 = ReadRequest(again);
  Check(r2.ok() && r2->header == r->header && r2->body == r->body);
}

void FuzzResponse(std::string_view in) {
  BufferReader reader(in);
  auto h = ReadResponseHead(reader);
  if (!h.ok()) return CheckError(h.status());
  CheckResponseHeader(*h);
  for (;;) {
    auto c = ReadBodyChunk(reader);
    if (!c.ok()) return CheckError(c.status());
    if (c->kind != BodyChunk::Kind::kData) return Check(c->data.empty());
    Check(!c->data.empty() && c->data.size() <= kMaxBodyFrame);
  }
}

void FuzzControl(std::string_view in, bool has_fd) {
  auto m = DecodeControl(in, has_fd);
  if (!m.ok()) return Check(m.status().code() == Code::kInvalidArgument);
  Check(EncodeControl(*m) == in);
}

void FuzzHeaders(std::string_view in) {
  size_t nul = in.find('\0');
  auto rq = DecodeRequestHeader(in.substr(0, nul));
  if (rq.ok()) CheckRequestHeader(*rq);
  if (nul == std::string_view::npos) return;
  auto rs = DecodeResponseHeader(in.substr(nul + 1));
  if (rs.ok()) CheckResponseHeader(*rs);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      FuzzRequest(in);
      break;
    case 1:
      FuzzResponse(in);
      break;
    case 2:
      FuzzControl(in, (data[0] & 4) != 0);
      break;
    default:
      FuzzHeaders(in);
      break;
  }
  return 0;
}
