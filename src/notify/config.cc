// notifications.cfg and priv/notifications.cfg: PVE's section config format
// (ctdump/section_config.h's grammar with proxmox-section-config's rules for
// these files: SAFE_ID names, every key needs a value, array properties as
// repeated keys), validated whole at load time with file:line in every error.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "base/base64.h"
#include "ctdump/section_config.h"
#include "notify/matcher.h"
#include "notify/notify.h"
#include "notify/template.h"
#include "notify/transport.h"
#include "sys/file.h"

namespace ctdump::notify {
namespace {

// Blanks of a property string ("name=...,value=...").
bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

// SAFE_ID: [A-Za-z0-9_][A-Za-z0-9._\-]*
bool IsSafeId(std::string_view s) {
  auto ok = [](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           (!first && (c == '.' || c == '-'));
  };
  if (s.empty() || s.size() > 64 || !ok(s[0], true)) return false;
  return std::all_of(s.begin() + 1, s.end(), [&](char c) { return ok(c, false); });
}

class Errors {
 public:
  explicit Errors(std::string file) : file_(std::move(file)) {}
  Status At(size_t line, std::string_view what) const {
    return InvalidArgumentError(fmt::format("{}:{}: {}", file_, line, what));
  }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

Result<bool> ParseBool(std::string_view v) {
  if (std::optional<bool> b = ParsePveBool(v)) return *b;
  return InvalidArgumentError(fmt::format("invalid boolean '{}'", v));
}

Result<std::string> DecodeBase64(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  std::optional<std::string> out = Base64DecodeLenient(in);
  if (!out) return InvalidArgumentError(fmt::format("invalid base64 '{}'", in));
  return std::move(*out);
}

// "name=<name>,value=<base64>" (PVE's KeyAndBase64Val property string).
Result<NameValue> ParseNameValue(std::string_view text) {
  NameValue nv;
  bool has_name = false;
  bool has_value = false;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view part = text.substr(start, comma == text.npos ? text.npos : comma - start);
    size_t eq = part.find('=');
    std::string_view k = Trim(part.substr(0, eq));
    std::string_view v = eq == part.npos ? "" : Trim(part.substr(eq + 1));
    if (eq == part.npos) {
      return InvalidArgumentError(fmt::format("invalid property '{}' (expected key=value)", part));
    }
    if (k == "name" && !has_name) {
      nv.name = std::string(v);
      has_name = true;
    } else if (k == "value" && !has_value) {
      ASSIGN_OR_RETURN(nv.value, DecodeBase64(v));
      has_value = true;
    } else {
      return InvalidArgumentError(fmt::format("unknown or repeated property '{}'", k));
    }
    if (comma == text.npos) break;
    start = comma + 1;
  }
  if (!has_name || nv.name.empty()) return InvalidArgumentError("missing 'name='");
  return nv;
}

bool IsEmailish(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '<' || c == '>' || c == ',' || c == '"' || c == '(' ||
        c == ')' || c == ';')
      return false;
  }
  return s.front() != '-';
}

