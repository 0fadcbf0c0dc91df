// user.cfg in PVE's format (docs/design/pve-api-facts.md §3): one entry per
// line, fields separated by ':' and trimmed; free text (names, comments) is
// percent-encoded (PVE::Tools::encode_text: bytes 0x00-0x20, 0x7f-0xff, ':'
// and '%').
//
//   user:<userid>:<enable 0|1>:<expire epoch|0>:<first>:<last>:<email>:<comment>:<keys>:
//   token:<userid>!<name>:<expire epoch|0>:<privsep 0|1>:<comment>:
//   group:<groupid>:<userid,userid,...>:<comment>:
//   role:<roleid>:<Priv.A,Priv.B,...>:
//   acl:<propagate 0|1>:<path>:<userid|@group|tokenid,...>:<Role,Role>:
//   pool:...          accepted and ignored (ctdump has no pools)
//
// Blank lines and lines starting with '#' are skipped. A line that does not
// parse (or a part of it: one unknown ACL member, one bad privilege name) is
// reported as "<file>:<line>: <why>" in problems() and left out; the rest stays
// in force. A token of a user without a `user:` line is left out, except for
// root@pam (who needs no `user:` line in ctdump); so is an ACL member or role
// that no line defines.
//
// Editing keeps the file as it was but for the edited line: every other line
// (unknown ones, comments, pools, the order) is written back unchanged. A
// UserConfig is a value; const methods are thread-safe.
#ifndef CTDUMP_ACCESS_USER_CFG_H_
#define CTDUMP_ACCESS_USER_CFG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "access/roles.h"
#include "ctdump/status.h"

namespace ctdump::access {

struct User {
  std::string userid;
  bool enable = true;
  int64_t expire = 0;  // Unix seconds; 0: never
  std::string firstname, lastname, email, comment, keys;
  int line = 0;  // in the file, 1-based
};

struct Token {
  std::string tokenid;  // "backup@ctdump!ci"
  std::string userid;   // "backup@ctdump"
  std::string name;     // "ci"
  int64_t expire = 0;   // Unix seconds; 0: never
  bool privsep = true;  // the token's own ACL intersected with its user's
  std::string comment;
  int line = 0;
};

struct Group {
  std::string groupid;
  std::vector<std::string> members;  // user ids
  std::string comment;
  int line = 0;
};

struct Role {
  std::string roleid;
  PrivSet privs;                   // the privileges ctdump checks
  std::vector<std::string> names;  // every name of the line, as written
  int line = 0;
};

struct AclEntry {
  bool propagate = true;
  std::string path;                   // normalized: "/", "/vms/web"
  std::vector<std::string> subjects;  // "alice@pam", "@admins", "backup@ctdump!ci"
  std::vector<std::string> roles;
  int line = 0;
};

// PVE's encode_text / decode_text.
std::string EncodeText(std::string_view text);
std::string DecodeText(std::string_view text);

// PVE's normalize_path: "/" + path, runs of '/' collapsed, no trailing '/';
// InvalidArgument unless the result is / followed by [A-Za-z0-9.\-_/]*.
Result<std::string> NormalizeAclPath(std::string_view path);

// The `token:` line of `t` (without the newline).
std::string FormatTokenLine(const Token& t);

class UserConfig {
 public:
  UserConfig() = default;

  // `file` names the text in problems.
  static UserConfig Parse(std::string_view text, std::string_view file);
  // Reads and parses `path`; a missing file is an empty configuration.
  static Result<UserConfig> Load(const std::string& path);

  // "<file>:<line>: <why>" for each line or part left out.
  const std::vector<std::string>& problems() const { return problems_; }

  const std::map<std::string, User, std::less<>>& users() const { return users_; }
  const std::map<std::string, Token, std::less<>>& tokens() const { return tokens_; }
  const std::map<std::string, Group, std::less<>>& groups() const { return groups_; }
  const std::map<std::string, Role, std::less<>>& roles() const { return roles_; }
  const std::vector<AclEntry>& acl() const { return acl_; }

  const User* FindUser(std::string_view userid) const;
  const Token* FindToken(std::string_view tokenid) const;
  std::vector<Token> TokensOf(std::string_view userid) const;
  bool InGroup(std::string_view groupid, std::string_view userid) const;
  // The privileges of a built-in or a `role:` role; nullopt if neither.
  std::optional<PrivSet> RolePrivs(std::string_view roleid) const;

  // Adds `t`'s line after its user's last `user:`/`token:` line (or after the
  // last such line of any user for root@pam without one). FailedPrecondition
  // when the user has no `user:` line (root@pam excepted), naming the line to
  // add; AlreadyExists "Token already exists." when the token does.
  Status AddToken(const Token& t);
  // Removes the token's line; false when there is none.
  bool RemoveToken(std::string_view tokenid);

  // The file's text: every line as read, edits applied, '\n'-terminated.
  std::string Serialize() const;

 private:
  void ParseLines();
  void ParseLine(std::string_view line, int number);
  void Resolve();
  void Problem(int line, std::string_view why);

  std::string file_;
  std::vector<std::string> lines_;
  std::vector<std::string> problems_;
  std::map<std::string, User, std::less<>> users_;
  std::map<std::string, Token, std::less<>> tokens_;
  std::map<std::string, Group, std::less<>> groups_;
  std::map<std::string, Role, std::less<>> roles_;
  std::vector<AclEntry> acl_;
};

}  // namespace ctdump::access

#endif  // CTDUMP_ACCESS_USER_CFG_H_
