// ACL evaluation as PVE's (pve-access-control AccessControl.pm `roles`,
// `permission`; PVE/RPCEnvironment.pm `permissions`):
//
// - The walk goes from "/" down to the path, one component at a time. At each
//   level the entries that apply there (all at the path itself, only
//   `propagate 1` ones above it) *replace* what the levels above gave:
//   first the subject's own entries; only when it has none at that level, the
//   entries of the groups it is a member of (all of them, unioned).
// - The roles of one level are unioned. If NoAccess is among the final
//   roles, the subject has nothing.
// - root@pam is Administrator everywhere.
// - A token with privsep 1 has the intersection of its own ACL (evaluated as
//   above, tokens are never group members) and its user's privileges; with
//   privsep 0 it has its user's.
// - A subject that cannot authenticate (CheckEnabled) has nothing.
//
// Pure; thread-safe.
#ifndef CTDUMP_ACCESS_ACL_H_
#define CTDUMP_ACCESS_ACL_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "access/roles.h"
#include "access/user_cfg.h"
#include "ctdump/status.h"

namespace ctdump::access {

// Whether `authid` (a user or token id) may authenticate at `now`: the user
// has an enabled, unexpired `user:` line (root@pam needs none; if it has one,
// that line counts), and for a token, its `token:` line exists and has not
// expired. PermissionDenied with the reason otherwise (for logs; never shown
// to a client).
Status CheckEnabled(const UserConfig& cfg, std::string_view authid, int64_t now);

// The roles `authid` has on `path` through the ACL walk (no privsep
// intersection, no enable check), with their propagate flag: PVE's `roles`.
std::map<std::string, bool, std::less<>> AclRoles(const UserConfig& cfg, std::string_view authid,
                                                  std::string_view path);

// The privileges `authid` has on `path` at `now` (the rules above). An
// invalid path gives nothing.
PrivSet Permissions(const UserConfig& cfg, std::string_view authid, std::string_view path,
                    int64_t now);

}  // namespace ctdump::access

#endif  // CTDUMP_ACCESS_ACL_H_
