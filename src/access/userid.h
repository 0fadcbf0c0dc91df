// Identities of PVE's access model: users `USER@REALM` and API tokens
// `USER@REALM!NAME`, with PVE's validation rules (pve-access-control
// AccessControl.pm: verify_username, pve_verify_tokenid, verify_groupname,
// verify_rolename), made stricter where PVE's rules would let a name break
// ctdump's files or logs: no control characters and no `,` (the separator of
// user.cfg's member lists) in the user part.
//
//   user part   1+ characters, none of whitespace, control, ':', '/', ','
//   realm       [A-Za-z][A-Za-z0-9.\-_]+
//   userid      <user>@<realm>, shorter than 64 characters; split at the last '@'
//   token name  [A-Za-z][A-Za-z0-9.\-_]+
//   token id    <userid>!<token name>; split at the last '!'
//   group id    [A-Za-z0-9.\-_]+
//   role id     [A-Za-z0-9.\-_]+
//
// Pure; thread-safe.
#ifndef CTDUMP_ACCESS_USERID_H_
#define CTDUMP_ACCESS_USERID_H_

#include <string>
#include <string_view>

#include "ctdump/status.h"

namespace ctdump::access {

inline constexpr std::string_view kRootUser = "root@pam";
inline constexpr size_t kMaxUserIdLength = 63;

struct UserId {
  std::string name;   // "alice"
  std::string realm;  // "pam"
  std::string full;   // "alice@pam"
};

struct TokenId {
  std::string userid;  // "backup@ctdump"
  std::string name;    // "ci"
  std::string full;    // "backup@ctdump!ci"
};

// InvalidArgument "invalid user id '<s>': <why>" (the text is escaped).
Result<UserId> ParseUserId(std::string_view s);
// InvalidArgument "invalid token id '<s>': <why>".
Result<TokenId> ParseTokenId(std::string_view s);
// InvalidArgument "invalid token name '<s>'".
Status CheckTokenName(std::string_view s);
Status CheckGroupId(std::string_view s);
Status CheckRoleId(std::string_view s);

// Whether `authid` names a token (contains '!'); it may still be invalid.
bool IsTokenId(std::string_view authid);

// `s` with control characters and non-ASCII bytes shown as \xHH, cut at 80
// characters: for putting untrusted names into messages.
std::string Printable(std::string_view s);

}  // namespace ctdump::access

#endif  // CTDUMP_ACCESS_USERID_H_
