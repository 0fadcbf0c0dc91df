// PVE's responses and errors (pve-http-server's response and the
// Formatter::Standard json format).
//
//   success   200 OK, {"data": <data>} (+ "total" where PVE sets it)
//   error     <status> <first line of the message>, {"data":null,
//             "message":"<message>"} (+ "errors":{param: msg} for parameter
//             errors); PVE's messages end in "\n", which the body keeps
//   401       "No ticket", "Authentication failed!", "Permission denied -
//             invalid csrf token": an empty body (not JSON), as pveproxy
//
// The reason phrase is what proxmoxer 1.2.0 shows, so it carries the human
// message; it is sanitized (one line, no control characters, valid UTF-8, at
// most 200 bytes) because messages can contain client-chosen names. Every
// response with status >= 400 closes the connection, as pveproxy.
#ifndef CTDUMP_API_RESPONSE_H_
#define CTDUMP_API_RESPONSE_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/schema.h"
#include "ctdump/status.h"

namespace ctdump::api {

inline constexpr std::string_view kJsonContentType = "application/json;charset=UTF-8";
inline constexpr size_t kMaxReasonBytes = 200;

// 401 reasons of the authentication layer (answered with an empty body).
inline constexpr std::string_view kNoTicket = "No ticket";
inline constexpr std::string_view kAuthenticationFailed = "Authentication failed!";
inline constexpr std::string_view kInvalidCsrfToken = "Permission denied - invalid csrf token";

struct HttpResponse {
  int status = 200;
  std::string reason = "OK";
  std::string content_type{};  // "" with an empty body
  std::string body{};
  bool close = false;  // Connection: close
};

// An error a handler or the dispatcher answers with.
struct ApiError {
  int status = 500;
  std::string message{};  // the body's "message", verbatim (PVE's end in "\n")
  ParamErrors errors{};   // the body's "errors" when not empty
};

// The standard phrase of an HTTP status ("Bad Request"), "Unknown" if none.
std::string_view StandardReason(int status);

// The reason phrase for `message`: its first line, control characters as
// spaces, invalid UTF-8 as '?', cut to kMaxReasonBytes at a character
// boundary, trimmed; StandardReason(status) if nothing is left.
std::string SanitizeReason(std::string_view message, int status);

// {"data": data} (+ "total").
HttpResponse DataResponse(const nlohmann::json& data, std::optional<int64_t> total = {});

// The response for an error (JSON body, reason from its message).
HttpResponse ErrorResponse(const ApiError& error);

// A 401 of the authentication layer: empty body, Connection: close.
HttpResponse UnauthorizedResponse(std::string_view reason);

// `status` with `message` (a "\n" is appended unless present).
ApiError MakeError(int status, std::string message);

// 400 Parameter verification failed. with every error.
ApiError ParamError(ParamErrors errors);

// 400 with the message as the reason phrase and an error on `param`:
// "400 storage 'x' does not exist", {"errors":{"storage":"storage 'x' does not exist"}}.
ApiError NamedParamError(const std::string& param, std::string message);

// 403 Permission check failed (<path>, <privilege>).
ApiError PermissionError(std::string_view path, std::string_view privilege);

// 403 for an endpoint that refuses API tokens (PVE's allowtoken => 0).
ApiError TokenNotAllowedError(std::string_view rel_path);

// 401 authentication failure (a failed login: JSON body, unlike UnauthorizedResponse).
ApiError LoginFailedError();

// 501 Method '<METHOD> <path>' not implemented (no trailing newline, as PVE).
ApiError NotImplementedError(std::string_view method, std::string_view path);

// The HTTP status of a library error: InvalidArgument, NotFound,
// AlreadyExists, FailedPrecondition -> 400; PermissionDenied -> 403;
// Unavailable -> 503; anything else -> 500.
int HttpStatusFor(Code code);

// An error from a library Status (its message, with "\n").
ApiError StatusError(const Status& status);

// The head of a streamed download (Route::streams).
struct StreamHead {
  std::string content_type = "application/octet-stream";
  std::optional<uint64_t> content_length;  // nullopt: chunked
  std::vector<std::pair<std::string, std::string>> headers{};
};

// Where a handler's answer goes; implemented by the server. A handler calls
// exactly one of Send() or BeginStream() (then Write()s and EndStream()).
// Not thread-safe: one handler, one thread.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  virtual void Send(HttpResponse response) = 0;
  // False: the client is gone, stop producing.
  virtual bool BeginStream(StreamHead head) = 0;
  virtual bool Write(std::string_view bytes) = 0;
  // An error after the head can only cut the stream; the server logs it.
  virtual void EndStream(Status status) = 0;

  void Data(const nlohmann::json& data, std::optional<int64_t> total = {}) {
    Send(DataResponse(data, total));
  }
  void Error(const ApiError& error) { Send(ErrorResponse(error)); }
};

}  // namespace ctdump::api

#endif  // CTDUMP_API_RESPONSE_H_
