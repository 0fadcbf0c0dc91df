// Notifications, as Proxmox VE sends them (proxmox-notify).
//
// Concepts:
//   * A Notification: severity, title, message, time and string fields
//     (type = vzdump|verify|gc|restore-test|system, hostname, job-id).
//   * Targets (where it goes): sendmail (a message piped to the sendmail
//     program), smtp (libcurl), gotify and webhook (HTTP through libcurl).
//   * Matchers pick targets for a notification (match-severity, match-field,
//     match-calendar, mode all|any, invert-match).
//
// <config-dir>/notifications.cfg holds targets and matchers in PVE's section
// config format and key names; <config-dir>/priv/notifications.cfg the secrets
// (smtp password, gotify token, webhook secrets) under the same section ids.
// docs/notifications.md describes the format. Everything is checked at
// LoadConfig time: unknown keys, bad values, unknown targets in matchers and
// templates with unknown variables or helpers are InvalidArgument errors
// naming file:line and the offending text.
//
// Sending never fails the caller: each target is tried with a timeout per
// attempt and retried with backoff (kMaxAttempts attempts, kBackoffSeconds
// between them, so one unreachable target costs at most kMaxTargetSeconds;
// failures that will not pass, like a refused login, are not retried); a
// target that failed is one warning through the Observer naming it. Targets
// are sent to one after the other on the calling thread; no state is shared
// between calls (thread-compatible).
#ifndef CTDUMP_NOTIFY_NOTIFY_H_
#define CTDUMP_NOTIFY_NOTIFY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"

namespace ctdump::notify {

enum class Severity { kInfo, kNotice, kWarning, kError, kUnknown };

// "info", "notice", "warning", "error", "unknown" (PVE's names).
std::string_view SeverityName(Severity severity);
// The inverse; InvalidArgument for anything else.
Result<Severity> ParseSeverity(std::string_view name);

struct Notification {
  Severity severity = Severity::kInfo;
  std::string title;
  std::string message;
  int64_t timestamp = 0;  // epoch seconds
  // type (vzdump|verify|gc|restore-test|system), hostname, job-id, ...
  std::map<std::string, std::string> fields;
};

// A webhook header or secret: name and decoded (not base64) value.
struct NameValue {
  std::string name;
  std::string value;
};

enum class TargetType { kSendmail, kSmtp, kGotify, kWebhook };
enum class SmtpMode { kInsecure, kStarttls, kTls };

// "sendmail", "smtp", "gotify", "webhook" (the section types).
std::string_view TargetTypeName(TargetType type);

// One target section; only the fields of its type are used.
struct Target {
  TargetType type = TargetType::kSendmail;
  std::string name;
  std::string comment;
  bool disable = false;
  // sendmail, smtp: recipients (mailto-user entries resolved: "root@pam" -> "root").
  std::vector<std::string> mailto;
  std::vector<std::string> mailto_user;  // as written, for `notify list`
  std::string from_address;              // empty: "root" (sendmail) / required (smtp)
  std::string author;                    // empty: "Proxmox VE" as PVE ("ctdump" here)
  // smtp
  std::string server;
  std::optional<uint16_t> port;  // default by mode: 25, 587, 465
  SmtpMode mode = SmtpMode::kTls;
  std::string username;
  std::string password;  // priv
  // gotify (server too)
  std::string token;  // priv
  // webhook
  std::string url;                 // template
  std::string method = "post";     // post|put|get
  std::vector<NameValue> headers;  // values are templates
  std::string body;                // template (decoded)
  std::vector<NameValue> secrets;  // priv
};

struct FieldMatch {
  std::string field;
  bool is_regex = false;
  std::vector<std::string> values;       // exact: any of these
  std::string pattern;                   // regex: as written
  std::shared_ptr<const std::regex> re;  // regex: compiled
};

// A `match-calendar` value: proxmox-time's DailyDuration ("mon..fri 8-17").
struct DailyDuration {
  uint8_t days = 0x7f;  // bit 0 = Monday ... bit 6 = Sunday
  int start_minute = 0;
  int end_minute = 0;  // exclusive
  std::string text;
};

struct Matcher {
  std::string name;
  std::string comment;
  bool disable = false;
  // A match-severity line matches any of its severities.
  // Every entry below is one config line; `mode` combines them (all: each
  // must match, any: one). No entry at all: the matcher always matches.
  std::vector<std::vector<Severity>> match_severity;
  std::vector<FieldMatch> match_field;
  std::vector<DailyDuration> match_calendar;  // local time
  bool mode_any = false;                      // mode all (default) | any
  bool invert_match = false;
  std::vector<std::string> targets;
};

// notifications.cfg and its secrets, parsed and validated.
struct Config {
  std::vector<Target> targets;
  std::vector<Matcher> matchers;
  // Where it came from: the file, or "built-in default" when there is none.
  std::string source;
  // Lines for the caller's log about the loaded config (e.g. the default
  // sendmail target skipped because no sendmail binary exists).
  std::vector<std::string> info;

  const Target* FindTarget(std::string_view name) const;
};

// Retry policy, per target: kMaxAttempts attempts, kBackoffSeconds[i] after
// attempt i+1, each attempt limited to kAttemptTimeoutSeconds.
inline constexpr int kMaxAttempts = 3;
inline constexpr int kBackoffSeconds[] = {1, 4};
inline constexpr int kAttemptTimeoutSeconds = 10;
// Upper bound for one target: 3 * 10 + 1 + 4.
inline constexpr int kMaxTargetSeconds = 35;

// Reads <config_dir>/notifications.cfg and <config_dir>/priv/notifications.cfg.
// No notifications.cfg: PVE's default (sendmail target mail-to-root to root and
// matcher default-matcher), without the target (and an info line) when no
// sendmail program exists. Errors name file:line and the offending text.
Result<Config> LoadConfig(const std::string& config_dir);

// PVE's built-in default, what a missing notifications.cfg means: the
// sendmail target mail-to-root (root's mail) and default-matcher routing
// everything to it. Its source is "built-in default".
Result<Config> DefaultConfig();

// Parses the two files' text (priv_text may be empty); what LoadConfig uses.
Result<Config> ParseConfig(std::string_view text, const std::string& filename,
                           std::string_view priv_text, const std::string& priv_filename);

// Names of the enabled targets the enabled matchers select for `n`, in
// config order, each once.
std::vector<std::string> MatchingTargets(const Config& config, const Notification& n);

// Matchers pick targets; each is sent to with bounded retries + backoff; never
// fails: a target that failed every attempt is one kWarn line through
// `observer` (may be null) naming the target and the error, earlier attempts
// are kInfo lines; returns how many targets got it.
size_t Dispatch(const Config& config, const Notification& n, Observer* observer);

// Sends a test notification to the named target (disabled or not), with the
// same retries; the error (NotFound for an unknown target) names the target.
Status SendTest(const Config& config, const std::string& target, Observer* observer);

// vzdump's legacy mail (mailto): sendmail (env CTDUMP_SENDMAIL, default
// /usr/sbin/sendmail) as `sendmail -i -B 8BITMIME -f root -- <to...>`, From
// "ctdump <root>", one attempt of at most kAttemptTimeoutSeconds. The error
// names the program and its exit status and output, not the recipients (the
// caller's message does); `observer` is not used.
Status SendMail(const std::vector<std::string>& to, const std::string& subject,
                const std::string& body, Observer* observer);

}  // namespace ctdump::notify

#endif  // CTDUMP_NOTIFY_NOTIFY_H_
