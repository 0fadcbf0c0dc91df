#include "restore/test_restore.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "container/container.h"
#include "ctdump/provider.h"
#include "provider/volume_id.h"
#include "registry/registry.h"
#include "restore/guest_config.h"
#include "restore/restore_journal.h"
#include "sys/file.h"
#include "sys/journal.h"
#include "sys/signals.h"

namespace ctdump::restore {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

bool Overlaps(const IdRange& a, const IdRange& b) {
  return a.start < b.start + b.count && b.start < a.start + a.count;
}

// "u 0 100000 65536" -> type and host range; false when malformed.
bool ParseIdmapValue(const std::string& v, char* type, IdRange* host) {
  char t = 0;
  unsigned long long ct = 0, hs = 0, n = 0;
  if (std::sscanf(v.c_str(), " %c %llu %llu %llu", &t, &ct, &hs, &n) != 4) return false;
  if (t != 'u' && t != 'g') return false;
  *type = t;
  *host = {hs, n};
  return true;
}

uint64_t Extent(const IdMap& map, char type) {
  uint64_t e = 0;
  for (const auto& x : map.entries())
    if (x.type == type) e = std::max<uint64_t>(e, uint64_t{x.ct_start} + x.count);
  return e;
}

// The new container's map: one range per type covering the ids the backup
// uses, from root's subordinate ids, overlapping neither the backed-up map
// nor (if possible) another container's.
Result<IdMap> PickTestMap(const BackedUpConfig& b, const std::string& lxcpath, Observer* log) {
  IdMap backed = IdMap();
  if (b.unprivileged) {
    auto m = IdMap::Parse(b.idmap_values, true);
    if (m.ok()) backed = *m;
  }
  uint64_t count =
      std::max<uint64_t>({Extent(backed, 'u'), Extent(backed, 'g'), IdMap::kDefaultCount});
  auto delegated = [](const char* path) {
    auto text = sys::ReadFile(path);
    return DelegatedRanges(text.ok() ? *text : "", "root", "0");
  };
  std::vector<IdRange> sub_u = delegated("/etc/subuid"), sub_g = delegated("/etc/subgid");
  std::vector<IdRange> taken_u = HostRanges(backed, 'u'), taken_g = HostRanges(backed, 'g');
  std::vector<IdRange> all_u = taken_u, all_g = taken_g;
  TakenByContainers(lxcpath, &all_u, &all_g);
  auto u = PickFreeIdBlock(sub_u, all_u, count);
  auto g = PickFreeIdBlock(sub_g, all_g, count);
  if (!u || !g) {
    u = PickFreeIdBlock(sub_u, taken_u, count);
    g = PickFreeIdBlock(sub_g, taken_g, count);
    if (u && g)
      log->Log(LogLevel::kWarn,
               "no subordinate id range free of every container's ID map; the test container "
               "shares host ids with another container (add a range to /etc/subuid and "
               "/etc/subgid to avoid that)");
  }
  if (!u || !g)
    return FailedPreconditionError(fmt::format(
        "no range of {} subordinate ids of root (/etc/subuid, /etc/subgid) that differs from the "
        "backed-up ID map ({}); the test container needs its own: add a line 'root:<start>:{}' "
        "with ids nobody else uses to both files",
        count, backed.empty() ? "none" : backed.ToString(), count));
  return IdMap::Parse({fmt::format("u 0 {} {}", *u, count), fmt::format("g 0 {} {}", *g, count)},
                      true);
}

// The throw-away container: stopped and destroyed, and its journal
// cleared, whatever way the test ends.
class Guard {
 public:
  Guard(const Paths& paths, std::string name, Observer* log)
      : paths_(paths), name_(std::move(name)), log_(log) {}
  ~Guard() { Destroy(); }

