#include "api/response.h"

#include <algorithm>
#include <utility>

#include "base/utf8.h"

namespace ctdump::api {
namespace {

using nlohmann::json;

std::string Dump(const json& j) {
  // Replace rather than throw on invalid UTF-8: a message may quote bytes a
  // client sent.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

std::string_view StandardReason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 413:
      return "Request Entity Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

std::string SanitizeReason(std::string_view message, int status) {
  std::string_view line = message.substr(0, message.find_first_of("\r\n"));
  std::string out;
  for (size_t i = 0; i < line.size();) {
    size_t len = Utf8SequenceLength(line, i);
    if (out.size() + std::max<size_t>(len, 1) > kMaxReasonBytes) break;
    if (len == 0) {
      out += '?';
      ++i;
      continue;
    }
    unsigned char c = static_cast<unsigned char>(line[i]);
    if (len == 1 && (c < 0x20 || c == 0x7F)) {
      out += ' ';
    } else {
      out.append(line.substr(i, len));
    }
    i += len;
  }
  size_t begin = out.find_first_not_of(' ');
  if (begin == std::string::npos) return std::string(StandardReason(status));
  size_t end = out.find_last_not_of(' ');
  return out.substr(begin, end - begin + 1);
}

HttpResponse DataResponse(const json& data, std::optional<int64_t> total) {
  json body = {{"data", data}};
  if (total) body["total"] = *total;
  return HttpResponse{200, "OK", std::string(kJsonContentType), Dump(body), false};
}

HttpResponse ErrorResponse(const ApiError& error) {
  json body = {{"data", nullptr}, {"message", error.message}};
  if (!error.errors.empty()) body["errors"] = error.errors;
  return HttpResponse{error.status, SanitizeReason(error.message, error.status),
                      std::string(kJsonContentType), Dump(body), error.status >= 400};
}

HttpResponse UnauthorizedResponse(std::string_view reason) {
  return HttpResponse{401, SanitizeReason(reason, 401), "", "", true};
}

ApiError MakeError(int status, std::string message) {
  if (message.empty() || message.back() != '\n') message += '\n';
  return ApiError{status, std::move(message), {}};
}

ApiError ParamError(ParamErrors errors) {
  ApiError e = MakeError(400, "Parameter verification failed.");
  e.errors = std::move(errors);
  return e;
}

ApiError NamedParamError(const std::string& param, std::string message) {
  while (!message.empty() && message.back() == '\n') message.pop_back();
  ApiError e = MakeError(400, message);
  e.errors[param] = std::move(message);
  return e;
}

ApiError PermissionError(std::string_view path, std::string_view privilege) {
  return MakeError(
      403, "Permission check failed (" + std::string(path) + ", " + std::string(privilege) + ")");
}

ApiError TokenNotAllowedError(std::string_view rel_path) {
  return MakeError(
      403, "URI '" + std::string(rel_path) + "' not available with API token, need proper ticket.");
}

ApiError LoginFailedError() { return MakeError(401, "authentication failure"); }

ApiError NotImplementedError(std::string_view method, std::string_view path) {
  return ApiError{
      501, "Method '" + std::string(method) + " " + std::string(path) + "' not implemented", {}};
}

int HttpStatusFor(Code code) {
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kInvalidArgument:
    case Code::kNotFound:
    case Code::kAlreadyExists:
    case Code::kFailedPrecondition:
      return 400;
    case Code::kPermissionDenied:
      return 403;
    case Code::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

ApiError StatusError(const Status& status) {
  return MakeError(HttpStatusFor(status.code()), status.message());
}

}  // namespace ctdump::api
