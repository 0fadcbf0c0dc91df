#include "jobs/job_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>

#include "ctdump/section_config.h"
#include "sys/file.h"

namespace ctdump::jobs {
namespace {

constexpr size_t kMaxJobsCfgSize = 1 << 20;

// PVE's booleans: 1|on|yes|true, 0|off|no|false, any case.
Result<bool> ParseBool(const std::string& key, const std::string& v) {
  if (std::optional<bool> b = ParsePveBool(v)) return *b;
  return InvalidArgumentError(fmt::format("{}: '{}' is not a boolean (0 or 1)", key, v));
}

Result<uint32_t> ParseUint(const std::string& key, const std::string& v, uint32_t max) {
  if (v.empty() || v.size() > 10 || v.find_first_not_of("0123456789") != std::string::npos)
    return InvalidArgumentError(fmt::format("{}: '{}' is not a non-negative integer", key, v));
  uint64_t n = std::stoull(v);
  if (n > max) return InvalidArgumentError(fmt::format("{}: {} is larger than {}", key, n, max));
  return static_cast<uint32_t>(n);
}

// Applies one key of a section to `job`; errors are "<key>: <why>" (the
// caller adds file:line).
using KeyHandler = std::function<Status(JobConfig*, const std::string&)>;

Status SetSchedule(JobConfig* job, const std::string& v) {
  auto ev = calendar::CalendarEvent::Parse(v);
  if (!ev.ok()) return ev.status().WithContext("schedule");
  job->schedule = *ev;
  return Status::OK();
}

Status SetStorage(JobConfig* job, const std::string& v) {
  if (!IsPveSectionId(v))
    return InvalidArgumentError(fmt::format("storage: '{}' is no storage id", v));
  job->storage = v;
  return Status::OK();
}

Status SetVmids(JobConfig* job, const std::string& v) {
  job->vmids = backup::SplitGuestList({v});
  if (job->vmids.empty()) return InvalidArgumentError(fmt::format("vmid: '{}' names nothing", v));
  return Status::OK();
}

const std::map<std::string, KeyHandler>& CommonKeys() {
  static const std::map<std::string, KeyHandler> keys = {
      {"schedule", SetSchedule},
      {"enabled",
       [](JobConfig* j, const std::string& v) -> Status {
         ASSIGN_OR_RETURN(j->enabled, ParseBool("enabled", v));
         return Status::OK();
       }},
      {"repeat-missed",
       [](JobConfig* j, const std::string& v) -> Status {
         ASSIGN_OR_RETURN(j->repeat_missed, ParseBool("repeat-missed", v));
         return Status::OK();
       }},
      {"comment",
       [](JobConfig* j, const std::string& v) -> Status {
         j->comment = v;
         return Status::OK();
       }},
  };
  return keys;
}

// Keys of a type beyond the common ones; vzdump's come from the job option
// table (see ApplyKey).
const std::map<std::string, KeyHandler>& TypeKeys(JobType type) {
  static const std::map<std::string, KeyHandler> vzdump = {
      {"mailto",
       [](JobConfig* j, const std::string& v) -> Status {
         ASSIGN_OR_RETURN(j->notify.mailto, ParseMailto(v));
         return Status::OK();
       }},
      {"mailnotification",
       [](JobConfig* j, const std::string& v) -> Status {
         RETURN_IF_ERROR(CheckMailnotification(v));
         j->notify.mailnotification = v;
         return Status::OK();
       }},
      {"notification-mode",
       [](JobConfig* j, const std::string& v) -> Status {
         RETURN_IF_ERROR(CheckNotificationMode(v));
         j->notify.notification_mode = v;
         return Status::OK();
       }},
  };
  static const std::map<std::string, KeyHandler> verify = {
      {"storage", SetStorage},
      {"vmid",
       [](JobConfig* j, const std::string& v) -> Status {
         RETURN_IF_ERROR(SetVmids(j, v));
         if (j->vmids.size() > 1)
           return InvalidArgumentError(
               fmt::format("vmid: '{}': a verify job takes one container", v));
         return Status::OK();
       }},
      {"ignore-verified",
       [](JobConfig* j, const std::string& v) -> Status {
         ASSIGN_OR_RETURN(j->ignore_verified, ParseBool("ignore-verified", v));
         return Status::OK();
       }},
      {"outdated-after",
       [](JobConfig* j, const std::string& v) -> Status {
         ASSIGN_OR_RETURN(j->outdated_after, ParseUint("outdated-after", v, kNeverOutdatedDays));
         return Status::OK();
       }},
  };
  static const std::map<std::string, KeyHandler> gc = {{"storage", SetStorage}};
  static const std::map<std::string, KeyHandler> restore_test = {
      {"storage", SetStorage},
      {"vmid", SetVmids},
      {"all",
       [](JobConfig* j, const std::string& v) -> Status {
         ASSIGN_OR_RETURN(j->all, ParseBool("all", v));
         return Status::OK();
       }},
      {"exclude",
       [](JobConfig* j, const std::string& v) -> Status {
         j->exclude = backup::SplitGuestList({v});
         if (j->exclude.empty())
           return InvalidArgumentError(fmt::format("exclude: '{}' names nothing", v));
         return Status::OK();
       }},
      {"check",
       [](JobConfig* j, const std::string& v) -> Status {
         j->check = v;
         return Status::OK();
       }},
      {"timeout",
       [](JobConfig* j, const std::string& v) -> Status {
         ASSIGN_OR_RETURN(j->timeout_s, ParseUint("timeout", v, 86400));
         if (j->timeout_s == 0) return InvalidArgumentError("timeout: must be at least 1");
         return Status::OK();
       }},
  };
  static const std::map<std::string, KeyHandler> sync = {
      {"source",
       [](JobConfig* j, const std::string& v) -> Status {
         if (!IsPveSectionId(v))
           return InvalidArgumentError(fmt::format("source: '{}' is no storage id", v));
         j->source = v;
         return Status::OK();
       }},
      {"target",
       [](JobConfig* j, const std::string& v) -> Status {
         if (!IsPveSectionId(v))
           return InvalidArgumentError(fmt::format("target: '{}' is no storage id", v));
         j->target = v;
         return Status::OK();
       }},
      {"vmid", SetVmids},
      {"all",
       [](JobConfig* j, const std::string& v) -> Status {
         ASSIGN_OR_RETURN(j->all, ParseBool("all", v));
         return Status::OK();
       }},
      {"remove-vanished",
       [](JobConfig* j, const std::string& v) -> Status {
         ASSIGN_OR_RETURN(j->remove_vanished, ParseBool("remove-vanished", v));
         return Status::OK();
       }},
      {"transfer-last",
       [](JobConfig* j, const std::string& v) -> Status {
         ASSIGN_OR_RETURN(uint32_t n, ParseUint("transfer-last", v, 1000000));
         if (n == 0) return InvalidArgumentError("transfer-last: must be at least 1");
         j->transfer_last = n;
         return Status::OK();
       }},
  };
  switch (type) {
    case JobType::kVzdump:
      return vzdump;
    case JobType::kSync:
      return sync;
    case JobType::kVerify:
      return verify;
    case JobType::kGc:
    case JobType::kCompact:  // the storage, as gc
      return gc;
    case JobType::kRestoreTest:
      return restore_test;
  }
  return gc;
}

Status ApplyKey(JobConfig* job, const std::string& key, const std::string& value) {
  auto common = CommonKeys().find(key);
  if (common != CommonKeys().end()) return common->second(job, value);
  const auto& keys = TypeKeys(job->type);
  auto it = keys.find(key);
  if (it != keys.end()) return it->second(job, value);
  if (job->type == JobType::kVzdump) {
    Status s = backup::SetJobOptionText(&job->backup, key, value);
    if (s.code() != Code::kNotFound) return s;
  }
  return InvalidArgumentError(
      fmt::format("unknown key '{}' in {} job '{}'", key, JobTypeName(job->type), job->id));
}

// Checks that need the whole section; errors name the section.
Status Finish(JobConfig* job) {
  std::string what = fmt::format("{} job '{}'", JobTypeName(job->type), job->id);
  switch (job->type) {
    case JobType::kVzdump: {
      const backup::JobOptions& b = job->backup;
      if (!job->schedule) return InvalidArgumentError(what + ": no schedule given");
      bool all = b.all || !b.exclude.empty();
      if (all && !b.vmids.empty())
        return InvalidArgumentError(what + ": give either vmid or all 1 (with exclude), not both");
      if (!all && b.vmids.empty())
        return InvalidArgumentError(what + ": no container selected (vmid or all 1)");
      if (b.storage && b.dumpdir)
        return InvalidArgumentError(what + ": cannot use options 'storage' and 'dumpdir' together");
      if (b.prune_backups && b.maxfiles)
        return InvalidArgumentError(what + ": 'prune-backups' conflicts with 'maxfiles'");
      return Status::OK();
    }
    case JobType::kVerify:
      if (job->ignore_verified)
        job->skip_verified_days = job->outdated_after.value_or(kNeverOutdatedDays);
      [[fallthrough]];
    case JobType::kGc:
    case JobType::kCompact:
      if (job->storage.empty()) return InvalidArgumentError(what + ": no storage given");
      return Status::OK();
    case JobType::kSync:
      if (job->source.empty()) return InvalidArgumentError(what + ": no source storage given");
      if (job->target.empty()) return InvalidArgumentError(what + ": no target storage given");
      if (job->source == job->target)
        return InvalidArgumentError(what + ": source and target are the same storage");
      if (job->all && !job->vmids.empty())
        return InvalidArgumentError(what + ": give either vmid or all 1, not both");
      if (job->vmids.empty()) job->all = true;
      return Status::OK();
    case JobType::kRestoreTest:
      if (job->storage.empty()) return InvalidArgumentError(what + ": no storage given");
      if (!job->exclude.empty()) job->all = true;
      if (job->all && !job->vmids.empty())
        return InvalidArgumentError(what + ": give either vmid or all 1 (with exclude), not both");
      if (!job->all && job->vmids.empty())
        return InvalidArgumentError(what + ": no container selected (vmid or all 1)");
      return Status::OK();
  }
  return Status::OK();
}

std::optional<JobType> ParseType(std::string_view t) {
  if (t == "vzdump") return JobType::kVzdump;
  if (t == "verify") return JobType::kVerify;
  if (t == "gc") return JobType::kGc;
  if (t == "restore-test") return JobType::kRestoreTest;
  if (t == "sync") return JobType::kSync;
  if (t == "compact") return JobType::kCompact;
  return std::nullopt;
}

}  // namespace

std::string_view JobTypeName(JobType type) {
  switch (type) {
    case JobType::kVzdump:
      return "vzdump";
    case JobType::kVerify:
      return "verify";
    case JobType::kGc:
      return "gc";
    case JobType::kRestoreTest:
      return "restore-test";
    case JobType::kSync:
      return "sync";
    case JobType::kCompact:
      return "compact";
  }
  return "?";
}

Result<std::vector<std::string>> ParseMailto(const std::string& value) {
  std::vector<std::string> out = backup::SplitGuestList({value});
  if (out.empty()) return InvalidArgumentError(fmt::format("mailto: '{}' names nobody", value));
  for (const std::string& a : out) {
    bool bad = a[0] == '-' || std::any_of(a.begin(), a.end(), [](char c) {
                 return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
               });
    if (bad) return InvalidArgumentError(fmt::format("mailto: '{}' is no mail address", a));
  }
  return out;
}

Status CheckMailnotification(const std::string& value) {
  if (value == "always" || value == "failure") return Status::OK();
  return InvalidArgumentError(
      fmt::format("mailnotification: '{}' is not one of always, failure", value));
}

Status CheckNotificationMode(const std::string& value) {
  if (value == "auto" || value == "legacy-sendmail" || value == "notification-system")
    return Status::OK();
  return InvalidArgumentError(fmt::format(
      "notification-mode: '{}' is not one of auto, legacy-sendmail, notification-system", value));
}

std::string JobConfig::StateKey() const { return fmt::format("{}-{}", JobTypeName(type), id); }

const JobConfig* JobsConfig::Find(std::string_view id) const {
  for (const JobConfig& j : jobs)
    if (j.id == id) return &j;
  return nullptr;
}

JobsConfig ParseJobsConfig(std::string_view text, const std::string& filename) {
  JobsConfig cfg;
  cfg.file = filename;
  ParsedSectionConfig parsed = ParseSectionConfigLines(text, filename);
  std::vector<std::pair<size_t, Status>> errors;  // (line, error), sorted at the end
  std::vector<bool> broken(parsed.sections.size(), false);
  for (const SectionConfigError& e : parsed.errors) {
    errors.emplace_back(e.line, e.status);
    if (e.section) broken[*e.section] = true;
  }
  std::map<std::string, size_t> seen;  // id -> header line
  for (size_t index = 0; index < parsed.sections.size(); ++index) {
    const LocatedSection& located = parsed.sections[index];
    const Section& s = located.section;
    bool ok = !broken[index];
    auto at = [&](size_t line, const std::string& why) {
      errors.emplace_back(line,
                          InvalidArgumentError(fmt::format("{}:{}: {}", filename, line, why)));
      ok = false;
    };
    auto type = ParseType(s.type);
    if (!type) {
      at(located.line,
         fmt::format("unknown job type '{}' (vzdump, verify, gc, sync or restore-test)", s.type));
      continue;
    }
    if (seen.count(s.id)) {
      at(located.line, fmt::format("job id '{}' is already used on line {}", s.id, seen[s.id]));
      continue;
    }
    seen[s.id] = located.line;
    JobConfig job;
    job.type = *type;
    job.id = s.id;
    job.file = filename;
    job.line = located.line;
    job.options = s.options;
    for (size_t i = 0; i < s.options.size(); ++i) {
      Status st = ApplyKey(&job, s.options[i].first, s.options[i].second);
      if (!st.ok()) at(located.option_lines[i], st.message());
    }
    if (ok) {
      Status st = Finish(&job);
      if (!st.ok()) at(located.line, st.message());
    }
    if (ok) cfg.jobs.push_back(std::move(job));
  }
  std::stable_sort(errors.begin(), errors.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [line, s] : errors) cfg.errors.push_back(std::move(s));
  return cfg;
}

Result<JobsConfig> LoadJobsConfig(const std::string& config_dir) {
  std::string path = config_dir + "/jobs.cfg";
  auto text = sys::ReadRegularFile(path, kMaxJobsCfgSize);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) {
      JobsConfig empty;
      empty.file = path;
      return empty;
    }
    return text.status();
  }
  return ParseJobsConfig(*text, path);
}

}  // namespace ctdump::jobs
