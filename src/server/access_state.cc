#include "server/access_state.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>

#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "access/acl.h"
#include "access/token_auth.h"
#include "access/userid.h"
#include "api/request.h"
#include "sys/subprocess.h"

namespace ctdump::server {
namespace {

constexpr std::string_view kCookieName = "PVEAuthCookie";
constexpr std::string_view kLoginFailure = "authentication failure";
constexpr std::string_view kRootUser = "root@pam";

Status NoTicket() { return PermissionDeniedError("No ticket"); }
Status AuthFailed() { return PermissionDeniedError("Authentication failed!"); }

// The value of cookie `name` in a Cookie header, as pveproxy extracts it:
// (?:^|\s)NAME=([^;]*), percent-decoded.
std::optional<std::string> CookieValue(std::string_view header, std::string_view name) {
  for (size_t pos = 0; (pos = header.find(name, pos)) != std::string_view::npos; pos += 1) {
    bool start =
        pos == 0 || header[pos - 1] == ' ' || header[pos - 1] == '\t' || header[pos - 1] == ';';
    if (!start || pos + name.size() >= header.size() || header[pos + name.size()] != '=') continue;
    std::string_view v = header.substr(pos + name.size() + 1);
    return api::PercentDecode(v.substr(0, v.find(';')));
  }
  return std::nullopt;
}

std::string AuthId(const api::Caller& c) {
  return c.tokenid.empty() ? c.userid : c.userid + "!" + c.tokenid;
}

}  // namespace

Result<std::unique_ptr<AccessState>> AccessState::Open(const std::string& config_dir,
                                                       const std::string& audit_log_path,
                                                       PasswordCheck password_check) {
  std::unique_ptr<AccessState> s(new AccessState());
  s->config_dir_ = config_dir;
  s->password_check_ = std::move(password_check);
  int64_t now = ::time(nullptr);
  ASSIGN_OR_RETURN(access::TicketKeys keys,
                   access::TicketKeys::LoadOrCreate(config_dir + "/priv/authkey.key", now));
  s->keys_ = std::make_unique<access::TicketKeys>(std::move(keys));
  ASSIGN_OR_RETURN(access::CsrfKey csrf,
                   access::CsrfKey::LoadOrCreate(config_dir + "/priv/csrf.key"));
  s->csrf_ = std::make_unique<access::CsrfKey>(std::move(csrf));
  if (!audit_log_path.empty()) {
    ASSIGN_OR_RETURN(access::AuditLog log, access::AuditLog::Open(audit_log_path));
    s->audit_.emplace(std::move(log));
  }
  return s;
}

std::shared_ptr<const access::UserConfig> AccessState::Users() {
  std::string path = config_dir_ + "/user.cfg";
  struct stat st = {};
  bool exists = ::stat(path.c_str(), &st) == 0;
  std::lock_guard<std::mutex> lock(mu_);
  Watched now{exists ? st.st_dev : 0, exists ? st.st_ino : 0, exists ? st.st_size : -1,
              exists ? st.st_mtim : timespec{}};
  bool same = users_ && now.dev == users_stat_.dev && now.ino == users_stat_.ino &&
              now.size == users_stat_.size && now.mtime.tv_sec == users_stat_.mtime.tv_sec &&
              now.mtime.tv_nsec == users_stat_.mtime.tv_nsec;
  if (same) return users_;
  auto cfg = access::UserConfig::Load(path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "API: %s (the previous user.cfg stays in force)\n",
                 cfg.status().message().c_str());
    if (users_) return users_;
    users_ = std::make_shared<access::UserConfig>(access::UserConfig::Parse("", path));
    return users_;
  }
  for (const auto& p : cfg->problems()) std::fprintf(stderr, "API: %s\n", p.c_str());
  users_ = std::make_shared<access::UserConfig>(std::move(*cfg));
  users_stat_ = now;
  return users_;
}

std::shared_ptr<const access::TokenShadow> AccessState::Shadow() {
  std::string path = config_dir_ + "/priv/token.shadow";
  struct stat st = {};
  bool exists = ::stat(path.c_str(), &st) == 0;
  std::lock_guard<std::mutex> lock(mu_);
  Watched now{exists ? st.st_dev : 0, exists ? st.st_ino : 0, exists ? st.st_size : -1,
              exists ? st.st_mtim : timespec{}};
  bool same = shadow_ && now.dev == shadow_stat_.dev && now.ino == shadow_stat_.ino &&
              now.size == shadow_stat_.size && now.mtime.tv_sec == shadow_stat_.mtime.tv_sec &&
              now.mtime.tv_nsec == shadow_stat_.mtime.tv_nsec;
  if (same) return shadow_;
  auto sh = access::TokenShadow::Load(path);
  if (!sh.ok()) {
    std::fprintf(stderr, "API: %s\n", sh.status().message().c_str());
    if (!shadow_)
      shadow_ = std::make_shared<access::TokenShadow>(access::TokenShadow::Parse("", path));
    return shadow_;
  }
  shadow_ = std::make_shared<access::TokenShadow>(std::move(*sh));
  shadow_stat_ = now;
  return shadow_;
}

