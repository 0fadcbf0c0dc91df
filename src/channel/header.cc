#include "channel/header.h"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "base/utf8.h"
#include "channel/channel_format.h"

namespace ctdump::channel {

namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 5> kForwardedRequestHeaders = {
    "authorization", "cookie", "csrfpreventiontoken", "content-type", "user-agent"};
constexpr std::array<std::string_view, 4> kAllowedResponseHeaders = {
    "Content-Type", "Content-Disposition", "Set-Cookie", "Cache-Control"};

Status Invalid(std::string_view what, std::string_view why) {
  return InvalidArgumentError(fmt::format("Invalid channel {}: {}", what, why));
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool PrintableAscii(std::string_view s) {
  for (char c : s) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// A header value: no control character but horizontal tab (a CR or LF
// would start another header line when the proxy writes it).
bool ValidHeaderValue(std::string_view v) {
  if (v.size() > kMaxHeaderValue) return false;
  for (unsigned char c : v) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

Status CheckRequest(const RequestHeader& h) {
  if (h.method.empty() || h.method.size() > kMaxMethodSize) {
    return Invalid("request", "method must have 1 to 16 letters");
  }
  for (char c : h.method) {
    if (c < 'A' || c > 'Z') return Invalid("request", "method must be upper-case letters");
  }
  if (h.target.empty() || h.target[0] != '/' || h.target.size() > kMaxTargetSize ||
      !PrintableAscii(h.target)) {
    return Invalid("request", "target must be '/' and printable ASCII, at most 16 KiB");
  }
  for (const auto& [name, value] : h.headers) {
    if (!IsForwardedRequestHeader(name)) {
      return Invalid("request", fmt::format("header '{}' is not forwarded", name));
    }
    if (!ValidHeaderValue(value)) {
      return Invalid("request", fmt::format("header '{}' is longer than 8 KiB or has a control "
                                            "character",
                                            name));
    }
  }
  if (h.client.empty() || h.client.size() > kMaxClientSize || !PrintableAscii(h.client)) {
    return Invalid("request", "client must be 1 to 128 printable ASCII characters");
  }
  if (!std::isfinite(h.received) || h.received < 0) {
    return Invalid("request", "received must be a non-negative time");
  }
  return Status::OK();
}

Status CheckResponse(const ResponseHeader& h) {
  if (h.status < 100 || h.status > 599) {
    return Invalid("response", fmt::format("status {} is not 100..599", h.status));
  }
  if (h.headers.size() > kMaxResponseHeaders) return Invalid("response", "too many headers");
  for (size_t i = 0; i < h.headers.size(); ++i) {
    const auto& [name, value] = h.headers[i];
    auto canonical = CanonicalResponseHeader(name);
    if (!canonical || *canonical != name) {
      return Invalid("response", fmt::format("header '{}' is not allowed", name));
    }
    if (!ValidHeaderValue(value)) {
      return Invalid("response", fmt::format("header '{}' is longer than 8 KiB or has a control "
                                             "character",
                                             name));
    }
    if (name == "Set-Cookie") continue;
    for (size_t j = 0; j < i; ++j) {
      if (h.headers[j].first == name) {
        return Invalid("response", fmt::format("header '{}' appears twice", name));
      }
    }
  }
  return Status::OK();
}

Result<std::string> Dump(const json& j, std::string_view what) {
  // Invalid UTF-8 (a client's header bytes) becomes U+FFFD instead of throwing.
  std::string text = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > kMaxHeaderSize) {
    return Invalid(what, fmt::format("{} bytes of JSON, more than 64 KiB", text.size()));
  }
  return text;
}

// Parses `text` into an object having exactly the members `names`.
Result<json> ParseObject(std::string_view text, std::string_view what,
                         std::initializer_list<std::string_view> names) {
  if (text.size() > kMaxHeaderSize) return Invalid(what, "more than 64 KiB");
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Invalid(what, "not JSON");
  if (!j.is_object()) return Invalid(what, "not a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (std::string_view n : names) known = known || it.key() == n;
    if (!known) return Invalid(what, fmt::format("unknown member '{}'", it.key()));
  }
  for (std::string_view n : names) {
    if (!j.contains(n)) return Invalid(what, fmt::format("member '{}' is missing", n));
  }
  const json& v = j["v"];
  if (!v.is_number_integer() || v.get<int64_t>() != kHeaderVersion) {
    return Invalid(what, "unknown version");
  }
  return j;
}

Result<RequestHeader> RequestFromJson(const json& j) {
  RequestHeader h;
  const json& method = j["method"];
  const json& target = j["target"];
  const json& client = j["client"];
  const json& received = j["received"];
  const json& headers = j["headers"];
  if (!method.is_string()) return Invalid("request", "method is not a string");
  if (!target.is_string()) return Invalid("request", "target is not a string");
  if (!client.is_string()) return Invalid("request", "client is not a string");
  if (!received.is_number()) return Invalid("request", "received is not a number");
  if (!headers.is_object()) return Invalid("request", "headers is not an object");
  h.method = method.get<std::string>();
  h.target = target.get<std::string>();
  h.client = client.get<std::string>();
  h.received = received.get<double>();
  for (auto it = headers.begin(); it != headers.end(); ++it) {
    if (!it.value().is_string()) {
      return Invalid("request", fmt::format("header '{}' is not a string", it.key()));
    }
    h.headers[it.key()] = it.value().get<std::string>();
  }
  RETURN_IF_ERROR(CheckRequest(h));
  return h;
}

Result<ResponseHeader> ResponseFromJson(const json& j) {
  ResponseHeader h;
  const json& status = j["status"];
  const json& reason = j["reason"];
  const json& headers = j["headers"];
  const json& length = j["length"];
  if (!status.is_number_integer()) return Invalid("response", "status is not an integer");
  if (!reason.is_string()) return Invalid("response", "reason is not a string");
  if (!headers.is_array()) return Invalid("response", "headers is not an array");
  if (!length.is_null() && !length.is_number_unsigned()) {
    return Invalid("response", "length is neither null nor a non-negative integer");
  }
  int64_t code = status.get<int64_t>();
  if (code < 100 || code > 599) return Invalid("response", "status is not 100..599");
  h.status = static_cast<int>(code);
  h.reason = SanitizeReason(h.status, reason.get_ref<const std::string&>());
  if (headers.size() > kMaxResponseHeaders) return Invalid("response", "too many headers");
  for (const json& pair : headers) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
      return Invalid("response", "a header is not a [name, value] pair of strings");
    }
    const std::string& name = pair[0].get_ref<const std::string&>();
    auto canonical = CanonicalResponseHeader(name);
    if (!canonical) return Invalid("response", fmt::format("header '{}' is not allowed", name));
    h.headers.emplace_back(std::string(*canonical), pair[1].get<std::string>());
  }
  if (!length.is_null()) h.length = length.get<uint64_t>();
  RETURN_IF_ERROR(CheckResponse(h));
  return h;
}

bool PrintableLine(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t n = Utf8SequenceLength(s, i, &cp);
    if (n == 0) return false;
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029) return false;
    i += n;
  }
  return true;
}

}  // namespace

