// The API server's authentication and authorization state
// (docs/design/api-server.md §2): user.cfg and token.shadow (re-read when
// they change on disk), the ticket and CSRF keys, the login limits, the
// audit log, and the PAM check.
//
// Credentials are looked up as pveproxy does: the cookie PVEAuthCookie,
// then `Authorization: PVEAuthCookie=<ticket>`, then `Authorization:
// PVEAPIToken=USER@REALM!NAME=SECRET` (or CTDUMPAPIToken=). Nothing a client
// sees says which part of a credential was wrong; the audit log does.
//
// Thread-safety: every method may be called from any request thread.
#ifndef CTDUMP_SERVER_ACCESS_STATE_H_
#define CTDUMP_SERVER_ACCESS_STATE_H_

#include <sys/stat.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "access/audit_log.h"
#include "access/login_limiter.h"
#include "access/roles.h"
#include "access/ticket.h"
#include "access/token_shadow.h"
#include "access/user_cfg.h"
#include "api/router.h"
#include "ctdump/status.h"

namespace ctdump::server {

// Checks a Linux password (the pam realm): OK or an error whose message
// is the reason for the audit log, never for the client.
using PasswordCheck = std::function<Status(const std::string& user, const std::string& password,
                                           const std::string& rhost)>;

struct Identity {
  api::Caller caller;
  bool by_ticket = false;  // a ticket (cookie or header): writes need the CSRF token
};

// The headers the proxy forwards, lower-case names.
using RequestHeaders = std::map<std::string, std::string>;

struct LoginResult {
  std::string username;
  std::string ticket;
  std::string csrf_token;
  nlohmann::json cap;
  bool renewed = false;  // a ticket renewal, no password checked
};

class AccessState {
 public:
  // `config_dir` holds user.cfg and priv/; `audit_log_path` may be "" (no
  // audit log: tests).
  static Result<std::unique_ptr<AccessState>> Open(const std::string& config_dir,
                                                   const std::string& audit_log_path,
                                                   PasswordCheck password_check);

  // The identity behind the request's credentials. Unauthenticated with
  // "No ticket" when there are none, "Authentication failed!" when they
  // are wrong (a bad ticket, an unknown or expired token, a disabled user).
  Result<Identity> Authenticate(const RequestHeaders& headers, std::string_view client,
                                int64_t now);

  // Whether a write authenticated by a ticket carries a valid CSRF token.
  bool CheckCsrf(const Identity& id, const RequestHeaders& headers, int64_t now);

  // The caller's privileges on `path`.
  access::PrivSet Privileges(const api::Caller& caller, std::string_view path, int64_t now);
  bool Allowed(const api::Caller& caller, std::string_view path, std::string_view privilege);

  // POST /access/ticket. `password` may be a valid ticket of the same user
  // (or of root@pam): a renewal. An empty password with the request's own
  // ticket cookie and a valid CSRF token renews too (the console's HttpOnly
  // cookie). Every failure is Unauthenticated "authentication failure";
  // the reason goes to the audit log.
  Result<LoginResult> Login(const std::string& username, const std::string& password,
                            const RequestHeaders& headers, std::string_view client, int64_t now);

  // Writes one audit line (if there is an audit log); errors go to stderr.
  void Audit(int64_t now, std::string_view event, const access::AuditFields& fields);

 private:
  AccessState() = default;
  // The current user.cfg and token.shadow, re-read when changed.
  std::shared_ptr<const access::UserConfig> Users();
  std::shared_ptr<const access::TokenShadow> Shadow();
  nlohmann::json Capabilities(const std::string& authid, int64_t now);
  std::optional<std::string> TicketOf(const RequestHeaders& headers) const;

  struct Watched {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    struct timespec mtime = {};
  };

  std::string config_dir_;
  PasswordCheck password_check_;
  std::optional<access::AuditLog> audit_;
  access::LoginLimiter limiter_;
  std::mutex mu_;  // guards what follows
  std::shared_ptr<const access::UserConfig> users_;
  Watched users_stat_;
  std::shared_ptr<const access::TokenShadow> shadow_;
  Watched shadow_stat_;
  std::unique_ptr<access::TicketKeys> keys_;
  std::unique_ptr<access::CsrfKey> csrf_;
};

// The pam realm's check through `<program> __pam-auth` (a helper process
// per login: a PAM module that misbehaves hurts only it), at most 4 at
// once, each killed after 10 s.
PasswordCheck PamHelperCheck(std::string program);

}  // namespace ctdump::server

#endif  // CTDUMP_SERVER_ACCESS_STATE_H_
