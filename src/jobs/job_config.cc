#include "jobs/job_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>

#include "sys/file.h"

namespace ctdump::jobs {
namespace {

constexpr size_t kMaxJobsCfgSize = 1 << 20;

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (IsBlank(s[b]) || s[b] == '\r')) ++b;
  while (e > b && (IsBlank(s[e - 1]) || s[e - 1] == '\r')) --e;
  return std::string(s.substr(b, e - b));
}

bool ValidName(std::string_view s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

Result<bool> ParseBool(const std::string& key, const std::string& v) {
  if (v == "1") return true;
  if (v == "0") return false;
  return InvalidArgumentError(fmt::format("{}: '{}' is not a boolean (0 or 1)", key, v));
}

Result<uint32_t> ParseUint(const std::string& key, const std::string& v, uint32_t max) {
  if (v.empty() || v.size() > 10 || v.find_first_not_of("0123456789") != std::string::npos)
    return InvalidArgumentError(fmt::format("{}: '{}' is not a non-negative integer", key, v));
  uint64_t n = std::stoull(v);
  if (n > max) return InvalidArgumentError(fmt::format("{}: {} is larger than {}", key, n, max));
  return static_cast<uint32_t>(n);
}

// A section as read: header and key lines with their line numbers.
struct RawSection {
  std::string type, id;
  size_t line = 0;
  std::vector<std::pair<std::string, std::string>> options;
  std::vector<size_t> lines;
  std::vector<Status> errors;
};

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
  if (!ValidName(v)) return InvalidArgumentError(fmt::format("storage: '{}' is no storage id", v));
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
  switch (type) {
    case JobType::kVzdump:
      return vzdump;
    case JobType::kVerify:
      return verify;
    case JobType::kGc:
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
      if (job->storage.empty()) return InvalidArgumentError(what + ": no storage given");
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
  return std::nullopt;
}

// Splits the text into sections (section_config.h's grammar), with a list
// of errors per section and the errors outside any section.
std::vector<RawSection> Split(std::string_view text, const std::string& file,
                              std::vector<Status>* loose) {
  std::vector<RawSection> out;
  bool in_section = false;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view raw = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    std::string line = Trim(raw);
    auto err = [&](const std::string& why) {
      Status s = InvalidArgumentError(fmt::format("{}:{}: {}", file, line_no, why));
      if (in_section)
        out.back().errors.push_back(s);
      else
        loose->push_back(s);
    };
    if (line.empty()) {
      in_section = false;
      if (nl == text.size()) break;
      continue;
    }
    if (line[0] == '#') continue;
    if (!IsBlank(raw[0])) {
      // A header "<type>: <id>".
      in_section = false;
      size_t colon = line.find(':');
      std::string type = colon == std::string::npos ? "" : Trim(line.substr(0, colon));
      std::string id = colon == std::string::npos ? "" : Trim(line.substr(colon + 1));
      if (colon == std::string::npos || !ValidName(type) || !ValidName(id)) {
        err(fmt::format("'{}' is no section header '<type>: <id>'", line));
        // Its indented lines belong to no section: skip them quietly.
        out.push_back(RawSection{});
        out.back().line = line_no;
        out.back().errors.push_back(Status());  // marks the section as broken
        in_section = true;
        continue;
      }
      RawSection s;
      s.type = type;
      s.id = id;
      s.line = line_no;
      out.push_back(std::move(s));
      in_section = true;
      continue;
    }
    if (!in_section) {
      err(fmt::format("'{}' is outside of any section", line));
      continue;
    }
    RawSection& s = out.back();
    size_t sp = line.find_first_of(" \t");
    std::string key = line.substr(0, sp);
    std::string value = sp == std::string::npos ? "1" : Trim(line.substr(sp));
    for (const auto& [k, v] : s.options)
      if (k == key) err(fmt::format("key '{}' given twice", key));
    s.options.emplace_back(key, value);
    s.lines.push_back(line_no);
    if (nl == text.size()) break;
  }
  return out;
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
  std::vector<Status> loose;
  std::vector<RawSection> raw = Split(text, filename, &loose);
  // Errors in file order: loose ones interleave by line; keep it simple and
  // report per section in order, loose ones where they belong.
  std::vector<std::pair<size_t, Status>> errors;
  auto line_of = [&](const Status& s) {
    // "<file>:<line>: ..."
    size_t a = s.message().find(':', filename.size());
    return static_cast<size_t>(std::atoi(s.message().c_str() + a + 1));
  };
  for (const Status& s : loose) errors.emplace_back(line_of(s), s);
  std::map<std::string, size_t> seen;  // id -> header line
  for (RawSection& s : raw) {
    if (!s.errors.empty() && s.type.empty()) {  // a broken header
      for (const Status& e : s.errors)
        if (!e.ok()) errors.emplace_back(line_of(e), e);
      continue;
    }
    std::vector<Status> errs = s.errors;
    auto at = [&](size_t line, const std::string& why) {
      errs.push_back(InvalidArgumentError(fmt::format("{}:{}: {}", filename, line, why)));
    };
    auto type = ParseType(s.type);
    if (!type) {
      at(s.line, fmt::format("unknown job type '{}' (vzdump, verify, gc or restore-test)", s.type));
    } else if (seen.count(s.id)) {
      at(s.line, fmt::format("job id '{}' is already used on line {}", s.id, seen[s.id]));
    } else {
      seen[s.id] = s.line;
      JobConfig job;
      job.type = *type;
      job.id = s.id;
      job.file = filename;
      job.line = s.line;
      job.options = s.options;
      for (size_t i = 0; i < s.options.size(); ++i) {
        Status st = ApplyKey(&job, s.options[i].first, s.options[i].second);
        if (!st.ok()) at(s.lines[i], st.message());
      }
      if (errs.empty()) {
        Status st = Finish(&job);
        if (!st.ok()) at(s.line, st.message());
      }
      if (errs.empty()) cfg.jobs.push_back(std::move(job));
    }
    for (const Status& e : errs) errors.emplace_back(line_of(e), e);
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
