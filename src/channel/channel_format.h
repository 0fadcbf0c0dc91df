// FORMAT: the API server's channel between its network-facing proxy and its
// privileged part (docs/design/api-server.md §1.1). Specified in
// docs/formats/api-channel.md. Every integer is little endian. The magic
// values never change once shipped: a new layout gets a new digit.
//
// Control socket (SOCK_SEQPACKET), one datagram per message:
//
//   datagram        offset size  field
//   open  (p → P)   0      4     "CTQ1"
//                   4      4     request id
//   grant (P → p)   0      4     "CTA1"               + SCM_RIGHTS: exactly 1 fd,
//                   4      4     request id             the proxy's channel end
//   refuse (P → p)  0      4     "CTE1"
//                   4      4     request id
//                   8      2     HTTP status (503)
//
// (p = proxy, P = privileged part.) Any other size, magic or a descriptor
// where none belongs is a protocol error.
//
// Channel (SOCK_STREAM), one request then one response:
//
//   head:        offset 0: "CTR1" (request) | "CTS1" (response)
//                offset 4: u32 header length, 1 ≤ n ≤ kMaxHeaderSize
//                offset 8: the header, JSON in UTF-8 (header.h)
//   body frame:  u32 n, then n bytes, 1 ≤ n ≤ kMaxBodyFrame
//                | u32 kEndFrame (0): end of the body
//                | u32 kAbortFrame (0xFFFFFFFF): the body is incomplete
//
// Every head is followed by body frames up to an end or abort frame (an
// empty body is the end frame alone).
#ifndef CTDUMP_CHANNEL_CHANNEL_FORMAT_H_
#define CTDUMP_CHANNEL_CHANNEL_FORMAT_H_

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace ctdump::channel {

// Control datagrams.
inline constexpr char kOpenMagic[4] = {'C', 'T', 'Q', '1'};
inline constexpr char kGrantMagic[4] = {'C', 'T', 'A', '1'};
inline constexpr char kRefuseMagic[4] = {'C', 'T', 'E', '1'};
inline constexpr size_t kMagicSize = 4;
inline constexpr size_t kRequestIdOffset = 4;
inline constexpr size_t kRefuseStatusOffset = kRequestIdOffset + sizeof(uint32_t);
inline constexpr size_t kOpenSize = kRequestIdOffset + sizeof(uint32_t);
inline constexpr size_t kGrantSize = kRequestIdOffset + sizeof(uint32_t);
inline constexpr size_t kRefuseSize = kRefuseStatusOffset + sizeof(uint16_t);
static_assert(kOpenSize == 8 && kGrantSize == 8 && kRefuseSize == 10);
// The receive buffer of the control socket: one byte more than the largest
// datagram, so a longer one is reported as truncated, never cut silently.
inline constexpr size_t kMaxControlSize = kRefuseSize + 1;

// Channel heads.
inline constexpr char kRequestMagic[4] = {'C', 'T', 'R', '1'};
inline constexpr char kResponseMagic[4] = {'C', 'T', 'S', '1'};
inline constexpr size_t kHeadLengthOffset = 4;
inline constexpr size_t kHeadPrefixSize = kHeadLengthOffset + sizeof(uint32_t);
static_assert(kHeadPrefixSize == 8);
inline constexpr uint32_t kMaxHeaderSize = 64 * 1024;

// Body frames.
inline constexpr size_t kFrameLengthSize = sizeof(uint32_t);
inline constexpr uint32_t kEndFrame = 0;
inline constexpr uint32_t kAbortFrame = 0xFFFFFFFF;
inline constexpr uint32_t kMaxBodyFrame = 1024 * 1024;
// A request's whole body (PVE's $limit_max_post).
inline constexpr size_t kMaxRequestBody = 512 * 1024;

// Header JSON limits (header.h).
inline constexpr int kHeaderVersion = 1;
inline constexpr size_t kMaxHeaderValue = 8 * 1024;  // one forwarded header's value
inline constexpr size_t kMaxTargetSize = 16 * 1024;  // the request target
inline constexpr size_t kMaxMethodSize = 16;
inline constexpr size_t kMaxClientSize = 128;  // the client's address
inline constexpr size_t kMaxReasonSize = 200;  // the response's reason phrase
inline constexpr size_t kMaxResponseHeaders = 32;

// Deadlines (docs/design/api-server.md §1.1).
// The proxy delivers the request head and body within this of the grant.
inline constexpr std::chrono::seconds kRequestTimeout{30};
// The privileged part's handlers finish within this ...
inline constexpr std::chrono::seconds kHandlerTimeout{55};
// ... and the response head arrives within this of the request's end.
inline constexpr std::chrono::seconds kResponseHeadTimeout{60};
// Between two body frames, either way.
inline constexpr std::chrono::seconds kBodyFrameTimeout{120};

// Little-endian helpers for the fixed fields above.
inline void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void PutU16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v);
  p[1] = static_cast<char>(v >> 8);
}
inline uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint16_t GetU16(const char* p) {
  return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) | (static_cast<uint8_t>(p[1]) << 8));
}

}  // namespace ctdump::channel

#endif  // CTDUMP_CHANNEL_CHANNEL_FORMAT_H_
