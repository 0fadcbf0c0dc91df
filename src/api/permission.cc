#include "api/permission.h"

namespace ctdump::api {

using nlohmann::json;

std::string_view PermissionKindName(Permission::Kind kind) {
  switch (kind) {
    case Permission::Kind::kAnonymous:
      return "anonymous";
    case Permission::Kind::kAuthenticated:
      return "authenticated";
    case Permission::Kind::kPrivs:
      return "privs";
    case Permission::Kind::kOwnerOr:
      return "owner-or";
    case Permission::Kind::kCustom:
      return "custom";
  }
  return "custom";
}

std::optional<std::string> ExpandAclPath(std::string_view path_template, const json& params) {
  std::string out;
  size_t i = 0;
  while (i < path_template.size()) {
    size_t open = path_template.find('{', i);
    if (open == std::string_view::npos) {
      out.append(path_template.substr(i));
      break;
    }
    size_t close = path_template.find('}', open);
    if (close == std::string_view::npos) return std::nullopt;
    out.append(path_template.substr(i, open - i));
    std::string name(path_template.substr(open + 1, close - open - 1));
    auto it = params.is_object() ? params.find(name) : params.end();
    if (it == params.end()) return std::nullopt;
    std::string value;
    if (it->is_string()) {
      value = it->get<std::string>();
    } else if (it->is_number()) {
      value = it->dump();
    } else {
      return std::nullopt;
    }
    if (value.empty() || value.find('/') != std::string::npos) return std::nullopt;
    out += value;
    i = close + 1;
  }
  return out;
}

json PermissionToJson(const Permission& permission) {
  json out = {{"kind", PermissionKindName(permission.kind)}};
  if (!permission.any_of.empty()) {
    json list = json::array();
    for (const PrivCheck& c : permission.any_of)
      list.push_back({{"path", c.path}, {"privs", c.privs}, {"any", c.any}});
    out["any_of"] = std::move(list);
  }
  if (!permission.rule.empty()) out["rule"] = permission.rule;
  return out;
}

}  // namespace ctdump::api
