// Request parsing as pve-http-server's extract_params and rest_handler.
//
//   target      "/api2/json/nodes/n1/storage?content=backup" -> path + query
//   path        percent-decoded as a whole (uri_unescape), then matched by the
//               router; "%2F" is a '/' (a {volume*} tail keeps it)
//   query       form-urlencoded ('+' is a space), '&' or ';' between pairs
//   body        POST and PUT only: JSON when the Content-Type is
//               application/json (an object), form-urlencoded otherwise;
//               GET and DELETE bodies are ignored
//   merging     query parameters replace body parameters of the same name;
//               repeated keys become arrays; `_dc` (ExtJS's cache buster) is
//               dropped
//   path params a parameter that names a path parameter with another value is
//               "duplicate parameter (already defined in URI) with conflicting
//               values!" (a 400 Parameter verification failed)
//
// Hostile input is bounded by RequestLimits: parsing is linear in the input,
// allocates at most a small multiple of it, and refuses deep JSON nesting
// (nlohmann's parser recurses).
#ifndef CTDUMP_API_REQUEST_H_
#define CTDUMP_API_REQUEST_H_

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "api/response.h"
#include "ctdump/status.h"

namespace ctdump::api {

// The API root every path is under.
inline constexpr std::string_view kApiRoot = "/api2/json";

struct RequestLimits {
  // Most parameter occurrences (query and body together); beyond: 400.
  size_t max_params = 1024;
  // Longest key or value, in bytes after decoding; beyond: 400.
  size_t max_value_bytes = 64 * 1024;
  // Longest body (PVE's $limit_max_post); beyond: 413.
  size_t max_body_bytes = 512 * 1024;
  // Deepest JSON nesting of a body; beyond: 400.
  size_t max_json_depth = 32;
};

// uri_unescape: "%XX" decoded, other bytes (and a '%' not followed by two hex
// digits) kept. With `plus_is_space`, '+' is a space (forms and queries).
std::string PercentDecode(std::string_view text, bool plus_is_space = false);

// Splits a request target at the first '?' (a '#' fragment is dropped).
struct Target {
  std::string_view path{};   // still percent-encoded
  std::string_view query{};  // without the '?'
};
Target SplitTarget(std::string_view target);

// The decoded path below kApiRoot ("/nodes/n1"; "" for the root itself), or
// nullopt if `encoded_path` is not under it.
std::optional<std::string> ApiPath(std::string_view encoded_path);

// Form-urlencoded pairs into `out` (a JSON object): values are strings, a
// repeated key an array of strings in order. Counts occurrences in *count.
Status ParseForm(std::string_view text, const RequestLimits& limits, nlohmann::json& out,
                 size_t* count);

struct RawRequest {
  std::string_view method{};        // "GET", "POST", "PUT", "DELETE"
  std::string_view query{};         // encoded, without '?'
  std::string_view content_type{};  // the Content-Type header, "" if none
  std::string_view body{};
};

// Stores the merged parameters of a request in *params (a JSON object; `_dc`
// removed). Returns an error instead: 400 for a malformed body, invalid
// UTF-8, a JSON body that is not an object and the limits; 413 for a body
// beyond max_body_bytes.
std::optional<ApiError> ExtractParams(const RawRequest& request, const RequestLimits& limits,
                                      nlohmann::json* params);

// Adds the path parameters to `params` as rest_handler does. A parameter
// already in `params` must have the same value (a string, or a number whose
// text is the same); a conflict is an error on that parameter.
ParamErrors MergePathParams(const std::map<std::string, std::string>& path_params,
                            nlohmann::json& params);

}  // namespace ctdump::api

#endif  // CTDUMP_API_REQUEST_H_
