// Dispatch: matchers pick targets, each gets bounded retries with backoff.
#include "notify/notify.h"

#include <fmt/format.h>

#include <chrono>
#include <thread>

#include "notify/transport.h"
#include "sys/signals.h"

namespace ctdump::notify {
namespace {

void Log(Observer* observer, LogLevel level, const std::string& line) {
  if (observer) observer->Log(level, line);
}

// Sleeps `seconds`, false as soon as a new interrupt signal arrived.
bool Backoff(int seconds, int interrupts_before) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (sys::InterruptCount() != interrupts_before) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return sys::InterruptCount() == interrupts_before;
}

// Errors of the configuration or the notification itself (a template that
// cannot render, a refused login, an untrusted certificate, an HTTP 4xx, a
// sendmail program that does not exist) do not get better by retrying; the
// transports say which is which.
bool Retryable(const Status& s) {
  return s.code() != Code::kInvalidArgument && s.code() != Code::kPermissionDenied &&
         s.code() != Code::kFailedPrecondition && s.code() != Code::kNotFound;
}

Status SendWithRetries(const Target& t, const Notification& n, Observer* observer) {
  int interrupts = sys::InterruptCount();
  std::string who = fmt::format("notification target '{}' ({})", t.name, TargetTypeName(t.type));
  for (int attempt = 1;; ++attempt) {
    Status s = SendOnce(t, n);
    if (s.ok()) {
      if (attempt > 1)
        Log(observer, LogLevel::kInfo, fmt::format("{}: sent on attempt {}", who, attempt));
      return s;
    }
    bool last = attempt == kMaxAttempts || !Retryable(s);
    if (!last) {
      int wait = kBackoffSeconds[attempt - 1];
      Log(observer, LogLevel::kInfo,
          fmt::format("{}: attempt {}/{} failed: {}; retrying in {} s", who, attempt, kMaxAttempts,
                      s.message(), wait));
      if (Backoff(wait, interrupts)) continue;
      Log(observer, LogLevel::kWarn,
          fmt::format("{} failed: {} (interrupted, not retried)", who, s.message()));
      return s;
    }
    Log(observer, LogLevel::kWarn,
        fmt::format("{} failed after {} attempt{}: {}", who, attempt, attempt == 1 ? "" : "s",
                    s.message()));
    return s;
  }
}

}  // namespace

std::string_view SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kInfo:
      return "info";
    case Severity::kNotice:
      return "notice";
    case Severity::kWarning:
      return "warning";
    case Severity::kError:
      return "error";
    case Severity::kUnknown:
      return "unknown";
  }
  return "unknown";
}

Result<Severity> ParseSeverity(std::string_view name) {
  for (Severity s : {Severity::kInfo, Severity::kNotice, Severity::kWarning, Severity::kError,
                     Severity::kUnknown}) {
    if (SeverityName(s) == name) return s;
  }
  return InvalidArgumentError(fmt::format(
      "invalid severity '{}' (expected info, notice, warning, error or unknown)", name));
}

const Target* Config::FindTarget(std::string_view name) const {
  for (const Target& t : targets) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

size_t Dispatch(const Config& config, const Notification& n, Observer* observer) {
  size_t sent = 0;
  for (const std::string& name : MatchingTargets(config, n)) {
    const Target* t = config.FindTarget(name);
    if (t && SendWithRetries(*t, n, observer).ok()) ++sent;
  }
  return sent;
}

Status SendTest(const Config& config, const std::string& target, Observer* observer) {
  const Target* t = config.FindTarget(target);
  if (!t) {
    return NotFoundError(
        fmt::format("notification target '{}' does not exist (in {})", target, config.source));
  }
  Notification n;
  n.severity = Severity::kInfo;
  n.title = "Test notification";
  n.message = fmt::format("This is a test of the notification target '{}'.", target);
  n.timestamp = static_cast<int64_t>(::time(nullptr));
  n.fields = {{"type", "system"}, {"hostname", ShortHostname()}};
  Status s = SendWithRetries(*t, n, observer);
  if (!s.ok()) {
    return Status(s.code(), fmt::format("notification target '{}' ({}): {}", target,
                                        TargetTypeName(t->type), s.message()));
  }
  return s;
}

Status SendMail(const std::vector<std::string>& to, const std::string& subject,
                const std::string& body, Observer* /*observer*/) {
  MailParts p{"ctdump", "root", to, subject, body, static_cast<int64_t>(::time(nullptr))};
  // The caller names the recipients in its message (jobs: "sending the
  // notification mail to <to> failed: <this>").
  return RunSendmail(to, "root", FormatMail(p, false));
}

}  // namespace ctdump::notify