std::optional<std::string> AccessState::TicketOf(const RequestHeaders& headers) const {
  auto cookie = headers.find("cookie");
  if (cookie != headers.end())
    if (auto v = CookieValue(cookie->second, kCookieName)) return v;
  auto auth = headers.find("authorization");
  if (auth != headers.end())
    if (auto v = CookieValue(auth->second, kCookieName)) return v;
  return std::nullopt;
}

Result<Identity> AccessState::Authenticate(const RequestHeaders& headers, std::string_view client,
                                           int64_t now) {
  auto users = Users();
  if (auto ticket = TicketOf(headers)) {
    Result<std::string> user = [&]() -> Result<std::string> {
      std::lock_guard<std::mutex> lock(mu_);
      return keys_->Verify(*ticket, now);
    }();
    Status s = user.ok() ? access::CheckEnabled(*users, *user, now) : user.status();
    if (!s.ok()) {
      Audit(now, "auth-fail",
            {{"client", std::string(client)}, {"reason", "ticket: " + s.message()}});
      return AuthFailed();
    }
    Identity id;
    id.caller.userid = *user;
    id.by_ticket = true;
    return id;
  }
  auto auth = headers.find("authorization");
  if (auth == headers.end()) return NoTicket();
  auto token = access::ParseTokenHeader(auth->second);
  if (!token) return NoTicket();
  auto shadow = Shadow();
  Status s = access::AuthenticateToken(*users, *shadow, token->tokenid, token->secret, now);
  auto parsed = access::ParseTokenId(token->tokenid);
  if (!s.ok() || !parsed.ok()) {
    Audit(now, "auth-fail",
          {{"client", std::string(client)},
           {"user", access::Printable(token->tokenid)},
           {"reason", "token: " + (s.ok() ? parsed.status().message() : s.message())}});
    return AuthFailed();
  }
  Identity id;
  id.caller.userid = parsed->userid;
  id.caller.tokenid = parsed->name;
  return id;
}

