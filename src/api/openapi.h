// The OpenAPI 3.0 document of a route table (GET /api2/openapi.json and
// `ctdump __api-dump`).
//
// Paths are relative to the server URL kApiRoot; "{x*}" is written "{x}"
// with "x-ctdump-tail": true on the parameter (OpenAPI has no multi-segment
// variables; the value may contain '/'). GET and DELETE parameters are query
// parameters (arrays repeat the key); POST and PUT ones are a request body,
// form-urlencoded or JSON. Booleans are 1/0 in forms ("x-ctdump-form": "0|1").
// Each operation carries the route's permission ("x-ctdump-permission", as
// PermissionToJson), "x-ctdump-allow-token" and "x-ctdump-root-only".
//
// The output is deterministic: the same table gives the same bytes
// (nlohmann::json objects are sorted).
#ifndef CTDUMP_API_OPENAPI_H_
#define CTDUMP_API_OPENAPI_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/router.h"

namespace ctdump::api {

struct OpenApiInfo {
  std::string title = "ctdump API";
  std::string version{};  // ctdump's version
  std::string description = "A Proxmox VE compatible API for LXC container backups.";
};

// The JSON schema of one parameter.
nlohmann::json ParamSchema(const Param& param);

nlohmann::json OpenApiDocument(const std::vector<Route>& routes, const OpenApiInfo& info);

}  // namespace ctdump::api

#endif  // CTDUMP_API_OPENAPI_H_