bool IsForwardedRequestHeader(std::string_view lower_case_name) {
  for (std::string_view n : kForwardedRequestHeaders) {
    if (n == lower_case_name) return true;
  }
  return false;
}

std::optional<std::string_view> CanonicalResponseHeader(std::string_view name) {
  for (std::string_view n : kAllowedResponseHeaders) {
    if (EqualsIgnoreCase(n, name)) return n;
  }
  return std::nullopt;
}

Result<std::string> EncodeRequestHeader(const RequestHeader& h) {
  RETURN_IF_ERROR(CheckRequest(h));
  json headers = json::object();
  for (const auto& [name, value] : h.headers) headers[name] = value;
  json j = {{"v", kHeaderVersion}, {"method", h.method}, {"target", h.target},
            {"headers", headers},  {"client", h.client}, {"received", h.received}};
  return Dump(j, "request");
}

Result<RequestHeader> DecodeRequestHeader(std::string_view text) {
  try {
    ASSIGN_OR_RETURN(
        json j,
        ParseObject(text, "request", {"v", "method", "target", "headers", "client", "received"}));
    return RequestFromJson(j);
  } catch (const json::exception& e) {
    return Invalid("request", e.what());
  }
}

Result<std::string> EncodeResponseHeader(const ResponseHeader& h) {
  RETURN_IF_ERROR(CheckResponse(h));
  json headers = json::array();
  for (const auto& [name, value] : h.headers) headers.push_back({name, value});
  json j = {{"v", kHeaderVersion},
            {"status", h.status},
            {"reason", SanitizeReason(h.status, h.reason)},
            {"headers", headers},
            {"length", h.length ? json(*h.length) : json(nullptr)}};
  return Dump(j, "response");
}

Result<ResponseHeader> DecodeResponseHeader(std::string_view text) {
  try {
    ASSIGN_OR_RETURN(json j,
                     ParseObject(text, "response", {"v", "status", "reason", "headers", "length"}));
    return ResponseFromJson(j);
  } catch (const json::exception& e) {
    return Invalid("response", e.what());
  }
}

std::string_view StandardReason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string SanitizeReason(int status, std::string_view reason) {
  if (reason.empty() || reason.size() > kMaxReasonSize || !PrintableLine(reason)) {
    return std::string(StandardReason(status));
  }
  return std::string(reason);
}

}  // namespace ctdump::channel
