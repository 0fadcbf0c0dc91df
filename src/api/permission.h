// Who may call a route, as plain data.
//
// The api module only describes permissions; the server evaluates them with
// the `access` module (ACLs, roles, tokens) before the handler runs. Handlers
// add the checks that depend on data (the owner of a backup, each container of
// a vzdump call), which a Permission names as a Custom rule.
//
//   Anonymous      no authentication (/access/ticket, /access/domains)
//   Authenticated  any valid ticket or token
//   Privs          one of `any_of` holds: a PrivCheck holds when the caller has
//                  all (or, with `any`, one) of its privileges on its ACL path
//   OwnerOr        the caller owns the object (a task: its user, or a token of
//                  it), or one of `any_of` holds
//   Custom         `rule` (documented prose) is checked by the handler;
//                  `any_of`, if given, is checked first
//
// ACL paths are templates: "/vms/{vmid}" takes the checked value of the
// route's parameter `vmid`. A denial is 403 "Permission check failed (<path>,
// <privilege>)" (response.h PermissionError).
#ifndef CTDUMP_API_PERMISSION_H_
#define CTDUMP_API_PERMISSION_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ctdump::api {

struct PrivCheck {
  std::string path{};                // ACL path template, "/storage/{storage}"
  std::vector<std::string> privs{};  // "Datastore.Audit", ...
  bool any = false;                  // one of privs suffices (else all)
};

struct Permission {
  enum class Kind { kAnonymous, kAuthenticated, kPrivs, kOwnerOr, kCustom };
  Kind kind = Kind::kAuthenticated;
  std::vector<PrivCheck> any_of{};
  std::string rule{};  // kCustom: what the handler checks; others: an optional note

  static Permission Anonymous() { return {Kind::kAnonymous, {}, {}}; }
  static Permission Authenticated(std::string note = {}) {
    return {Kind::kAuthenticated, {}, std::move(note)};
  }
  static Permission Privs(std::vector<PrivCheck> any_of) {
    return {Kind::kPrivs, std::move(any_of), {}};
  }
  static Permission OwnerOr(std::vector<PrivCheck> any_of) {
    return {Kind::kOwnerOr, std::move(any_of), {}};
  }
  static Permission Custom(std::string rule, std::vector<PrivCheck> any_of = {}) {
    return {Kind::kCustom, std::move(any_of), std::move(rule)};
  }
};

// "anonymous", "authenticated", "privs", "owner-or", "custom".
std::string_view PermissionKindName(Permission::Kind kind);

// The ACL path of `path_template` with each "{name}" replaced by the string
// (or number) `params[name]`; nullopt if a name is missing or its value
// would add a path component (contains '/'), so a value cannot move the
// check to another object.
std::optional<std::string> ExpandAclPath(std::string_view path_template,
                                         const nlohmann::json& params);

// The permission as JSON, for OpenAPI and `__api-dump`:
// {"kind":"privs","any_of":[{"path":...,"privs":[...],"any":false}],"rule":...}.
nlohmann::json PermissionToJson(const Permission& permission);

}  // namespace ctdump::api

#endif  // CTDUMP_API_PERMISSION_H_
