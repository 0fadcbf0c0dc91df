// First commit: the interface compiles and links; the implementation follows.
#include "notify/notify.h"

namespace ctdump::notify {

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
  return InvalidArgumentError("invalid severity '" + std::string(name) + "'");
}

const Target* Config::FindTarget(std::string_view name) const {
  for (const Target& t : targets) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

Result<Config> LoadConfig(const std::string& /*config_dir*/) {
  return InternalError("notify::LoadConfig: not implemented yet");
}

Result<Config> ParseConfig(std::string_view, const std::string&, std::string_view,
                           const std::string&) {
  return InternalError("notify::ParseConfig: not implemented yet");
}

std::vector<std::string> MatchingTargets(const Config&, const Notification&) { return {}; }

size_t Dispatch(const Config&, const Notification&, Observer*) { return 0; }

Status SendTest(const Config&, const std::string& target, Observer*) {
  return InternalError("notify test " + target + ": not implemented yet");
}

Status SendMail(const std::vector<std::string>&, const std::string&, const std::string&,
                Observer*) {
  return InternalError("notify::SendMail: not implemented yet");
}

}  // namespace ctdump::notify