  // True when nothing of the container is left.
  bool Destroy() {
    if (done_) return clean_;
    done_ = true;
    std::string ct_dir = fmt::format("{}/{}", paths_.lxcpath, name_);
    bool clean = true;
    auto ct = container::Container::Open(name_, paths_.lxcpath);
    if (ct.ok()) {
      auto t = Clock::now();
      bool was_running = ct->IsRunning();
      Status s = ct->Stop();
      if (!s.ok()) {
        log_->Log(LogLevel::kErr,
                  fmt::format("unable to stop test container '{}': {}", name_, s.message()));
        clean = false;
      } else {
        if (was_running)
          log_->Log(LogLevel::kInfo,
                    fmt::format("stopped container '{}' ({:.1f} s)", name_, Since(t)));
        s = ct->Destroy();
        if (!s.ok()) log_->Log(LogLevel::kWarn, s.message());  // removed below
      }
    }
    if (clean && sys::PathExists(ct_dir)) {
      Status s = sys::RemoveTree(ct_dir);
      if (!s.ok()) {
        log_->Log(LogLevel::kErr, s.message());
        clean = false;
      }
    }
    // What is left stays in the journal for `ctdump cleanup`.
    if (clean) {
      Status s = ClearRestoreJournal(sys::MakeJournalDirs(paths_.state_dir, paths_.run_dir), name_);
      if (!s.ok()) log_->Log(LogLevel::kWarn, s.message());
      // The name is never used again: its lock files go too.
      ::unlink(RestoreLockPath(paths_.run_dir, name_).c_str());
      container::RemoveLxcLockFiles(name_, paths_.lxcpath);
    }
    clean_ = clean;
    return clean;
  }

 private:
  Paths paths_;
  std::string name_;
  Observer* log_;
  bool done_ = false;
  bool clean_ = false;
};

std::string FreeName(const std::string& lxcpath) {
  for (int n = 0;; ++n) {
    std::string name = fmt::format("ctdump-rt-{}-{}", ::getpid(), n);
    if (!sys::PathExists(lxcpath + "/" + name)) return name;
  }
}

}  // namespace

std::vector<IdRange> HostRanges(const IdMap& map, char type) {
  std::vector<IdRange> out;
  for (const auto& e : map.entries())
    if (e.type == type) out.push_back({e.host_start, e.count});
  return out;
}

void TakenByContainers(const std::string& lxcpath, std::vector<IdRange>* uids,
                       std::vector<IdRange>* gids) {
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator(lxcpath, ec)) {
    auto text = sys::ReadFile(d.path().string() + "/config");
    if (!text.ok()) continue;
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
      auto k = line.find_first_not_of(" \t");
      if (k == std::string::npos || line.compare(k, 9, "lxc.idmap") != 0) continue;
      auto eq = line.find('=', k);
      if (eq == std::string::npos) continue;
      char t;
      IdRange r;
      if (ParseIdmapValue(line.substr(eq + 1), &t, &r)) (t == 'u' ? uids : gids)->push_back(r);
    }
  }
}

std::optional<uint64_t> PickFreeIdBlock(const std::vector<IdRange>& delegated,
                                        const std::vector<IdRange>& taken, uint64_t count) {
  if (count == 0) return std::nullopt;
  for (const auto& d : delegated) {
    for (uint64_t start = d.start; start + count <= d.start + d.count; start += count) {
      if (start == 0 || start + count - 1 > UINT32_MAX) continue;
      IdRange cand{start, count};
      if (std::none_of(taken.begin(), taken.end(),
                       [&](const IdRange& t) { return Overlaps(cand, t); }))
        return start;
    }
  }
  return std::nullopt;
}

std::string IsolateConfig(const std::string& lxc_config) {
  std::istringstream in(lxc_config);
  std::string line, out;
  while (std::getline(in, line)) {
    auto k = line.find_first_not_of(" \t");
    if (k != std::string::npos &&
        (line.compare(k, 8, "lxc.net.") == 0 || line.compare(k, 7, "lxc.net") == 0 ||
         line.compare(k, 14, "lxc.start.auto") == 0 || line.compare(k, 7, "lxc.network") == 0))
      continue;
    out += line + "\n";
  }
  out += "# restore test (ctdump restore-test): no network, no autostart\n";
  out += "lxc.net.0.type = empty\n";
  out += "lxc.start.auto = 0\n";
  return out;
}

