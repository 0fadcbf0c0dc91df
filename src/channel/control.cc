#include "channel/control.h"

#include <fmt/format.h>

#include <cstring>

#include "channel/channel_format.h"
#include "sys/fd_passing.h"

namespace ctdump::channel {

namespace {

const char* MagicOf(ControlType type) {
  switch (type) {
    case ControlType::kOpen:
      return kOpenMagic;
    case ControlType::kGrant:
      return kGrantMagic;
    case ControlType::kRefuse:
      return kRefuseMagic;
  }
  return kOpenMagic;
}

size_t SizeOf(ControlType type) {
  switch (type) {
    case ControlType::kOpen:
      return kOpenSize;
    case ControlType::kGrant:
      return kGrantSize;
    case ControlType::kRefuse:
      return kRefuseSize;
  }
  return 0;
}

Status ProtocolError(std::string_view what) {
  return InvalidArgumentError(fmt::format("Control protocol error: {}", what));
}

}  // namespace

std::string EncodeControl(const ControlMessage& m) {
  std::string out(SizeOf(m.type), '\0');
  std::memcpy(out.data(), MagicOf(m.type), kMagicSize);
  PutU32(out.data() + kRequestIdOffset, m.request_id);
  if (m.type == ControlType::kRefuse) PutU16(out.data() + kRefuseStatusOffset, m.status);
  return out;
}

Result<ControlMessage> DecodeControl(std::string_view datagram, bool has_fd) {
  if (datagram.size() < kMagicSize) {
    return ProtocolError(fmt::format("a datagram of {} bytes", datagram.size()));
  }
  ControlMessage m;
  if (datagram.substr(0, kMagicSize) == std::string_view(kOpenMagic, kMagicSize)) {
    m.type = ControlType::kOpen;
  } else if (datagram.substr(0, kMagicSize) == std::string_view(kGrantMagic, kMagicSize)) {
    m.type = ControlType::kGrant;
  } else if (datagram.substr(0, kMagicSize) == std::string_view(kRefuseMagic, kMagicSize)) {
    m.type = ControlType::kRefuse;
  } else {
    return ProtocolError("unknown magic");
  }
  std::string_view magic(MagicOf(m.type), kMagicSize);
  if (datagram.size() != SizeOf(m.type)) {
    return ProtocolError(fmt::format("a {} datagram of {} bytes (expected {})", magic,
                                     datagram.size(), SizeOf(m.type)));
  }
  bool wants_fd = m.type == ControlType::kGrant;
  if (has_fd != wants_fd) {
    return ProtocolError(
        fmt::format("a {} datagram {} a descriptor", magic, has_fd ? "with" : "without"));
  }
  m.request_id = GetU32(datagram.data() + kRequestIdOffset);
  if (m.type == ControlType::kRefuse) {
    m.status = GetU16(datagram.data() + kRefuseStatusOffset);
    if (m.status < 400 || m.status > 599) {
      return ProtocolError(fmt::format("a refusal with status {}", m.status));
    }
  }
  return m;
}

Status SendOpen(int sock, uint32_t request_id) {
  std::string d = EncodeControl({ControlType::kOpen, request_id, 0});
  return sys::SendFd(sock, d.data(), d.size(), -1);
}

Status SendGrant(int sock, uint32_t request_id, int channel_fd) {
  if (channel_fd < 0) return InvalidArgumentError("A grant needs a channel descriptor");
  std::string d = EncodeControl({ControlType::kGrant, request_id, 0});
  return sys::SendFd(sock, d.data(), d.size(), channel_fd);
}

Status SendRefuse(int sock, uint32_t request_id, uint16_t status) {
  std::string d = EncodeControl({ControlType::kRefuse, request_id, status});
  return sys::SendFd(sock, d.data(), d.size(), -1);
}

Result<ControlReceived> ReceiveControl(int sock) {
  auto r = sys::ReceiveFd(sock, kMaxControlSize);
  if (!r.ok()) {
    if (r.status().code() == Code::kInvalidArgument) return ProtocolError(r.status().message());
    return r.status();
  }
  ASSIGN_OR_RETURN(ControlMessage m, DecodeControl(r->data, r->fd.valid()));
  return ControlReceived{m, std::move(r->fd)};
}

}  // namespace ctdump::channel
