#include "access/acl.h"

#include <fmt/format.h>

#include <vector>

#include "access/userid.h"

namespace ctdump::access {
namespace {

using RoleMap = std::map<std::string, bool, std::less<>>;

Status CheckUser(const UserConfig& cfg, std::string_view userid, int64_t now) {
  const User* u = cfg.FindUser(userid);
  if (u == nullptr) {
    if (userid == kRootUser) return Status::OK();
    return PermissionDeniedError(fmt::format("user '{}' has no user: line", Printable(userid)));
  }
  if (!u->enable) return PermissionDeniedError(fmt::format("user '{}' is disabled", u->userid));
  if (u->expire != 0 && u->expire < now)
    return PermissionDeniedError(fmt::format("user '{}': account expired", u->userid));
  return Status::OK();
}

// The prefixes the walk visits: "/", "/vms", "/vms/web".
std::vector<std::string> Levels(const std::string& path) {
  std::vector<std::string> out = {"/"};
  for (size_t i = 1; i <= path.size(); ++i)
    if (i == path.size() || path[i] == '/') {
      if (i > 1) out.push_back(path.substr(0, i));
    }
  return out;
}

bool HasSubject(const AclEntry& e, std::string_view subject) {
  for (const std::string& s : e.subjects)
    if (s == subject) return true;
  return false;
}

// The roles that entries matching `match` give at `level` (final: the path
// itself, where propagate 0 entries apply too).
template <typename Match>
RoleMap LevelRoles(const UserConfig& cfg, const std::string& level, bool final, Match match) {
  RoleMap roles;
  for (const AclEntry& e : cfg.acl()) {
    if (e.path != level || !(final || e.propagate) || !match(e)) continue;
    for (const std::string& r : e.roles) roles[r] = e.propagate;
  }
  return roles;
}

PrivSet PrivsOf(const UserConfig& cfg, const RoleMap& roles) {
  PrivSet privs;
  for (const auto& [role, propagate] : roles)
    if (std::optional<PrivSet> p = cfg.RolePrivs(role)) privs |= *p;
  return privs;
}

}  // namespace

Status CheckEnabled(const UserConfig& cfg, std::string_view authid, int64_t now) {
  if (!IsTokenId(authid)) return CheckUser(cfg, authid, now);
  const Token* t = cfg.FindToken(authid);
  if (t == nullptr)
    return PermissionDeniedError(fmt::format("token '{}' does not exist", Printable(authid)));
  RETURN_IF_ERROR(CheckUser(cfg, t->userid, now));
  if (t->expire != 0 && t->expire < now)
    return PermissionDeniedError(fmt::format("token '{}' expired", t->tokenid));
  return Status::OK();
}

RoleMap AclRoles(const UserConfig& cfg, std::string_view authid, std::string_view path) {
  if (authid == kRootUser) return {{std::string(kAdministratorRole), true}};
  Result<std::string> norm = NormalizeAclPath(path);
  if (!norm.ok()) return {};
  std::vector<std::string> levels = Levels(*norm);
  RoleMap roles;
  for (size_t i = 0; i < levels.size(); ++i) {
    bool final = i + 1 == levels.size();
    RoleMap own = LevelRoles(cfg, levels[i], final,
                             [authid](const AclEntry& e) { return HasSubject(e, authid); });
    if (!own.empty()) {
      roles = std::move(own);
      continue;
    }
    RoleMap groups = LevelRoles(cfg, levels[i], final, [&](const AclEntry& e) {
      for (const std::string& s : e.subjects)
        if (s[0] == '@' && cfg.InGroup(std::string_view(s).substr(1), authid)) return true;
      return false;
    });
    if (!groups.empty()) roles = std::move(groups);
  }
  if (auto it = roles.find(kNoAccessRole); it != roles.end()) return {{it->first, it->second}};
  return roles;
}

PrivSet Permissions(const UserConfig& cfg, std::string_view authid, std::string_view path,
                    int64_t now) {
  if (!CheckEnabled(cfg, authid, now).ok()) return PrivSet();
  if (!IsTokenId(authid)) return PrivsOf(cfg, AclRoles(cfg, authid, path));
  const Token* t = cfg.FindToken(authid);
  PrivSet user = PrivsOf(cfg, AclRoles(cfg, t->userid, path));
  if (!t->privsep) return user;
  return user & PrivsOf(cfg, AclRoles(cfg, authid, path));
}

}  // namespace ctdump::access