Result<RestoreTestResult> RunRestoreTest(const RestoreTestOptions& o, const Paths& paths,
                                         Observer* log) {
  ASSIGN_OR_RETURN(provider::VolumeId volid, provider::ParseVolumeId(o.volid));
  RestoreTestResult result;
  result.volid = o.volid;
  const auto start_all = Clock::now();
  const int signals_before = sys::InterruptCount();
  auto interrupted = [&] { return sys::InterruptCount() != signals_before; };

  std::string phase = "restore";
  Clock::time_point phase_start = Clock::now();
  auto begin = [&](const std::string& p) {
    phase = p;
    phase_start = Clock::now();
  };
  auto end = [&](bool ok) {
    double s = Since(phase_start);
    result.phases.push_back({phase, s, ok});
    return s;
  };
  auto fail = [&](const Status& s) {
    end(false);
    result.failed_phase = phase;
    result.error = interrupted() && s.code() != Code::kCancelled
                       ? "interrupted by signal (" + s.message() + ")"
                       : s.message();
    log->Log(LogLevel::kErr, fmt::format("restore test: {} failed - {}", phase, result.error));
  };

  std::string name = FreeName(paths.lxcpath);
  result.container = name;
  log->Log(LogLevel::kInfo, fmt::format("starting restore test of '{}' in throw-away container "
                                        "'{}'",
                                        o.volid, name));
  std::optional<Guard> guard;
  std::unique_ptr<Provider> provider;
  IdMap map;
  do {
    begin("restore");
    auto storages = registry::LoadStorageConfig(paths.config_dir);
    if (!storages.ok()) {
      fail(storages.status());
      break;
    }
    auto p = registry::OpenStorage(*storages, volid.storage, log);
    if (!p.ok()) {
      fail(p.status());
      break;
    }
    provider = std::move(*p);
    auto raw = provider->ArchiveGetGuestConfig(volid.volname);
    auto backed_up = raw.ok() ? InspectGuestConfig(*raw) : Result<BackedUpConfig>(raw.status());
    if (!backed_up.ok()) {
      fail(backed_up.status());
      break;
    }
    auto picked = PickTestMap(*backed_up, paths.lxcpath, log);
    if (!picked.ok()) {
      fail(picked.status());
      break;
    }
    map = *picked;
    result.idmap = map.ToString();
    RestoreOptions ro;
    ro.volid = o.volid;
    ro.name = name;
    ro.unprivileged = true;
    for (const auto& e : map.entries())
      ro.idmap.push_back(fmt::format("{} {} {} {}", e.type, e.ct_start, e.host_start, e.count));
    ro.unique = true;
    ro.throwaway = true;
    guard.emplace(paths, name, log);
    Status restored = RunRestore(ro, paths, log);
    if (restored.ok() && interrupted()) restored = CancelledError("interrupted by signal");
    if (!restored.ok()) {
      fail(restored);
      break;
    }
    std::string ct_dir = fmt::format("{}/{}", paths.lxcpath, name);
    auto cfg = sys::ReadFile(ct_dir + "/config");
    Status isolated = cfg.ok() ? sys::WriteFileAtomic(ct_dir + "/config", IsolateConfig(*cfg), 0640)
                               : cfg.status();
    if (!isolated.ok()) {
      fail(isolated);
      break;
    }
    log->Log(LogLevel::kInfo, fmt::format("restore finished ({:.1f} s); ID map {}, no network",
                                          end(true), result.idmap));

    begin("compare");
    std::string rootfs = ct_dir + "/rootfs";
    auto cmp = CompareBackup(*provider, volid.volname, o, rootfs, map, log);
    if (cmp.ok()) result.compare = *cmp;
    if (!cmp.ok()) {
      fail(cmp.status());
      break;
    }
    if (interrupted()) {
      fail(CancelledError("interrupted by signal"));
      break;
    }
    if (cmp->mismatches) {
      for (const auto& m : cmp->first_mismatches) log->Log(LogLevel::kErr, "differs: " + m);
      fail(DataLossError(
          fmt::format("{} of {} entries differ from the backup ({} files compared byte for byte)",
                      cmp->mismatches, cmp->entries, cmp->files_sampled)));
      break;
    }
    log->Log(LogLevel::kInfo,
             fmt::format("compared {} entries with the backup, {} files ({}) byte for byte; all "
                         "equal ({:.1f} s)",
                         cmp->entries, cmp->files_sampled,
                         fmt::format("{:.1f} MiB", cmp->bytes_sampled / 1048576.0), end(true)));

    begin("start");
    auto ct = container::Container::Open(name, paths.lxcpath);
    if (!ct.ok()) {
      fail(ct.status());
      break;
    }
    Status started = ct->Start(std::chrono::seconds(o.timeout_s));
    if (!started.ok()) {
      fail(started);
      break;
    }
    log->Log(LogLevel::kInfo, fmt::format("container started ({:.1f} s)", end(true)));
    if (interrupted()) {
      begin("init");
      fail(CancelledError("interrupted by signal"));
      break;
    }

    begin("init");
    Status ready = ct->WaitForInit(std::chrono::seconds(o.timeout_s));
    if (!ready.ok()) {
      fail(ready);
      break;
    }
    // A systemd container: until it has finished booting (running, or
    // degraded: a unit failed, reported as a warning).
    auto boot = ct->RunCommand({"/bin/sh", "-c",
                                "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; "
                                "then systemctl is-system-running --wait; fi"},
                               std::chrono::seconds(o.timeout_s));
    if (!boot.ok()) {
      fail(boot.status().WithContext("waiting for systemd in the container"));
      break;
    }
    std::string systemd = boot->output;
    while (!systemd.empty() && (systemd.back() == '\n' || systemd.back() == ' '))
      systemd.pop_back();
    if (!systemd.empty() && systemd != "running")
      log->Log(LogLevel::kWarn, fmt::format("systemd in the container is '{}'", systemd));
    log->Log(LogLevel::kInfo,
             fmt::format("init ready: RUNNING, init pid {}, attach runs commands{} ({:.1f} s)",
                         ct->InitPid(), systemd.empty() ? "" : ", systemd " + systemd, end(true)));

    begin("check");
    std::vector<std::string> argv = o.check.empty()
                                        ? std::vector<std::string>{"/bin/true"}
                                        : std::vector<std::string>{"/bin/sh", "-c", o.check};
    log->Log(LogLevel::kInfo,
             fmt::format("running check: {}", o.check.empty() ? "/bin/true" : o.check));
    auto ran = ct->RunCommand(argv, std::chrono::seconds(o.timeout_s));
    if (!ran.ok()) {
      fail(ran.status());
      break;
    }
    result.check_exit = ran->exit_code;
    result.check_output = ran->output;
    std::istringstream lines(ran->output);
    std::string line;
    while (std::getline(lines, line)) log->Log(LogLevel::kInfo, "check: " + line);
    if (ran->exit_code != 0) {
      fail(IOError(fmt::format("check command exited with {}", ran->exit_code)));
      break;
    }
    log->Log(LogLevel::kInfo, fmt::format("check passed ({:.1f} s)", end(true)));
  } while (false);

  // Destroy in every case.
  begin("destroy");
  bool cleaned = guard ? guard->Destroy() : true;
  if (provider) {
    Status s = provider->Shutdown();
    if (!s.ok()) log->Log(LogLevel::kWarn, s.message());
  }
  result.cleaned = cleaned;
  if (!cleaned) {
    bool first_failure = result.failed_phase.empty();
    end(false);
    if (first_failure) {
      result.failed_phase = "destroy";
      result.error = fmt::format(
          "container '{}' could not be removed completely (`ctdump "
          "cleanup` retries)",
          name);
    }
  } else {
    log->Log(LogLevel::kInfo, fmt::format("destroyed container '{}' ({:.1f} s)", name, end(true)));
  }
  result.total_seconds = Since(start_all);
  result.passed = result.failed_phase.empty();
  if (result.passed)
    log->Log(LogLevel::kInfo,
             fmt::format("restore test of '{}' passed ({:.1f} s)", o.volid, result.total_seconds));
  else
    log->Log(LogLevel::kErr,
             fmt::format("restore test of '{}' FAILED in phase {} ({:.1f} s): {}", o.volid,
                         result.failed_phase, result.total_seconds, result.error));
  return result;
}

}  // namespace ctdump::restore
