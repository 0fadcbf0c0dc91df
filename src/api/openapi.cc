#include "api/openapi.h"

#include <cstdint>
#include <string_view>

namespace ctdump::api {
namespace {

using nlohmann::json;

bool IsPathVariable(const Route& route, const std::string& name, bool* tail) {
  std::string var = "{" + name + "}", tail_var = "{" + name + "*}";
  *tail = route.path.find(tail_var) != std::string::npos;
  return *tail || route.path.find(var) != std::string::npos;
}

std::string OpenApiPath(const std::string& path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '*' && i + 1 < path.size() && path[i + 1] == '}') continue;
    out += path[i];
  }
  return out;
}

std::string OperationId(const Route& route) {
  std::string id(MethodName(route.method));
  for (char& c : id) c = static_cast<char>(c - 'A' + 'a');
  for (char c : route.path) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum) {
      id += c;
    } else if (c == '/' || c == '-' || c == '_') {
      if (id.back() != '_') id += '_';
    }
  }
  while (id.back() == '_') id.pop_back();
  return id;
}

// An integral bound as a JSON integer (what a reader expects of "minimum": 0).
json Bound(double v) {
  if (v >= -9e15 && v <= 9e15 && v == static_cast<double>(static_cast<int64_t>(v)))
    return static_cast<int64_t>(v);
  return v;
}

json ErrorSchema() {
  return {{"type", "object"},
          {"properties",
           {{"data", {{"nullable", true}}},
            {"message", {{"type", "string"}}},
            {"errors", {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}}}}}};
}

json Responses(const Route& route) {
  json ok;
  if (route.streams) {
    ok = {
        {"description", "the download"},
        {"content",
         {{"application/octet-stream", {{"schema", {{"type", "string"}, {"format", "binary"}}}}}}}};
  } else {
    json data = route.returns;
    if (data.is_null() && route.index)
      data = {{"type", "array"},
              {"items", {{"type", "object"}, {"properties", {{"subdir", {{"type", "string"}}}}}}}};
    if (data.is_null()) data = json::object();
    ok = {{"description", "success"},
          {"content",
           {{"application/json",
             {{"schema", {{"type", "object"}, {"properties", {{"data", data}}}}}}}}}};
  }
  json error = {
      {"description", "an error (the reason phrase is its first line)"},
      {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}}}};
  return {{"200", ok}, {"default", error}};
}

json Operation(const Route& route) {
  json op = {{"operationId", OperationId(route)},
             {"summary", route.description.substr(0, route.description.find('\n'))},
             {"description", route.description},
             {"responses", Responses(route)},
             {"x-ctdump-permission", PermissionToJson(route.permission)},
             {"x-ctdump-allow-token", route.allow_token}};
  if (!route.root_only.empty()) op["x-ctdump-root-only"] = route.root_only;
  if (route.permission.kind == Permission::Kind::kAnonymous) {
    op["security"] = json::array();
  } else {
    op["security"] = json::array({{{"ticket", json::array()}}, {{"token", json::array()}}});
    if (!route.allow_token) op["security"] = json::array({{{"ticket", json::array()}}});
  }
  bool body = route.method == Method::kPost || route.method == Method::kPut;
  json parameters = json::array();
  json properties = json::object();
  json required = json::array();
  for (const Param& p : route.params) {
    bool tail = false;
    if (IsPathVariable(route, p.name, &tail)) {
      json param = {
          {"name", p.name}, {"in", "path"}, {"required", true}, {"schema", ParamSchema(p)}};
      if (!p.description.empty()) param["description"] = p.description;
      if (tail) param["x-ctdump-tail"] = true;
      parameters.push_back(std::move(param));
    } else if (body) {
      properties[p.name] = ParamSchema(p);
      if (p.required) required.push_back(p.name);
    } else {
      json param = {
          {"name", p.name}, {"in", "query"}, {"required", p.required}, {"schema", ParamSchema(p)}};
      if (!p.description.empty()) param["description"] = p.description;
      if (p.type == ParamType::kArray) {
        param["style"] = "form";
        param["explode"] = true;
      }
      parameters.push_back(std::move(param));
    }
  }
  if (!parameters.empty()) op["parameters"] = std::move(parameters);
  if (body && !properties.empty()) {
    json schema = {{"type", "object"}, {"properties", properties}, {"additionalProperties", false}};
    if (!required.empty()) schema["required"] = required;
    op["requestBody"] = {{"required", !required.empty()},
                         {"content",
                          {{"application/x-www-form-urlencoded", {{"schema", schema}}},
                           {"application/json", {{"schema", schema}}}}}};
  }
  return op;
}

}  // namespace

json ParamSchema(const Param& p) {
  json s = {{"type", ParamTypeName(p.type)}};
  if (p.type == ParamType::kBoolean) s["x-ctdump-form"] = "0|1";
  if (!p.description.empty()) s["description"] = p.description;
  if (!p.format.empty()) s["format"] = p.format;
  if (!p.pattern.empty()) s["pattern"] = "^" + p.pattern + "$";
  if (!p.default_value.is_null()) s["default"] = p.default_value;
  if (p.minimum) s["minimum"] = Bound(*p.minimum);
  if (p.maximum) s["maximum"] = Bound(*p.maximum);
  if (p.min_length) s["minLength"] = *p.min_length;
  if (p.max_length) s["maxLength"] = *p.max_length;
  if (!p.enum_values.empty()) s["enum"] = p.enum_values;
  if (p.type == ParamType::kArray)
    s["items"] = p.items ? ParamSchema(*p.items) : json{{"type", "string"}};
  return s;
}

json OpenApiDocument(const std::vector<Route>& routes, const OpenApiInfo& info) {
  json paths = json::object();
  for (const Route& route : routes) {
    std::string method(MethodName(route.method));
    for (char& c : method) c = static_cast<char>(c - 'A' + 'a');
    paths[OpenApiPath(route.path)][method] = Operation(route);
  }
  json doc = {
      {"openapi", "3.0.3"},
      {"info",
       {{"title", info.title}, {"version", info.version}, {"description", info.description}}},
      {"servers", json::array({{{"url", std::string(kApiRoot)}}})},
      {"paths", paths},
      {"components",
       {{"schemas", {{"Error", ErrorSchema()}}},
        {"securitySchemes",
         {{"ticket", {{"type", "apiKey"}, {"in", "cookie"}, {"name", "PVEAuthCookie"}}},
          {"token",
           {{"type", "apiKey"},
            {"in", "header"},
            {"name", "Authorization"},
            {"description", "PVEAPIToken=USER@REALM!NAME=SECRET"}}}}}}}};
  return doc;
}

}  // namespace ctdump::api
