#include "api/request.h"

#include <algorithm>
#include <utility>

#include "base/utf8.h"

namespace ctdump::api {
namespace {

using nlohmann::json;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Adds one occurrence of `key`: a second one turns the value into an array.
void AddValue(json& out, const std::string& key, std::string value) {
  auto it = out.find(key);
  if (it == out.end()) {
    out[key] = std::move(value);
  } else if (it->is_array()) {
    it->push_back(std::move(value));
  } else {
    *it = json::array({std::move(*it), std::move(value)});
  }
}

// The media type of a Content-Type header, lower case ("application/json").
std::string MediaType(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  std::string out(type);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// The deepest nesting of arrays and objects in `text` (JSON strings skipped),
// stopping as soon as it passes `limit`.
size_t JsonDepth(std::string_view text, size_t limit) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::optional<ApiError> ParseBody(const RawRequest& request, const RequestLimits& limits,
                                  json& params, size_t* count) {
  if (request.body.size() > limits.max_body_bytes)
    return MakeError(413, "request entity too large");
  if (MediaType(request.content_type) != "application/json") {
    Status s = ParseForm(request.body, limits, params, count);
    if (!s.ok()) return MakeError(400, s.message());
    return std::nullopt;
  }
  if (request.body.find_first_not_of(" \t\r\n") == std::string_view::npos) return std::nullopt;
  if (JsonDepth(request.body, limits.max_json_depth) > limits.max_json_depth)
    return MakeError(400, "JSON body nested too deeply");
  json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return MakeError(400, "malformed JSON body");
  if (!body.is_object()) return MakeError(400, "JSON body is not an object");
  *count += body.size();
  if (*count > limits.max_params) return MakeError(400, "too many parameters");
  params = std::move(body);
  return std::nullopt;
}

}  // namespace

std::string PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
        HexValue(text[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

Target SplitTarget(std::string_view target) {
  target = target.substr(0, target.find('#'));
  size_t q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

std::optional<std::string> ApiPath(std::string_view encoded_path) {
  std::string path = ToValidUtf8(PercentDecode(encoded_path));
  if (path.compare(0, kApiRoot.size(), kApiRoot) != 0) return std::nullopt;
  if (path.size() > kApiRoot.size() && path[kApiRoot.size()] != '/') return std::nullopt;
  return path.substr(kApiRoot.size());
}

Status ParseForm(std::string_view text, const RequestLimits& limits, json& out, size_t* count) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find_first_of("&;", start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view pair = text.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    if (++*count > limits.max_params) return InvalidArgumentError("too many parameters");
    size_t eq = pair.find('=');
    std::string_view raw_key = pair.substr(0, eq);
    std::string_view raw_value = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    std::string key = ToValidUtf8(PercentDecode(raw_key, true));
    if (key.size() > limits.max_value_bytes) return InvalidArgumentError("parameter name too long");
    std::string value = ToValidUtf8(PercentDecode(raw_value, true));
    if (value.size() > limits.max_value_bytes)
      return InvalidArgumentError("parameter value too long");
    AddValue(out, key, std::move(value));
  }
  return Status::OK();
}

std::optional<ApiError> ExtractParams(const RawRequest& request, const RequestLimits& limits,
                                      json* params) {
  json merged = json::object();
  size_t count = 0;
  if (request.method == "POST" || request.method == "PUT") {
    if (auto error = ParseBody(request, limits, merged, &count)) return error;
  }
  json query = json::object();
  Status s = ParseForm(request.query, limits, query, &count);
  if (!s.ok()) return MakeError(400, s.message());
  for (auto& [key, value] : query.items()) merged[key] = std::move(value);
  merged.erase("_dc");
  *params = std::move(merged);
  return std::nullopt;
}

ParamErrors MergePathParams(const std::map<std::string, std::string>& path_params, json& params) {
  ParamErrors errors;
  for (const auto& [name, value] : path_params) {
    auto it = params.find(name);
    if (it != params.end()) {
      bool same = (it->is_string() && it->get_ref<const std::string&>() == value) ||
                  (it->is_number() && it->dump() == value);
      if (!same) {
        errors[name] = "duplicate parameter (already defined in URI) with conflicting values!";
        continue;
      }
    }
    params[name] = value;
  }
  return errors;
}

}  // namespace ctdump::api
