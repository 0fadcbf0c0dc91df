// libFuzzer target for request parsing and the parameter check.
//
// Input: a mode byte (bit 0: JSON body, bit 1: GET instead of POST), then
// the query, a NUL, the body, a NUL, and the request path below /api2/json
// (percent-encoded). The path is matched against a small route table shaped
// like the server's (tail parameter, formats, patterns, bounds, enums,
// booleans, arrays) and the request prepared as the server would. Checks that
// nothing throws, that every error is a 400, 413 or 501 with a body that is
// valid JSON and a one-line reason of at most 200 bytes, that a prepared call
// holds only declared parameters with the declared JSON types, and that the
// OpenAPI document of the table serialises.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/openapi.h"
#include "api/request.h"
#include "api/response.h"
#include "api/router.h"

namespace {

using ctdump::api::ApiError;
using ctdump::api::HandlerContext;
using ctdump::api::HttpResponse;
using ctdump::api::Items;
using ctdump::api::Method;
using ctdump::api::Param;
using ctdump::api::ParamType;
using ctdump::api::PreparedCall;
using ctdump::api::Route;
using ctdump::api::Router;
using nlohmann::json;

void Noop(const HandlerContext& ctx) { ctx.sink.Data(nullptr); }

Param PathParam(std::string name, std::string format = {}) {
  return {.name = std::move(name), .required = true, .format = std::move(format)};
}

std::vector<Route> Table() {
  std::vector<Param> vzdump = {
      PathParam("node", "pve-node"),
      {.name = "vmid", .format = "ctdump-guest-list"},
      {.name = "all", .type = ParamType::kBoolean},
      {.name = "storage", .format = "pve-storage-id"},
      {.name = "mode", .enum_values = {"snapshot", "suspend", "stop"}},
      {.name = "ionice", .type = ParamType::kInteger, .minimum = 0, .maximum = 8},
      {.name = "bwlimit", .type = ParamType::kNumber, .minimum = 0},
      {.name = "notes-template", .max_length = 1024},
      {.name = "mailto", .format = "email-or-username-list"},
      {.name = "id", .pattern = "[a-z][a-z0-9_-]{1,40}", .min_length = 2},
      {.name = "exclude-path", .type = ParamType::kArray},
      {.name = "start",
       .type = ParamType::kArray,
       .items = Items({.type = ParamType::kInteger, .minimum = 0})},
  };
  std::vector<Route> t;
  t.push_back({.method = Method::kGet, .path = "/", .index = true});
  t.push_back({.method = Method::kPost,
               .path = "/nodes/{node}/vzdump",
               .params = vzdump,
               .root_only = {"bwlimit"},
               .handler = Noop});
  vzdump.erase(vzdump.begin());
  vzdump.insert(vzdump.begin(), PathParam("node"));
  t.push_back(
      {.method = Method::kGet, .path = "/nodes/{node}/vzdump", .params = vzdump, .handler = Noop});
  for (Method m : {Method::kGet, Method::kPost}) {
    t.push_back({.method = m,
                 .path = "/nodes/{node}/storage/{storage}/content/{volume*}",
                 .params = {PathParam("node"),
                            PathParam("storage", "pve-storage-id"),
                            PathParam("volume"),
                            {.name = "protected", .type = ParamType::kBoolean},
                            {.name = "notes"}},
                 .handler = Noop});
  }
  return t;
}

bool HasType(ParamType type, const json& v) {
  switch (type) {
    case ParamType::kString:
      return v.is_string();
    case ParamType::kInteger:
      return v.is_number_integer();
    case ParamType::kNumber:
      return v.is_number();
    case ParamType::kBoolean:
      return v.is_boolean();
    case ParamType::kArray:
      return v.is_array();
  }
  return false;
}

void CheckError(const ApiError& error) {
  if (error.status != 400 && error.status != 413 && error.status != 501) __builtin_trap();
  HttpResponse r = ctdump::api::ErrorResponse(error);
  if (r.reason.empty() || r.reason.size() > ctdump::api::kMaxReasonBytes) __builtin_trap();
  for (char c : r.reason)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) __builtin_trap();
  json body = json::parse(r.body, nullptr, false);
  if (body.is_discarded() || !body["data"].is_null() || !body["message"].is_string())
    __builtin_trap();
}

void CheckCall(const PreparedCall& call) {
  for (const auto& [key, value] : call.params.items()) {
    const Param* param = nullptr;
    for (const Param& p : call.route->params)
      if (p.name == key) param = &p;
    if (!param || !HasType(param->type, value)) __builtin_trap();
    if (param->type == ParamType::kArray && param->items) {
      for (const json& item : value)
        if (!HasType(param->items->type, item)) __builtin_trap();
    }
  }
  for (const Param& p : call.route->params)
    if (p.required && !call.params.contains(p.name)) __builtin_trap();
  (void)ctdump::api::DataResponse(call.params).body;
}

const Router& TheRouter() {
  static const Router* router = [] {
    ctdump::Result<Router> r = Router::Create(Table());
    if (!r.ok()) __builtin_trap();
    return new Router(std::move(r).value());
  }();
  return *router;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  uint8_t mode = data[0];
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t first = input.find('\0');
  std::string_view query = input.substr(0, first);
  std::string_view rest = first == std::string_view::npos ? "" : input.substr(first + 1);
  size_t second = rest.find('\0');
  std::string_view body = rest.substr(0, second);
  std::string_view encoded_path =
      second == std::string_view::npos ? "/nodes/n1/vzdump" : rest.substr(second + 1);

  std::optional<std::string> path =
      ctdump::api::ApiPath(std::string(ctdump::api::kApiRoot) + std::string(encoded_path));
  if (!path) {
    // Only a path that does not start with '/' leaves the API root.
    if (!encoded_path.empty() && encoded_path[0] == '/') __builtin_trap();
    return 0;
  }
  ctdump::api::RequestLimits limits;
  limits.max_params = 64;
  limits.max_value_bytes = 4096;
  limits.max_body_bytes = 64 * 1024;
  std::string_view content_type = (mode & 1) ? "application/json" : "";
  std::string_view method = (mode & 2) ? "GET" : "POST";
  auto prepared = TheRouter().Prepare({method, *path, query, content_type, body}, limits);
  if (const ApiError* error = std::get_if<ApiError>(&prepared)) {
    CheckError(*error);
  } else {
    CheckCall(std::get<PreparedCall>(prepared));
  }
  static bool documented = false;
  if (!documented) {
    documented = true;
    (void)ctdump::api::OpenApiDocument(TheRouter().routes(), {}).dump();
  }
  return 0;
}
