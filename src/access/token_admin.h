// `ctdump token add|list|remove`: API tokens in `<config-dir>/user.cfg`
// (`token:` lines) and their secrets' hashes in `<config-dir>/priv/token.shadow`.
//
// Both files are replaced atomically (temp file, fsync, rename) while holding
// a flock on `<config-dir>/user.cfg.lock`, so concurrent edits serialize.
// add writes token.shadow before user.cfg and remove edits user.cfg first: a
// crash between the two leaves at most a hash without a token (harmless),
// never a token without its secret. user.cfg keeps its mode (0640 when new);
// token.shadow is 0600, priv/ 0700. Problems in user.cfg's other lines are
// passed to `warn` and their lines kept as they are.
#ifndef CTDUMP_ACCESS_TOKEN_ADMIN_H_
#define CTDUMP_ACCESS_TOKEN_ADMIN_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "access/user_cfg.h"
#include "ctdump/status.h"

namespace ctdump::access {

using WarnFn = std::function<void(const std::string&)>;

struct TokenAddOptions {
  bool privsep = true;  // --privsep, PVE's default 1
  int64_t expire = 0;   // --expire, Unix seconds; 0: never
  std::string comment;  // --comment
};

struct NewToken {
  Token token;
  std::string secret;  // the UUID, shown once
};

// Adds token `name` of `userid`. InvalidArgument for a bad user id, token
// name or negative expire; FailedPrecondition when the user has no `user:`
// line (root@pam excepted), naming the line to add; AlreadyExists "Token
// already exists.".
Result<NewToken> AddToken(const std::string& config_dir, const std::string& userid,
                          const std::string& name, const TokenAddOptions& options,
                          const WarnFn& warn);
// The tokens of `userid` (by name).
Result<std::vector<Token>> ListTokens(const std::string& config_dir, const std::string& userid,
                                      const WarnFn& warn);
// Removes token `name` of `userid` from both files; NotFound when user.cfg
// has no such token.
Status RemoveToken(const std::string& config_dir, const std::string& userid,
                   const std::string& name, const WarnFn& warn);

}  // namespace ctdump::access

#endif  // CTDUMP_ACCESS_TOKEN_ADMIN_H_