// An HTTP token (RFC 9110) for header names.
bool IsHeaderName(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

bool IsHttpUrl(std::string_view s) {
  return (s.substr(0, 7) == "http://" && s.size() > 7) ||
         (s.substr(0, 8) == "https://" && s.size() > 8);
}

// Key tables: which keys a section type takes; '*' marks repeatable ones.
using KeyTable = std::map<std::string, std::vector<std::string>>;

const KeyTable& PublicKeys() {
  static const KeyTable k = {
      {"sendmail",
       {"mailto*", "mailto-user*", "from-address", "author", "comment", "disable", "origin"}},
      {"smtp",
       {"server", "port", "mode", "username", "mailto*", "mailto-user*", "from-address", "author",
        "comment", "disable", "origin"}},
      {"gotify", {"server", "comment", "disable", "origin"}},
      {"webhook", {"url", "method", "header*", "body", "comment", "disable", "origin"}},
      {"matcher",
       {"match-severity*", "match-field*", "match-calendar*", "mode", "invert-match", "target*",
        "comment", "disable", "origin"}},
  };
  return k;
}

const KeyTable& PrivateKeys() {
  static const KeyTable k = {
      {"sendmail", {}},         {"smtp", {"password"}}, {"gotify", {"token"}},
      {"webhook", {"secret*"}}, {"matcher", {}},
  };
  return k;
}

// The file's sections, or its first error in line order: a syntax error, a
// key given twice that the table does not mark repeatable, a name used twice.
Result<std::vector<LocatedSection>> ReadSections(std::string_view text, const KeyTable& table,
                                                 const Errors& err) {
  SectionConfigOptions options;
  options.valid_id = IsSafeId;
  options.require_value = true;
  options.repeatable = [&table](std::string_view type, std::string_view key) {
    auto it = table.find(std::string(type));
    if (it == table.end()) return true;  // CheckKeys reports the type
    // Marked '*', or unknown (CheckKeys reports the key).
    return std::find(it->second.begin(), it->second.end(), key) == it->second.end();
  };
  ParsedSectionConfig parsed = ParseSectionConfigLines(text, err.file(), options);
  std::map<std::string, size_t> first_line;
  for (const LocatedSection& s : parsed.sections) {
    if (!parsed.errors.empty() && parsed.errors.front().line < s.line) break;
    auto [it, inserted] = first_line.emplace(s.section.id, s.line);
    if (!inserted) {
      return err.At(
          s.line, fmt::format("duplicate name '{}' (first at line {})", s.section.id, it->second));
    }
  }
  if (!parsed.errors.empty()) return parsed.errors.front().status;
  return std::move(parsed.sections);
}

// Unknown types and keys.
Status CheckKeys(const LocatedSection& located, const KeyTable& table, const Errors& err) {
  const Section& s = located.section;
  auto it = table.find(s.type);
  if (it == table.end()) {
    return err.At(located.line, fmt::format("unknown section type '{}' (expected sendmail, smtp, "
                                            "gotify, webhook or matcher)",
                                            s.type));
  }
  const auto& keys = it->second;
  for (size_t i = 0; i < s.options.size(); ++i) {
    const std::string& key = s.options[i].first;
    if (std::find(keys.begin(), keys.end(), key) == keys.end() &&
        std::find(keys.begin(), keys.end(), key + "*") == keys.end()) {
      return err.At(located.option_lines[i],
                    fmt::format("unknown key '{}' in {} '{}'", key, s.type, s.id));
    }
  }
  return Status::OK();
}

TargetType TypeOf(const std::string& type) {
  if (type == "smtp") return TargetType::kSmtp;
  if (type == "gotify") return TargetType::kGotify;
  if (type == "webhook") return TargetType::kWebhook;
  return TargetType::kSendmail;
}

// Template texts of a webhook and where they were written, checked once the
// secrets are known.
struct PendingTemplate {
  std::string target;
  size_t line;
  std::string text;
  std::string what;
};

// One option (key `k`, value `v`, on `line`) of a target's section.
Status ApplyTargetOption(Target& t, const std::string& k, const std::string& v, size_t line,
                         const Errors& err, std::vector<PendingTemplate>& templates) {
  auto bad = [&](std::string_view why) {
    return err.At(line,
                  fmt::format("{} '{}': {} '{}': {}", TargetTypeName(t.type), t.name, k, v, why));
  };
  if (k == "comment") {
    t.comment = v;
  } else if (k == "origin") {
    if (v != "user-created" && v != "builtin" && v != "modified-builtin") {
      return bad("expected user-created, builtin or modified-builtin");
    }
  } else if (k == "disable") {
    Result<bool> b = ParseBool(v);
    if (!b.ok()) return bad(b.status().message());
    t.disable = *b;
  } else if (k == "mailto") {
    if (!IsEmailish(v)) return bad("not an e-mail address");
    t.mailto.push_back(v);
  } else if (k == "mailto-user") {
    size_t at = v.find('@');
    if (at == 0 || at == std::string::npos || at + 1 == v.size() || !IsEmailish(v)) {
      return bad("expected <user>@<realm>");
    }
    t.mailto_user.push_back(v);
  } else if (k == "from-address") {
    if (!IsEmailish(v)) return bad("not an e-mail address");
    t.from_address = v;
  } else if (k == "author") {
    if (v.find_first_of("\r\n") != std::string::npos) return bad("not a single line");
    t.author = v;
  } else if (k == "server") {
    if (t.type == TargetType::kGotify) {
      if (!IsHttpUrl(v)) return bad("expected an http:// or https:// URL");
    } else if (v.find_first_of(" /@") != std::string::npos) {
      return bad("expected a host name or address");
    }
    t.server = v;
  } else if (k == "port") {
    char* end = nullptr;
    long p = std::strtol(v.c_str(), &end, 10);
    if (*end != '\0' || p < 1 || p > 65535) return bad("expected a port number 1..65535");
    t.port = static_cast<uint16_t>(p);
  } else if (k == "mode") {
    if (v == "insecure") {
      t.mode = SmtpMode::kInsecure;
    } else if (v == "starttls") {
      t.mode = SmtpMode::kStarttls;
    } else if (v == "tls") {
      t.mode = SmtpMode::kTls;
    } else {
      return bad("expected insecure, starttls or tls");
    }
  } else if (k == "username") {
    t.username = v;
  } else if (k == "url") {
    if (!IsHttpUrl(v)) return bad("expected an http:// or https:// URL");
    t.url = v;
    templates.push_back({t.name, line, v, "url"});
  } else if (k == "method") {
    if (v != "post" && v != "put" && v != "get") return bad("expected post, put or get");
    t.method = v;
  } else if (k == "header") {
    Result<NameValue> nv = ParseNameValue(v);
    if (!nv.ok()) return bad(nv.status().message());
    if (!IsHeaderName(nv->name)) return bad(fmt::format("invalid header name '{}'", nv->name));
    templates.push_back({t.name, line, nv->value, "header " + nv->name});
    t.headers.push_back(std::move(*nv));
  } else if (k == "body") {
    Result<std::string> body = DecodeBase64(v);
    if (!body.ok()) return bad(body.status().message());
    t.body = *body;
    templates.push_back({t.name, line, t.body, "body"});
  }
  return Status::OK();
}

Status ApplyMatcherOption(Matcher& m, const std::string& k, const std::string& v, size_t line,
                          const Errors& err) {
  auto bad = [&](std::string_view why) {
    return err.At(line, fmt::format("matcher '{}': {} '{}': {}", m.name, k, v, why));
  };
  if (k == "comment") {
    m.comment = v;
  } else if (k == "origin") {
    if (v != "user-created" && v != "builtin" && v != "modified-builtin") {
      return bad("expected user-created, builtin or modified-builtin");
    }
  } else if (k == "disable" || k == "invert-match") {
    Result<bool> b = ParseBool(v);
    if (!b.ok()) return bad(b.status().message());
    (k == "disable" ? m.disable : m.invert_match) = *b;
  } else if (k == "mode") {
    if (v != "all" && v != "any") return bad("expected all or any");
    m.mode_any = v == "any";
  } else if (k == "match-severity") {
    Result<std::vector<Severity>> s = ParseSeverityList(v);
    if (!s.ok()) return bad(s.status().message());
    m.match_severity.push_back(std::move(*s));
  } else if (k == "match-field") {
    Result<FieldMatch> f = ParseFieldMatch(v);
    if (!f.ok()) return bad(f.status().message());
    m.match_field.push_back(std::move(*f));
  } else if (k == "match-calendar") {
    Result<DailyDuration> d = ParseDailyDuration(v);
    if (!d.ok()) return bad(d.status().message());
    m.match_calendar.push_back(std::move(*d));
  } else if (k == "target") {
    if (!IsSafeId(v)) return bad("invalid target name");
    m.targets.push_back(v);
  }
  return Status::OK();
}

Status CheckRequired(const Target& t, size_t line, const Errors& err) {
  auto missing = [&](std::string_view key) {
    return err.At(line, fmt::format("{} '{}': missing '{}'", TargetTypeName(t.type), t.name, key));
  };
  switch (t.type) {
    case TargetType::kSendmail:
      if (t.mailto.empty() && t.mailto_user.empty()) return missing("mailto' or 'mailto-user");
      break;
    case TargetType::kSmtp:
      if (t.server.empty()) return missing("server");
      if (t.from_address.empty()) return missing("from-address");
      if (t.mailto.empty() && t.mailto_user.empty()) return missing("mailto' or 'mailto-user");
      break;
    case TargetType::kGotify:
      if (t.server.empty()) return missing("server");
      break;
    case TargetType::kWebhook:
      if (t.url.empty()) return missing("url");
      break;
  }
  return Status::OK();
}

// An error about a line of priv/notifications.cfg without the line's text:
// the file holds secrets, and errors reach job list, notify list and logs.
Status RedactedPrivError(const Status& s, const Errors& err) {
  const std::string& m = s.message();
  const std::string head = err.file() + ":";
  size_t end = m.rfind(head, 0) == 0 ? m.find(':', head.size()) : std::string::npos;
  std::string where = end == std::string::npos ? err.file() : m.substr(0, end);
  return InvalidArgumentError(where +
                              ": malformed line (not shown: this file holds secrets; expected "
                              "'<type>: <name>' and indented 'password', 'token' or "
                              "'secret name=<name>,value=<base64>' lines)");
}

// The secrets of priv/notifications.cfg, merged into the targets.
Status ApplyPrivate(Config& config, std::string_view priv_text, const Errors& err,
                    std::map<std::string, size_t>& token_lines) {
  Result<std::vector<LocatedSection>> read = ReadSections(priv_text, PrivateKeys(), err);
  if (!read.ok()) return RedactedPrivError(read.status(), err);
  std::vector<LocatedSection> sections = std::move(*read);
  for (const LocatedSection& located : sections) {
    RETURN_IF_ERROR(CheckKeys(located, PrivateKeys(), err));
    const Section& s = located.section;
    Target* t = nullptr;
    for (Target& candidate : config.targets) {
      if (candidate.name == s.id) t = &candidate;
    }
    if (!t || TargetTypeName(t->type) != s.type) {
      return err.At(located.line,
                    fmt::format("secrets for {} '{}', which notifications.cfg does not "
                                "define",
                                s.type, s.id));
    }
    token_lines[s.id] = located.line;
    for (size_t i = 0; i < s.options.size(); ++i) {
      const auto& [key, value] = s.options[i];
      size_t line = located.option_lines[i];
      if (key == "password") {
        t->password = value;
      } else if (key == "token") {
        t->token = value;
      } else if (key == "secret") {
        Result<NameValue> nv = ParseNameValue(value);
        if (!nv.ok()) {
          // Only messages that quote no part of the value.
          const std::string& m = nv.status().message();
          bool safe = m.rfind("missing", 0) == 0 || m.rfind("unknown or repeated property", 0) == 0;
          return err.At(line, fmt::format("webhook '{}': secret: {}", s.id,
                                          safe ? m
                                               : "not of the form name=<name>,value=<base64> "
                                                 "(not shown: this file holds secrets)"));
        }
        for (const NameValue& other : t->secrets) {
          if (other.name == nv->name) {
            return err.At(line,
                          fmt::format("webhook '{}': secret '{}' given twice", s.id, nv->name));
          }
        }
        t->secrets.push_back(std::move(*nv));
      }
    }
  }
  return Status::OK();
}

constexpr std::string_view kDefaultConfig =
    "sendmail: mail-to-root\n"
    "\tmailto-user root@pam\n"
    "\tcomment Send mails to root@pam's email address\n"
    "\torigin builtin\n"
    "\n"
    "matcher: default-matcher\n"
    "\tmode all\n"
    "\ttarget mail-to-root\n"
    "\tcomment Route all notifications to mail-to-root\n"
    "\torigin builtin\n";

}  // namespace

