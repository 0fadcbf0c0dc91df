#include "providertest/restore_checks.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <utility>

#include "providertest/failure_checks.h"
#include "providertest/fixture.h"
#include "restore/guest_config.h"
#include "sys/file.h"
#include "sys/signals.h"

namespace ctdump::providertest {
namespace {

class RestoreChecks {
 public:
  RestoreChecks(const RestoreEnv& env, Observer* log, const std::function<void(Check)>& end)
      : env_(env), o_(*env.options), log_(log), end_(end), worker_view_(env.worker_view) {}

  void Run() {
    uint32_t n = 0;
    for (const auto& m : env_.mechanisms) {
      if (sys::InterruptCount() > env_.child.interrupt_baseline) break;
      Restore(m, env_.base + kMapCount * ++n);
    }
    if (worker_view_) End(*worker_view_, Outcome::kSkip, "warning present; no restore to look at");
  }

 private:
  void End(const RunningCheck& r, Outcome outcome, std::string reason,
           std::vector<std::string> details = {}) {
    end_(EndCheck(r, outcome, std::move(reason), std::move(details)));
  }

  void Restore(const std::string& mech, uint32_t rbase) {
    std::string label = mech.empty() ? "default" : mech;
    std::string target = fmt::format("{}-{}", env_.vmid, label);
    auto r = BeginCheck(11, label);
    std::vector<std::string> args = {"restore",
                                     env_.volid,
                                     target,
                                     "--idmap",
                                     fmt::format("u 0 {} {}", rbase, kMapCount),
                                     "--idmap",
                                     fmt::format("g 0 {} {}", rbase, kMapCount)};
    if (!mech.empty() && env_.pass_mechanism) args.insert(args.end(), {"--mechanism", mech});
    auto c = RunCtdump(env_.child, args);
    KitPaths kp{o_.lxcpath, o_.run_dir, o_.state_dir};
    std::unique_ptr<KitContainer> restored;
    if (sys::PathExists(o_.lxcpath + "/" + target)) {
      auto j = KitContainer::Journal(kp, target);
      if (j.ok()) restored = std::move(*j);
      if (restored && o_.keep) restored->Keep();
    }
    if (!c.ok() || !c->ok()) {
      End(r, Outcome::kFail, c.ok() ? c->Why() : c.status().message(),
          c.ok() ? c->Logs("err") : std::vector<std::string>{});
      End(BeginCheck(12, label), Outcome::kSkip, "restore failed");
      return;
    }
    End(r, Outcome::kPass,
        fmt::format("into {} with ID map u/g 0 {} {} ({:.1f} s)", target, rbase, kMapCount,
                    c->seconds));
    std::string root = o_.lxcpath + "/" + target + "/rootfs";
    Fidelity(label, root, rbase);
    if (!exclusions_done_) Exclusions(root);
    if (worker_view_) WorkerView(root);
    Configs(label, target, rbase);
    CleanupCheck(label, target);
    if (restored && !o_.keep) {
      Status s = restored->Destroy();
      if (!s.ok()) log_->Log(LogLevel::kErr, s.message());
    }
  }

  void Fidelity(const std::string& label, const std::string& root, uint32_t rbase) {
    auto r = BeginCheck(12, label);
    auto m = WalkTree(root, KitMap(rbase));
    if (!m.ok()) return End(r, Outcome::kFail, m.status().message());
    CompareOptions co;
    co.ignore = {"dev/*", kHostRootFile, kUnmappedFile};
    for (const auto& x : ExcludedPaths()) co.ignore.push_back(x);
    auto losses = env_.losses.find(label);
    if (losses != env_.losses.end()) co.losses = {losses->second.begin(), losses->second.end()};
    Comparison cmp = CompareManifests(*env_.source_manifest, *m, co);
    if (!cmp.failures.empty())
      return End(r, Outcome::kFail,
                 fmt::format("{} of {} entries differ", cmp.entries - cmp.equal, cmp.entries),
                 cmp.failures);
    if (!cmp.declared.empty())
      return End(r, Outcome::kLoss, fmt::format("declared: {}", fmt::join(co.losses, ", ")),
                 cmp.declared);
    End(r, Outcome::kPass, fmt::format("{} entries equal", cmp.entries));
  }