bool AccessState::CheckCsrf(const Identity& id, const RequestHeaders& headers, int64_t now) {
  if (!id.by_ticket) return true;
  auto it = headers.find("csrfpreventiontoken");
  if (it == headers.end()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return csrf_->Verify(it->second, id.caller.userid, now);
}

access::PrivSet AccessState::Privileges(const api::Caller& caller, std::string_view path,
                                        int64_t now) {
  auto users = Users();
  return access::Permissions(*users, AuthId(caller), path, now);
}

bool AccessState::Allowed(const api::Caller& caller, std::string_view path,
                          std::string_view privilege) {
  auto priv = access::PrivFromName(privilege);
  if (!priv) return false;
  return Privileges(caller, path, ::time(nullptr)).Has(*priv);
}

nlohmann::json AccessState::Capabilities(const std::string& authid, int64_t now) {
  // PVE's RPCEnvironment::compute_api_permission: the privileges on PVE's
  // fixed category paths and on every path an ACL entry names, each path
  // counted for the category of its first component ("/" is "dc"), keeping
  // only the privileges that category shows.
  struct Category {
    const char* name;
    std::vector<std::string_view> prefixes;  // of the privilege names shown
  };
  static const Category kCategories[] = {
      {"vms", {"VM.", "Permissions.Modify"}},
      {"access", {"User.", "Group.", "Permissions.Modify"}},
      {"storage", {"Datastore.", "Permissions.Modify"}},
      {"nodes", {"Sys.", "Permissions.Modify"}},
      {"sdn", {"SDN.", "Permissions.Modify"}},
      {"dc", {"Sys.Audit", "Sys.Modify", "SDN."}},
      {"mapping", {"Mapping.", "Permissions.Modify"}},
  };
  auto users = Users();
  nlohmann::json cap = nlohmann::json::object();
  for (const Category& c : kCategories) cap[c.name] = nlohmann::json::object();
  std::vector<std::string> paths = {"/",        "/nodes", "/access/groups", "/vms",
                                    "/storage", "/sdn",   "/mapping"};
  for (const access::AclEntry& e : users->acl()) paths.push_back(e.path);
  std::set<std::string> checked;
  for (const std::string& path : paths) {
    if (!checked.insert(path).second) continue;
    // PVE: ($path =~ /^\/(\w+)/) ? $1 : 'dc'
    size_t end = 1;
    while (end < path.size() &&
           (std::isalnum(static_cast<unsigned char>(path[end])) || path[end] == '_'))
      ++end;
    const std::string top = end > 1 ? path.substr(1, end - 1) : "dc";
    const Category* category = nullptr;
    for (const Category& c : kCategories)
      if (top == c.name) category = &c;
    if (category == nullptr) continue;  // "pool" and others: not ctdump's
    for (const std::string& priv :
         access::PrivNames(access::Permissions(*users, authid, path, now))) {
      for (std::string_view prefix : category->prefixes)
        if (std::string_view(priv).starts_with(prefix)) cap[category->name][priv] = 1;
    }
  }
  return cap;
}

Result<LoginResult> AccessState::Login(const std::string& username, const std::string& password,
                                       const RequestHeaders& headers, std::string_view client,
                                       int64_t now) {
  auto fail = [&](std::string_view event, const std::string& why) -> Status {
    Audit(
        now, event,
        {{"client", std::string(client)}, {"user", access::Printable(username)}, {"reason", why}});
    std::fprintf(stderr, "authentication failure; rhost=%s user=%s msg=%s\n",
                 std::string(client).c_str(), access::Printable(username).c_str(), why.c_str());
    return PermissionDeniedError(std::string(kLoginFailure));
  };
  auto user = access::ParseUserId(username);
  if (!user.ok()) return fail("login-fail", user.status().message());
  auto users = Users();
  LoginResult out;
  out.username = user->full;

  // Renewal: the password is a valid ticket of this user (or of root), or
  // empty with the request's own ticket cookie and its CSRF token.
  std::optional<std::string> renew_with;
  if (!password.empty() && password.rfind("PVE:", 0) == 0) {
    renew_with = password;
  } else if (password.empty()) {
    auto own = TicketOf(headers);
    auto csrf = headers.find("csrfpreventiontoken");
    if (own && csrf != headers.end()) {
      std::lock_guard<std::mutex> lock(mu_);
      auto who = keys_->Verify(*own, now);
      if (who.ok() && *who == user->full && csrf_->Verify(csrf->second, *who, now))
        renew_with = *own;
    }
    if (!renew_with) return fail("login-fail", "empty password");
  }
  if (renew_with) {
    Result<std::string> who = [&]() -> Result<std::string> {
      std::lock_guard<std::mutex> lock(mu_);
      return keys_->Verify(*renew_with, now);
    }();
    if (!who.ok() || (*who != user->full && *who != kRootUser))
      return fail("login-fail", "renewal with an invalid ticket");
    Status enabled = access::CheckEnabled(*users, user->full, now);
    if (!enabled.ok()) return fail("login-fail", enabled.message());
    out.renewed = true;
  } else {
    if (!limiter_.Allowed(client, user->full, now))
      return fail("login-limited", "too many failed logins");
    Status s;
    if (user->realm != "pam") {
      s = PermissionDeniedError(fmt::format("realm '{}' has no passwords", user->realm));
    } else if (user->full != kRootUser) {
      s = access::CheckEnabled(*users, user->full, now);
    }
    if (s.ok())
      s = password_check_ ? password_check_(user->name, password, std::string(client))
                          : PermissionDeniedError("no password check");
    if (!s.ok()) {
      limiter_.RecordFailure(client, user->full, now);
      return fail("login-fail", s.message());
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto rotated = keys_->RotateIfDue(config_dir_ + "/priv/authkey.key", now);
    if (!rotated.ok()) std::fprintf(stderr, "API: %s\n", rotated.status().message().c_str());
    out.ticket = keys_->Issue(user->full, now);
    out.csrf_token = csrf_->Issue(user->full, now);
  }
  out.cap = Capabilities(user->full, now);
  Audit(now, out.renewed ? "login-renew" : "login-ok",
        {{"client", std::string(client)}, {"user", user->full}});
  return out;
}

void AccessState::Audit(int64_t now, std::string_view event, const access::AuditFields& fields) {
  if (!audit_) return;
  Status s = audit_->Write(now, event, fields);
  if (!s.ok()) std::fprintf(stderr, "API: audit log: %s\n", s.message().c_str());
}

PasswordCheck PamHelperCheck(std::string program) {
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    int running = 0;
  };
  auto gate = std::make_shared<Gate>();
  return [program = std::move(program), gate](const std::string& user, const std::string& password,
                                              const std::string& rhost) -> Status {
    {
      std::unique_lock<std::mutex> lock(gate->mu);
      gate->cv.wait(lock, [&] { return gate->running < 4; });
      ++gate->running;
    }
    struct Release {
      std::shared_ptr<Gate> g;
      ~Release() {
        std::lock_guard<std::mutex> lock(g->mu);
        --g->running;
        g->cv.notify_one();
      }
    } release{gate};
    sys::SpawnOptions o;
    o.argv = {program, "__pam-auth"};
    o.pipe_stdin = true;
    o.pipe_stderr = true;
    auto proc = sys::Spawn(o);
    if (!proc.ok()) return proc.status();
    std::string input = user + '\0' + password + '\0' + rhost;
    (void)!::write(proc->stdin_fd().get(), input.data(), input.size());
    proc->stdin_fd().Reset();
    auto st = proc->WaitFor(std::chrono::seconds(10));
    if (!st.ok()) return st.status();
    if (!st->has_value()) {
      proc->KillAndReap();
      return DeadlineExceededError("the PAM check took more than 10 s");
    }
    if (sys::ExitedOk(**st)) return Status::OK();
    std::string why;
    char buf[512];
    ssize_t n = ::read(proc->stderr_fd().get(), buf, sizeof(buf));
    if (n > 0) why.assign(buf, static_cast<size_t>(n));
    while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
    return PermissionDeniedError(why.empty() ? "pam: authentication failure" : why);
  };
}

}  // namespace ctdump::server
