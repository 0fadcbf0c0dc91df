// The control socket's datagrams (channel_format.h): the proxy asks for a
// channel per request ("open"), the privileged part grants one (a socket end
// attached) or refuses (an HTTP status, 503 when 64 channels are open).
//
// Decoding is strict: a wrong size, magic or descriptor is InvalidArgument,
// on which the privileged part restarts the proxy (docs/design/api-server.md
// §1.1). Thread-safety: stateless; a SOCK_SEQPACKET datagram is sent atomically.
#ifndef CTDUMP_CHANNEL_CONTROL_H_
#define CTDUMP_CHANNEL_CONTROL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "ctdump/status.h"
#include "sys/unique_fd.h"

namespace ctdump::channel {

enum class ControlType { kOpen, kGrant, kRefuse };

struct ControlMessage {
  ControlType type = ControlType::kOpen;
  uint32_t request_id = 0;
  uint16_t status = 0;  // kRefuse only
  bool operator==(const ControlMessage&) const = default;
};

// The datagram's bytes (the grant's descriptor travels beside them).
std::string EncodeControl(const ControlMessage& m);

// Decodes one datagram; `has_fd` says whether a descriptor came with it: a
// grant must carry one, the others none. A refusal's status is 400..599.
Result<ControlMessage> DecodeControl(std::string_view datagram, bool has_fd);

// Sending on the control socket (blocking; a closed peer is Unavailable).
Status SendOpen(int sock, uint32_t request_id);
Status SendGrant(int sock, uint32_t request_id, int channel_fd);
Status SendRefuse(int sock, uint32_t request_id, uint16_t status);

// A received control message; fd is the grant's channel end.
struct ControlReceived {
  ControlMessage message;
  sys::UniqueFd fd;
};

// Receives and decodes one datagram (blocking unless the socket is
// non-blocking). The peer's close is Unavailable; anything malformed,
// including extra or missing descriptors, is InvalidArgument (descriptors
// closed).
Result<ControlReceived> ReceiveControl(int sock);

}  // namespace ctdump::channel

#endif  // CTDUMP_CHANNEL_CONTROL_H_