  void Exclusions(const std::string& root) {
    exclusions_done_ = true;
    auto r = BeginCheck(4);
    std::vector<std::string> present;
    for (const auto& x : ExcludedPaths()) {
      std::string p = root + "/" + x;
      struct stat st;
      if (::lstat(p.c_str(), &st) != 0) continue;
      // An excluded directory may stay, empty.
      std::error_code ec;
      if (S_ISDIR(st.st_mode) && std::filesystem::is_empty(p, ec)) continue;
      present.push_back(x);
    }
    // A provider may refuse a pattern it cannot apply as vzdump's tar would
    // (a trailing slash never matches there), if it says so in the log.
    std::string refused;
    for (const auto& w : env_.backup_warnings)
      if (w.find("/var/cache/") != std::string::npos) refused = w;
    bool only_cache = std::all_of(present.begin(), present.end(), [](const std::string& x) {
      return x == "var/cache" || x.starts_with("var/cache/");
    });
    if (!present.empty() && only_cache && !refused.empty())
      return End(r, Outcome::kLoss, "declared in the backup log: " + refused, present);
    if (!present.empty())
      return End(r, Outcome::kFail, fmt::format("{} excluded entries restored", present.size()),
                 present);
    End(r, Outcome::kPass,
        fmt::format("standard excludes and --exclude-path {} absent after the restore",
                    fmt::join(ExcludeOptions(), ", --exclude-path ")));
  }

  void WorkerView(const std::string& root) {
    RunningCheck w = *worker_view_;
    worker_view_.reset();
    auto text = sys::ReadFile(root + "/" + kHostRootFile);
    if (text.ok() && text->find(kHostRootContent) != std::string::npos)
      return End(w, Outcome::kFail, "the restored tree has the host-root file's content");
    End(w, Outcome::kPass,
        "hostroot.txt unreadable to the worker (warned), backup OK, content not restored");
  }

  void Configs(const std::string& label, const std::string& target, uint32_t rbase) {
    auto r = BeginCheck(13, label);
    auto src = sys::ReadFile(env_.source_dir + "/config");
    auto dst = sys::ReadFile(o_.lxcpath + "/" + target + "/config");
    if (!src.ok() || !dst.ok())
      return End(r, Outcome::kFail, (!src.ok() ? src : dst).status().message());
    std::set<std::string> restored_lines;
    std::istringstream in(*dst);
    for (std::string l; std::getline(in, l);) restored_lines.insert(l);
    std::vector<std::string> problems;
    std::istringstream sin(*src);
    for (std::string l; std::getline(sin, l);) {
      auto eq = l.find(" = ");
      if (l.empty() || l[0] == '#' || eq == std::string::npos) continue;
      std::string key = l.substr(0, eq), value = l.substr(eq + 3);
      if (restore::IsRestorableLxcKey(key, value) && !restored_lines.count(l))
        problems.push_back("guest config: missing '" + l + "'");
    }
    for (char t : {'u', 'g'}) {
      std::string want = fmt::format("lxc.idmap = {} 0 {} {}", t, rbase, kMapCount);
      if (!restored_lines.count(want)) problems.push_back("guest config: missing '" + want + "'");
    }
    auto fw = sys::ReadFile(o_.lxcpath + "/" + target + "/ctdump.fw");
    if (!fw.ok())
      problems.push_back("firewall config: " + fw.status().message());
    else if (*fw != kFirewallConfig)
      problems.push_back("firewall config differs from the backed-up ctdump.fw");
    if (!problems.empty()) return End(r, Outcome::kFail, problems[0], problems);
    End(r, Outcome::kPass, "guest config keys and ID map as expected; firewall config byte-equal");
  }

  void CleanupCheck(const std::string& label, const std::string& target) {
    auto r = BeginCheck(14, label);
    std::vector<std::string> problems;
    for (const auto& m : MountsBelow(o_.lxcpath + "/" + target)) problems.push_back("mount " + m);
    if (!env_.command.empty())
      for (const auto& p : ProcessesMatching({env_.command})) problems.push_back("process " + p);
    for (const auto& p : RunDirLeftovers(o_.run_dir, env_.vmid))
      problems.push_back("left in the run dir: " + p);
    if (!problems.empty()) return End(r, Outcome::kFail, problems[0], problems);
    End(r, Outcome::kPass, "no mount, process or run directory of the restore left");
  }

  const RestoreEnv& env_;
  const KitOptions& o_;
  Observer* log_;
  const std::function<void(Check)>& end_;
  std::optional<RunningCheck> worker_view_;
  bool exclusions_done_ = false;
};

}  // namespace

void RunRestoreChecks(const RestoreEnv& env, Observer* log, const std::function<void(Check)>& end) {
  RestoreChecks(env, log, end).Run();
}

std::vector<std::string> MountsBelow(const std::string& dir) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string id, parent, dev, root, point;
    f >> id >> parent >> dev >> root >> point;
    if (point == dir || point.rfind(dir + "/", 0) == 0) out.push_back(point);
  }
  return out;
}

std::vector<std::string> RunDirLeftovers(const std::string& run_dir, const std::string& vmid) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(run_dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename();
    if (name.find(vmid) == std::string::npos || name.ends_with(".lock")) continue;
    out.push_back(it->path().string());
  }
  return out;
}

}  // namespace ctdump::providertest
