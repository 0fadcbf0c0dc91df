#include "access/user_cfg.h"

#include <fmt/format.h>

#include <algorithm>

#include "access/lines.h"
#include "access/userid.h"
#include "sys/file.h"

namespace ctdump::access {
namespace {

constexpr size_t kMaxFileSize = 16 << 20;

std::string_view Trim(std::string_view s) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
  };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// Perl's split(/:/) with each field trimmed: trailing empty fields dropped.
std::vector<std::string_view> SplitFields(std::string_view line, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t end = line.find(sep, start);
    out.push_back(Trim(line.substr(start, end == std::string_view::npos ? end : end - start)));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  while (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

std::string_view Field(const std::vector<std::string_view>& f, size_t i) {
  return i < f.size() ? f[i] : std::string_view();
}

// Digits only (empty: 0), as PVE's m/^\d+$/ after "0 if !$expire".
std::optional<int64_t> ParseEpoch(std::string_view s) {
  if (s.empty()) return 0;
  if (s.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Perl truthiness of a field: "" and "0" are false.
bool Truthy(std::string_view s) { return !s.empty() && s != "0"; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string EncodeText(std::string_view text) {
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == ':' || c == '%')
      out += fmt::format("%{:02X}", u);
    else
      out.push_back(c);
  }
  return out;
}

std::string DecodeText(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
        HexValue(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

Result<std::string> NormalizeAclPath(std::string_view path) {
  std::string out = "/";
  for (char c : path) {
    if (c == '/' && out.back() == '/') continue;
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == '/';
    if (!ok) return InvalidArgumentError(fmt::format("invalid ACL path '{}'", Printable(path)));
    out.push_back(c);
  }
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string FormatTokenLine(const Token& t) {
  return fmt::format("token:{}:{}:{}:{}:", t.tokenid, t.expire, t.privsep ? 1 : 0,
                     EncodeText(t.comment));
}

UserConfig UserConfig::Parse(std::string_view text, std::string_view file) {
  UserConfig cfg;
  cfg.file_ = std::string(file);
  for (std::string_view line : SplitLines(text)) cfg.lines_.emplace_back(line);
  cfg.ParseLines();
  return cfg;
}

Result<UserConfig> UserConfig::Load(const std::string& path) {
  if (!sys::PathExists(path)) return Parse("", path);
  ASSIGN_OR_RETURN(std::string text, sys::ReadRegularFile(path, kMaxFileSize));
  return Parse(text, path);
}

void UserConfig::Problem(int line, std::string_view why) {
  problems_.push_back(fmt::format("{}:{}: {}", file_, line, why));
}

void UserConfig::ParseLines() {
  problems_.clear();
  users_.clear();
  tokens_.clear();
  groups_.clear();
  roles_.clear();
  acl_.clear();
  for (size_t i = 0; i < lines_.size(); ++i) ParseLine(Trim(lines_[i]), static_cast<int>(i + 1));
  Resolve();
}

void UserConfig::ParseLine(std::string_view line, int n) {
  if (line.empty() || line[0] == '#') return;
  std::vector<std::string_view> f = SplitFields(line, ':');
  std::string_view type = Field(f, 0);
  if (type == "user") {
    User u;
    Result<UserId> id = ParseUserId(Field(f, 1));
    if (!id.ok()) return Problem(n, id.status().message());
    std::optional<int64_t> expire = ParseEpoch(Field(f, 3));
    if (!expire)
      return Problem(n, fmt::format("user '{}' has an invalid expire date '{}'", id->full,
                                    Printable(Field(f, 3))));
    u.userid = id->full;
    u.enable = Truthy(Field(f, 2));
    u.expire = *expire;
    u.firstname = DecodeText(Field(f, 4));
    u.lastname = DecodeText(Field(f, 5));
    u.email = std::string(Field(f, 6));
    u.comment = DecodeText(Field(f, 7));
    u.keys = std::string(Field(f, 8));
    u.line = n;
    if (users_.count(u.userid))
      return Problem(n, fmt::format("user '{}' is defined again (the line {} one is used)",
                                    u.userid, users_[u.userid].line));
    users_.emplace(u.userid, std::move(u));
  } else if (type == "token") {
    Result<TokenId> id = ParseTokenId(Field(f, 1));
    if (!id.ok()) return Problem(n, id.status().message());
    std::optional<int64_t> expire = ParseEpoch(Field(f, 2));
    if (!expire)
      return Problem(n, fmt::format("token '{}' has an invalid expire date '{}'", id->full,
                                    Printable(Field(f, 2))));
    Token t{id->full, id->userid, id->name, *expire, Truthy(Field(f, 3)), DecodeText(Field(f, 4)),
            n};
    if (tokens_.count(t.tokenid))
      return Problem(n, fmt::format("token '{}' is defined again (the line {} one is used)",
                                    t.tokenid, tokens_[t.tokenid].line));
    tokens_.emplace(t.tokenid, std::move(t));
  } else if (type == "group") {
    Group g;
    if (Status s = CheckGroupId(Field(f, 1)); !s.ok()) return Problem(n, s.message());
    g.groupid = std::string(Field(f, 1));
    for (std::string_view m : SplitFields(Field(f, 2), ',')) {
      if (m.empty()) continue;
      Result<UserId> id = ParseUserId(m);
      if (!id.ok()) {
        Problem(n, fmt::format("group '{}': {}", g.groupid, id.status().message()));
        continue;
      }
      g.members.push_back(id->full);
    }
    g.comment = DecodeText(Field(f, 3));
    g.line = n;
    if (groups_.count(g.groupid))
      return Problem(n, fmt::format("group '{}' is defined again (the line {} one is used)",
                                    g.groupid, groups_[g.groupid].line));
    groups_.emplace(g.groupid, std::move(g));
  } else if (type == "role") {
    Role r;
    if (Status s = CheckRoleId(Field(f, 1)); !s.ok()) return Problem(n, s.message());
    r.roleid = std::string(Field(f, 1));
    if (BuiltinRole(r.roleid))
      return Problem(n, fmt::format("role '{}' is built in and cannot be redefined", r.roleid));
    for (std::string_view p : SplitFields(Field(f, 2), ',')) {
      if (p.empty()) continue;
      if (!IsPrivilegeName(p)) {
        Problem(n, fmt::format("role '{}': invalid privilege '{}'", r.roleid, Printable(p)));
        continue;
      }
      r.names.emplace_back(p);
      if (std::optional<Priv> priv = PrivFromName(p)) r.privs.Add(*priv);
    }
    r.line = n;
    if (roles_.count(r.roleid))
      return Problem(n, fmt::format("role '{}' is defined again (the line {} one is used)",
                                    r.roleid, roles_[r.roleid].line));
    roles_.emplace(r.roleid, std::move(r));
  } else if (type == "acl") {
    AclEntry a;
    std::string_view prop = Field(f, 1);
    if (prop != "0" && prop != "1")
      return Problem(n, fmt::format("ACL: invalid propagate flag '{}' (0 or 1)", Printable(prop)));
    a.propagate = prop == "1";
    Result<std::string> path = NormalizeAclPath(Field(f, 2));
    if (!path.ok()) return Problem(n, path.status().message());
    a.path = *path;
    for (std::string_view s : SplitFields(Field(f, 3), ','))
      if (!s.empty()) a.subjects.emplace_back(s);
    for (std::string_view r : SplitFields(Field(f, 4), ','))
      if (!r.empty()) a.roles.emplace_back(r);
    a.line = n;
    acl_.push_back(std::move(a));
  } else if (type == "pool") {
    // ctdump has no pools: accepted, ignored, kept in the file.
  } else {
    Problem(n, fmt::format("unknown entry type '{}'", Printable(type)));
  }
}

// Checks what refers to other lines once every line is read: tokens need
// their user, ACL members and roles must exist.
void UserConfig::Resolve() {
  for (auto it = tokens_.begin(); it != tokens_.end();) {
    if (it->second.userid != kRootUser && !users_.count(it->second.userid)) {
      Problem(it->second.line, fmt::format("token '{}': user '{}' does not exist (no user: line)",
                                           it->first, it->second.userid));
      it = tokens_.erase(it);
    } else {
      ++it;
    }
  }
  for (AclEntry& a : acl_) {
    std::vector<std::string> subjects;
    for (std::string& s : a.subjects) {
      std::string why;
      if (s[0] == '@') {
        if (!groups_.count(std::string_view(s).substr(1)))
          why = fmt::format("group '{}' does not exist", Printable(s.substr(1)));
      } else if (IsTokenId(s)) {
        if (!tokens_.count(s)) why = fmt::format("token '{}' does not exist", Printable(s));
      } else if (s != kRootUser && !users_.count(s)) {
        why = fmt::format("user '{}' does not exist", Printable(s));
      }
      if (why.empty())
        subjects.push_back(std::move(s));
      else
        Problem(a.line, fmt::format("ACL on '{}': {} (left out)", a.path, why));
    }
    a.subjects = std::move(subjects);
    std::vector<std::string> roles;
    for (std::string& r : a.roles) {
      if (RolePrivs(r))
        roles.push_back(std::move(r));
      else
        Problem(a.line, fmt::format("ACL on '{}': role '{}' does not exist (left out)", a.path,
                                    Printable(r)));
    }
    a.roles = std::move(roles);
  }
  std::erase_if(acl_, [](const AclEntry& a) { return a.subjects.empty() || a.roles.empty(); });
}

const User* UserConfig::FindUser(std::string_view userid) const {
  auto it = users_.find(userid);
  return it == users_.end() ? nullptr : &it->second;
}

const Token* UserConfig::FindToken(std::string_view tokenid) const {
  auto it = tokens_.find(tokenid);
  return it == tokens_.end() ? nullptr : &it->second;
}

std::vector<Token> UserConfig::TokensOf(std::string_view userid) const {
  std::vector<Token> out;
  for (const auto& [id, t] : tokens_)
    if (t.userid == userid) out.push_back(t);
  return out;
}

bool UserConfig::InGroup(std::string_view groupid, std::string_view userid) const {
  auto it = groups_.find(groupid);
  if (it == groups_.end()) return false;
  const auto& m = it->second.members;
  return std::find(m.begin(), m.end(), userid) != m.end();
}

std::optional<PrivSet> UserConfig::RolePrivs(std::string_view roleid) const {
  if (std::optional<PrivSet> b = BuiltinRole(roleid)) return b;
  auto it = roles_.find(roleid);
  if (it == roles_.end()) return std::nullopt;
  return it->second.privs;
}

Status UserConfig::AddToken(const Token& t) {
  const User* user = FindUser(t.userid);
  if (user == nullptr && t.userid != kRootUser)
    return FailedPreconditionError(
        fmt::format("user '{}' does not exist in {}: add the line 'user:{}:1:0::::::' first",
                    t.userid, file_, t.userid));
  if (FindToken(t.tokenid)) return AlreadyExistsError("Token already exists.");
  // After the user's own lines, else after the last user or token line.
  int after = user ? user->line : 0;
  for (const auto& [id, other] : tokens_)
    if (other.userid == t.userid) after = std::max(after, other.line);
  if (after == 0) {
    for (const auto& [id, u] : users_) after = std::max(after, u.line);
    for (const auto& [id, other] : tokens_) after = std::max(after, other.line);
  }
  lines_.insert(lines_.begin() + after, FormatTokenLine(t));
  ParseLines();
  return Status::OK();
}

bool UserConfig::RemoveToken(std::string_view tokenid) {
  bool removed = false;
  // A second line of the same token (reported as a duplicate) would take the
  // place of the first: remove them all.
  while (const Token* t = FindToken(tokenid)) {
    lines_.erase(lines_.begin() + (t->line - 1));
    ParseLines();
    removed = true;
  }
  return removed;
}

std::string UserConfig::Serialize() const {
  std::string out;
  for (const std::string& l : lines_) {
    out += l;
    out.push_back('\n');
  }
  return out;
}

}  // namespace ctdump::access
