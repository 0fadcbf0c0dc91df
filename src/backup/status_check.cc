#include "backup/status_check.h"

#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <set>

namespace ctdump::backup {
namespace {

constexpr int64_t kMaxDuration = int64_t{100} * 366 * 86400;

std::string UtcTime(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  if (!::gmtime_r(&tt, &tm)) return std::to_string(t);
  char buf[32];
  ::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

CheckState Worse(CheckState a, CheckState b) { return std::max(a, b); }

void Flag(ContainerStatus* c, CheckState s, std::string why) {
  c->state = Worse(c->state, s);
  c->reasons.push_back(std::move(why));
}

}  // namespace

Result<int64_t> ParseDuration(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError(
        fmt::format("invalid duration '{}': {} (use e.g. 90m, 36h, 2d, 1w or 1d12h)", text, why));
  };
  if (text.empty()) return bad("empty");
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    int64_t n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (n > kMaxDuration) return bad("too long");
      ++i;
    }
    if (i == start) return bad("a number must come first");
    if (i == text.size()) return bad("a unit (s, m, h, d, w) must follow the number");
    int64_t unit = 0;
    switch (text[i]) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      default:
        return bad(fmt::format("unknown unit '{}'", text[i]));
    }
    ++i;
    if (n > kMaxDuration / unit) return bad("too long");
    total += n * unit;
    if (total > kMaxDuration) return bad("too long");
  }
  if (total == 0) return bad("it must be longer than 0");
  return total;
}

std::string FormatDuration(int64_t s) {
  if (s < 60) return fmt::format("{}s", std::max<int64_t>(s, 0));
  const int64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
  if (d) return h ? fmt::format("{}d {}h", d, h) : fmt::format("{}d", d);
  if (h) return m ? fmt::format("{}h {}m", h, m) : fmt::format("{}h", h);
  return fmt::format("{}m", m);
}

std::string FormatMaxAge(int64_t s) {
  if (s % 86400 == 0) return fmt::format("{}d", s / 86400);
  if (s % 3600 == 0) return fmt::format("{}h", s / 3600);
  if (s % 60 == 0) return fmt::format("{}m", s / 60);
  return fmt::format("{}s", s);
}

const char* CheckStateName(CheckState s) {
  switch (s) {
    case CheckState::kOk:
      return "OK";
    case CheckState::kWarning:
      return "WARNING";
    case CheckState::kCritical:
      break;
  }
  return "CRITICAL";
}

