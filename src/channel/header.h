// The JSON headers of the channel's request and response heads
// (channel_format.h, docs/formats/api-channel.md).
//
// Request (proxy → privileged part), built by the proxy from what it
// received, verbatim (percent-decoding happens in the privileged part):
//   {"v":1,"method":"POST","target":"/api2/json/...","headers":{"cookie":"..."},
//    "client":"2001:db8::5","received":1767600000.123}
// Response (privileged part → proxy):
//   {"v":1,"status":400,"reason":"...","headers":[["Content-Type","..."]],"length":187}
//
// Both sides validate strictly: every member present with its type, no
// unknown member, version 1, forwarded headers from the allow-lists only, no
// control characters in a header value (a CR or LF would let a compromised
// side inject a header line). A response's reason phrase is the one lenient
// field: one that is not one printable line of UTF-8 of at most 200 bytes is
// replaced by the standard phrase (SanitizeReason), so a container name with
// a CR/LF in an error message cannot break the proxy's status line.
#ifndef CTDUMP_CHANNEL_HEADER_H_
#define CTDUMP_CHANNEL_HEADER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctdump/status.h"

namespace ctdump::channel {

// The request headers the proxy forwards, lower-case: authorization, cookie,
// csrfpreventiontoken, content-type, user-agent.
bool IsForwardedRequestHeader(std::string_view lower_case_name);

struct RequestHeader {
  std::string method;  // "GET", "POST", ...: 1..16 upper-case letters
  std::string target;  // the request target as received: '/' + printable ASCII
  std::map<std::string, std::string> headers;  // forwarded names only, each value ≤ 8 KiB
  std::string client;                          // the client's address, printable ASCII
  double received = 0;                         // seconds since the epoch
  bool operator==(const RequestHeader&) const = default;
};

// The JSON text; InvalidArgument when `h` breaks a rule above (the proxy
// then answers the client itself) or the text exceeds kMaxHeaderSize.
Result<std::string> EncodeRequestHeader(const RequestHeader& h);
// Parses and validates; every failure is InvalidArgument naming the field.
Result<RequestHeader> DecodeRequestHeader(std::string_view json);

// The allow-list of response headers, as written on the wire:
// Content-Type, Content-Disposition, Set-Cookie, Cache-Control. Returns the
// canonical spelling of `name` (matched case-insensitively), or nullopt.
std::optional<std::string_view> CanonicalResponseHeader(std::string_view name);

struct ResponseHeader {
  int status = 200;    // 100..599
  std::string reason;  // sanitized on decode (SanitizeReason)
  // Allow-listed names in canonical spelling; each at most once except
  // Set-Cookie; values ≤ 8 KiB without control characters.
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<uint64_t> length;  // the body's size; nullopt: unknown (chunked)
  bool operator==(const ResponseHeader&) const = default;
};

// The JSON text (the reason sanitized); InvalidArgument when `h` breaks a
// rule above or the text exceeds kMaxHeaderSize.
Result<std::string> EncodeResponseHeader(const ResponseHeader& h);
// Parses and validates (header names are canonicalized, the reason is
// sanitized); every other failure is InvalidArgument naming the field.
Result<ResponseHeader> DecodeResponseHeader(std::string_view json);

// The standard reason phrase of an HTTP status ("Not Found"); "Unknown" for
// a code without one.
std::string_view StandardReason(int status);
// `reason` if it is one line of printable UTF-8 (no C0/C1 control, DEL, line
// or paragraph separator, no invalid or overlong sequence) of 1..200 bytes,
// else StandardReason(status).
std::string SanitizeReason(int status, std::string_view reason);

}  // namespace ctdump::channel

#endif  // CTDUMP_CHANNEL_HEADER_H_