Result<Config> DefaultConfig() {
  ASSIGN_OR_RETURN(Config config, ParseConfig(kDefaultConfig, "built-in default", "", ""));
  config.source = "built-in default";
  return config;
}

std::string_view TargetTypeName(TargetType type) {
  switch (type) {
    case TargetType::kSendmail:
      return "sendmail";
    case TargetType::kSmtp:
      return "smtp";
    case TargetType::kGotify:
      return "gotify";
    case TargetType::kWebhook:
      return "webhook";
  }
  return "sendmail";
}

std::vector<std::string> ResolveMailtoUsers(const std::vector<std::string>& users) {
  std::vector<std::string> out;
  for (const std::string& u : users) out.push_back(u.substr(0, u.find('@')));
  return out;
}

Result<Config> ParseConfig(std::string_view text, const std::string& filename,
                           std::string_view priv_text, const std::string& priv_filename) {
  Errors err(filename);
  ASSIGN_OR_RETURN(std::vector<LocatedSection> sections, ReadSections(text, PublicKeys(), err));
  Config config;
  config.source = filename;
  std::vector<PendingTemplate> templates;
  std::map<std::string, size_t> target_lines;
  std::vector<const LocatedSection*> matcher_sections;
  for (const LocatedSection& located : sections) {
    RETURN_IF_ERROR(CheckKeys(located, PublicKeys(), err));
    const Section& s = located.section;
    if (s.type == "matcher") {
      Matcher m;
      m.name = s.id;
      for (size_t i = 0; i < s.options.size(); ++i) {
        const auto& [key, value] = s.options[i];
        RETURN_IF_ERROR(ApplyMatcherOption(m, key, value, located.option_lines[i], err));
      }
      matcher_sections.push_back(&located);
      config.matchers.push_back(std::move(m));
      continue;
    }
    Target t;
    t.type = TypeOf(s.type);
    t.name = s.id;
    for (size_t i = 0; i < s.options.size(); ++i) {
      const auto& [key, value] = s.options[i];
      RETURN_IF_ERROR(ApplyTargetOption(t, key, value, located.option_lines[i], err, templates));
    }
    RETURN_IF_ERROR(CheckRequired(t, located.line, err));
    for (const std::string& m : ResolveMailtoUsers(t.mailto_user)) {
      if (std::find(t.mailto.begin(), t.mailto.end(), m) == t.mailto.end()) t.mailto.push_back(m);
    }
    target_lines[t.name] = located.line;
    config.targets.push_back(std::move(t));
  }
  // Matchers name existing targets.
  for (const LocatedSection* located : matcher_sections) {
    const Section& s = located->section;
    for (size_t i = 0; i < s.options.size(); ++i) {
      const auto& [key, value] = s.options[i];
      if (key == "target" && !config.FindTarget(value)) {
        return err.At(located->option_lines[i],
                      fmt::format("matcher '{}': unknown target '{}'", s.id, value));
      }
    }
  }
  Errors priv_err(priv_filename);
  std::map<std::string, size_t> priv_lines;
  RETURN_IF_ERROR(ApplyPrivate(config, priv_text, priv_err, priv_lines));
  for (const Target& t : config.targets) {
    if (t.type == TargetType::kGotify && t.token.empty()) {
      return err.At(target_lines[t.name],
                    fmt::format("gotify '{}': no token in {}", t.name, priv_filename));
    }
    if (t.type == TargetType::kSmtp && !t.username.empty() && t.password.empty()) {
      return err.At(target_lines[t.name], fmt::format("smtp '{}': username without a password "
                                                      "in {}",
                                                      t.name, priv_filename));
    }
  }
  // Templates, now that the secrets are known.
  for (const PendingTemplate& p : templates) {
    std::set<std::string> secrets;
    for (const NameValue& s : config.FindTarget(p.target)->secrets) secrets.insert(s.name);
    Result<Template> t = Template::Parse(p.text, secrets);
    if (!t.ok()) {
      return err.At(p.line,
                    fmt::format("webhook '{}': {}: {}", p.target, p.what, t.status().message()));
    }
  }
  return config;
}