StatusReport Classify(const StatusInput& in) {
  StatusReport report;
  const std::string max_age = FormatMaxAge(in.max_age);
  auto counts = [&](const std::string& storage) {
    return !in.only_storage || *in.only_storage == storage;
  };
  std::map<std::string, const GuestRecord*> records;
  for (const auto& r : in.records)
    if (counts(r.storage)) records[r.vmid] = &r;
  auto restore_test = [](const std::string& vmid) { return vmid.starts_with(kRestoreTestPrefix); };
  std::set<std::string> configured;
  for (const auto& vmid : in.containers)
    if (!restore_test(vmid)) configured.insert(vmid);
  std::set<std::string> vmids = configured;
  // Containers known only from their record (not under lxcpath: destroyed,
  // or a name that never was one): while the record is younger than max-age
  // (so that a failure shows that long), never a restore test's. Without a
  // list of lxcpath, every record.
  std::set<std::string> gone;
  for (const auto& [vmid, r] : records) {
    if (configured.count(vmid) || restore_test(vmid)) continue;
    if (!in.containers_listed) {
      vmids.insert(vmid);
    } else if (in.now - r->time < in.max_age) {
      vmids.insert(vmid);
      gone.insert(vmid);
    }
  }
  // Named containers are checked in full, whatever their record.
  if (!in.only.empty()) {
    vmids = std::set<std::string>(in.only.begin(), in.only.end());
    gone.clear();
  }
  for (const auto& x : in.exclude) vmids.erase(x);

  for (const auto& vmid : vmids) {
    ContainerStatus c;
    c.vmid = vmid;
    c.configured = configured.count(vmid) > 0;
    if (auto it = in.backups.find(vmid); it != in.backups.end())
      for (const auto& b : it->second)
        if (counts(b.storage)) c.backups.push_back(b);
    std::sort(c.backups.begin(), c.backups.end(),
              [](const NewestBackup& a, const NewestBackup& b) { return a.ctime > b.ctime; });
    if (!c.backups.empty()) c.newest = c.backups.front();
    if (auto it = records.find(vmid); it != records.end()) c.last_job = *it->second;

    // A container that is gone needs no new backups: only its last job counts.
    const bool is_gone = gone.count(vmid) > 0;
    if (!is_gone && !c.newest) {
      Flag(&c, CheckState::kCritical,
           in.only_storage ? fmt::format("no backup on storage '{}'", *in.only_storage)
                           : std::string("no backup on any storage"));
    } else if (!is_gone && in.now - c.newest->ctime >= in.max_age) {
      Flag(&c, CheckState::kCritical,
           fmt::format("no backup within {}: the newest is {} old ({}:{})", max_age,
                       FormatDuration(in.now - c.newest->ctime), c.newest->storage,
                       c.newest->volname));
    }
    if (c.last_job && c.last_job->result == GuestOutcome::kError)
      Flag(&c, CheckState::kCritical,
           fmt::format("last backup job failed ({}): {}", UtcTime(c.last_job->time),
                       c.last_job->message));
    else if (c.last_job && c.last_job->result == GuestOutcome::kWarning)
      Flag(&c, CheckState::kWarning,
           fmt::format("last backup job had {} warning(s) ({})", c.last_job->warnings,
                       UtcTime(c.last_job->time)));
    if (is_gone && c.state != CheckState::kOk)
      c.reasons.push_back(fmt::format(
          "not under lxcpath: checked until its last job is {} old (at {}); 'ctdump status "
          "--forget {}' forgets it now",
          max_age, UtcTime(c.last_job->time + in.max_age), vmid));
    report.state = Worse(report.state, c.state);
    report.containers.push_back(std::move(c));
  }

  for (const auto& [id, why] : in.unreadable_storages)
    if (counts(id))
      report.warnings.push_back(fmt::format("storage '{}' cannot be listed: {}", id, why));
  for (const auto& p : in.problems) report.warnings.push_back(p);
  if (vmids.empty()) report.warnings.push_back("no containers to check");
  if (!report.warnings.empty()) report.state = Worse(report.state, CheckState::kWarning);

  // The first line: the state, then what is wrong (worst first).
  size_t bad = 0;
  std::vector<std::string> parts;
  for (CheckState s : {CheckState::kCritical, CheckState::kWarning})
    for (const auto& c : report.containers)
      if (c.state == s) {
        ++bad;
        if (parts.size() < 3) parts.push_back(fmt::format("{}: {}", c.vmid, c.reasons.front()));
      }
  std::string text;
  const size_t n = report.containers.size();
  if (bad == 0) {
    text = fmt::format("{} container{} backed up within {}", n, n == 1 ? "" : "s", max_age);
  } else {
    text = fmt::format("{} of {} container{} not ok: ", bad, n, n == 1 ? "" : "s");
    for (size_t i = 0; i < parts.size(); ++i) text += (i ? "; " : "") + parts[i];
    if (bad > parts.size()) text += fmt::format("; and {} more", bad - parts.size());
  }
  for (const auto& w : report.warnings) text += "; " + w;
  // One line, whatever the messages hold.
  std::replace_if(
      text.begin(), text.end(), [](char ch) { return ch == '\n' || ch == '\r'; }, ' ');
  report.summary = fmt::format("CTDUMP {} - {}", CheckStateName(report.state), text);
  return report;
}

}  // namespace ctdump::backup
