#include "access/token_admin.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <chrono>

#include "access/random.h"
#include "access/token_shadow.h"
#include "access/userid.h"
#include "sys/file.h"
#include "sys/lock_file.h"

namespace ctdump::access {
namespace {

constexpr std::chrono::seconds kLockWait{30};

struct Files {
  std::string user_cfg, shadow, priv, lock;
};

Files FilesOf(const std::string& dir) {
  return {dir + "/user.cfg", dir + "/priv/token.shadow", dir + "/priv", dir + "/user.cfg.lock"};
}

Result<sys::LockFile> Lock(const Files& f, const WarnFn& warn) {
  return sys::LockFile::Acquire(f.lock, kLockWait, [&warn](const std::string& m) {
    if (warn) warn(m);
  });
}

Result<UserConfig> LoadConfig(const Files& f, const WarnFn& warn) {
  ASSIGN_OR_RETURN(UserConfig cfg, UserConfig::Load(f.user_cfg));
  if (warn)
    for (const std::string& p : cfg.problems()) warn(p);
  return cfg;
}

Result<TokenShadow> LoadShadow(const Files& f, const WarnFn& warn) {
  ASSIGN_OR_RETURN(TokenShadow shadow, TokenShadow::Load(f.shadow));
  if (warn)
    for (const std::string& p : shadow.problems()) warn(p);
  return shadow;
}

Status SaveConfig(const Files& f, const UserConfig& cfg) {
  struct stat st;
  mode_t mode = ::stat(f.user_cfg.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0640;
  return sys::WriteFileAtomic(f.user_cfg, cfg.Serialize(), mode);
}

Result<TokenId> CheckIds(const std::string& userid, const std::string& name) {
  ASSIGN_OR_RETURN(UserId user, ParseUserId(userid));
  RETURN_IF_ERROR(CheckTokenName(name));
  return ParseTokenId(user.full + "!" + name);
}

}  // namespace

Result<NewToken> AddToken(const std::string& config_dir, const std::string& userid,
                          const std::string& name, const TokenAddOptions& options,
                          const WarnFn& warn) {
  ASSIGN_OR_RETURN(TokenId id, CheckIds(userid, name));
  if (options.expire < 0) return InvalidArgumentError("--expire must not be negative");
  Files f = FilesOf(config_dir);
  RETURN_IF_ERROR(sys::MakeDirs(f.priv, 0700));
  ASSIGN_OR_RETURN(sys::LockFile lock, Lock(f, warn));
  ASSIGN_OR_RETURN(UserConfig cfg, LoadConfig(f, warn));
  Token t{id.full, id.userid, id.name, options.expire, options.privsep, options.comment, 0};
  RETURN_IF_ERROR(cfg.AddToken(t));
  ASSIGN_OR_RETURN(TokenShadow shadow, LoadShadow(f, warn));
  ASSIGN_OR_RETURN(std::string secret, NewUuidV4());
  shadow.Set(id.full, secret);
  RETURN_IF_ERROR(sys::WriteFileAtomic(f.shadow, shadow.Serialize(), 0600));
  RETURN_IF_ERROR(SaveConfig(f, cfg));
  return NewToken{*cfg.FindToken(id.full), std::move(secret)};
}

Result<std::vector<Token>> ListTokens(const std::string& config_dir, const std::string& userid,
                                      const WarnFn& warn) {
  ASSIGN_OR_RETURN(UserId user, ParseUserId(userid));
  ASSIGN_OR_RETURN(UserConfig cfg, LoadConfig(FilesOf(config_dir), warn));
  return cfg.TokensOf(user.full);
}

Status RemoveToken(const std::string& config_dir, const std::string& userid,
                   const std::string& name, const WarnFn& warn) {
  ASSIGN_OR_RETURN(TokenId id, CheckIds(userid, name));
  Files f = FilesOf(config_dir);
  if (!sys::PathExists(f.user_cfg))
    return NotFoundError(fmt::format("no token '{}' in {}", id.full, f.user_cfg));
  ASSIGN_OR_RETURN(sys::LockFile lock, Lock(f, warn));
  ASSIGN_OR_RETURN(UserConfig cfg, LoadConfig(f, warn));
  if (!cfg.RemoveToken(id.full))
    return NotFoundError(fmt::format("no token '{}' in {}", id.full, f.user_cfg));
  RETURN_IF_ERROR(SaveConfig(f, cfg));
  ASSIGN_OR_RETURN(TokenShadow shadow, LoadShadow(f, warn));
  if (shadow.Remove(id.full))
    RETURN_IF_ERROR(sys::WriteFileAtomic(f.shadow, shadow.Serialize(), 0600));
  return Status::OK();
}

}  // namespace ctdump::access