Result<Config> LoadConfig(const std::string& config_dir) {
  std::string path = config_dir + "/notifications.cfg";
  std::string priv_path = config_dir + "/priv/notifications.cfg";
  constexpr size_t kMaxBytes = 1 << 20;
  std::string priv_text;
  std::string priv_warning;
  if (sys::PathExists(priv_path)) {
    ASSIGN_OR_RETURN(priv_text, sys::ReadRegularFile(priv_path, kMaxBytes));
    struct stat st {};
    if (::stat(priv_path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      priv_warning =
          fmt::format("{} holds secrets but others may read it (mode {:04o}); make it 0600",
                      priv_path, st.st_mode & 07777);
    }
  }
  if (sys::PathExists(path)) {
    ASSIGN_OR_RETURN(std::string text, sys::ReadRegularFile(path, kMaxBytes));
    ASSIGN_OR_RETURN(Config config, ParseConfig(text, path, priv_text, priv_path));
    if (!priv_warning.empty()) config.info.push_back(priv_warning);
    return config;
  }
  ASSIGN_OR_RETURN(Config config,
                   ParseConfig(kDefaultConfig, "built-in default", priv_text, priv_path));
  config.source = "built-in default";
  if (!priv_warning.empty()) config.info.push_back(priv_warning);
  std::string sendmail = SendmailPath();
  if (::access(sendmail.c_str(), X_OK) != 0) {
    config.targets.clear();
    config.matchers.front().targets.clear();
    config.info.push_back(fmt::format(
        "no {} and no sendmail program at {}: the default notification target mail-to-root is "
        "skipped",
        path, sendmail));
  }
  return config;
}

}  // namespace ctdump::notify
