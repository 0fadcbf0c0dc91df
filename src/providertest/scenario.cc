#include "providertest/scenario.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "ctdump/provider.h"
#include "providertest/ctdump_child.h"
#include "providertest/failure_checks.h"
#include "providertest/fixture.h"
#include "providertest/restore_checks.h"
#include "providertest/tree_manifest.h"
#include "registry/registry.h"
#include "sys/file.h"
#include "sys/signals.h"

namespace ctdump::providertest {
namespace {

using json = nlohmann::json;

const char* MechanismName(RestoreMechanism m) {
  return m == RestoreMechanism::kTar ? "tar" : "directory";
}

// One backup of the kit's container, as `list` shows it.
struct Backup {
  std::string volid, volname;
  int64_t ctime = 0;
  uint64_t size = 0;
  bool is_protected = false;
  json notes;
};

// A backup job run by the kit: when it ran, for the listing's ctime.
struct BackupRun {
  int64_t started = 0, ended = 0;
  ChildResult child;
};

class Kit {
 public:
  Kit(const KitOptions& o, Observer* log, const std::function<void(const Check&)>& on_check)
      : o_(o), log_(log), on_check_(on_check) {
    vmid_ = fmt::format("ctdump-pt-{}", ::getpid());
    child_.exe = o.exe;
    child_.lxcpath = o.lxcpath;
    child_.config_dir = o.config_dir;
    child_.timeout_s = o.timeout_s;
    child_.interrupt_baseline = sys::InterruptCount();
  }

  Result<KitReport> Run() {
    report_.storage = o_.storage;
    Hello();
    if (!hello_ok_) {
      SkipRest("hello failed");
      return Finish();
    }
    base_ = o_.idmap_base ? *o_.idmap_base : PickIdBase(o_.lxcpath);
    KitPaths kp{o_.lxcpath, o_.run_dir, o_.state_dir};
    log_->Log(LogLevel::kInfo, fmt::format("preparing container '{}' (ID map u/g 0 {} {})", vmid_,
                                           base_, kMapCount));
    ASSIGN_OR_RETURN(source_, CreateSourceContainer(kp, vmid_, base_));
    if (o_.keep) source_->Keep();
    Scenario();
    Status cleaned = Cleanup();
    if (!cleaned.ok()) log_->Log(LogLevel::kErr, cleaned.message());
    return Finish();
  }

 private:
  // --- bookkeeping ------------------------------------------------------------

  using Running = RunningCheck;

  static Running Begin(int id, const std::string& suffix = "") { return BeginCheck(id, suffix); }

  void End(const Running& r, Outcome outcome, std::string reason,
           std::vector<std::string> details = {}) {
    Emit(EndCheck(r, outcome, std::move(reason), std::move(details)));
  }

  void Emit(Check c) {
    done_.insert(c.id);
    report_.checks.push_back(c);
    on_check_(c);
  }

  void Skip(int id, const std::string& reason, const std::string& suffix = "") {
    End(Begin(id, suffix), Outcome::kSkip, reason);
  }

  void SkipRest(const std::string& reason) {
    for (const auto& s : kChecks)
      if (!done_.count(s.id)) Skip(s.id, reason);
  }

  KitReport Finish() {
    for (const auto& c : report_.checks) {
      switch (c.outcome) {
        case Outcome::kPass:
          ++report_.passed;
          break;
        case Outcome::kFail:
          ++report_.failed;
          break;
        case Outcome::kSkip:
          ++report_.skipped;
          break;
        case Outcome::kLoss:
          ++report_.losses;
          break;
      }
    }
    return report_;
  }

  bool Interrupted() const { return sys::InterruptCount() > child_.interrupt_baseline; }

  Result<ChildResult> Ctdump(std::vector<std::string> args) {
    ASSIGN_OR_RETURN(auto r, RunCtdump(child_, args));
    return r;
  }

  std::string Volid(const std::string& volname) const { return o_.storage + ":" + volname; }

  // --- 1 hello ----------------------------------------------------------------

  void Hello() {
    auto r = Begin(1);
    auto storages = registry::LoadStorageConfig(o_.config_dir);
    if (!storages.ok()) return End(r, Outcome::kFail, storages.status().message());
    if (auto s = registry::FindStorage(*storages, o_.storage); s.ok()) {
      section_ = **s;
      if (auto c = (*s)->Get("command")) command_ = *c;
    }
    auto p = registry::OpenStorage(*storages, o_.storage, log_);
    if (!p.ok()) return End(r, Outcome::kFail, p.status().message());
    Provider& pr = **p;
    report_.provider = pr.name();
    for (const char* f : {"list_backups", "delete_backup", "update_attribute", "read_notes"})
      if (pr.HasFeature(f)) report_.features.push_back(f);
    for (auto m : pr.OfferedRestoreMechanisms()) {
      offered_.push_back(MechanismName(m));
      losses_[MechanismName(m)] = pr.RestoreLosses(m);
    }
    // A streamed restore (the datastore) is one mechanism, tar.
    if (offered_.empty() && pr.StreamsRestore()) offered_ = {"tar"};
    said_mechanisms_ = !pr.OfferedRestoreMechanisms().empty();
    Status shut = pr.Shutdown();
    if (!shut.ok()) return End(r, Outcome::kFail, "shutdown: " + shut.message());
    if (pr.name().empty()) return End(r, Outcome::kFail, "the provider has no name");
    hello_ok_ = true;
    End(r, Outcome::kPass,
        fmt::format(
            "{}; features: {}; restore mechanisms: {}", pr.name(),
            report_.features.empty() ? "none"
                                     : fmt::format("{}", fmt::join(report_.features, ", ")),
            offered_.empty() ? "(not said)" : fmt::format("{}", fmt::join(offered_, ", "))));
  }

  // --- the scenario -----------------------------------------------------------

  void Scenario() {
    FullBackup();
    if (volnames_.empty()) return SkipRest("no backup (check 2 failed)");
    if (Interrupted()) return SkipRest("interrupted");
    Incremental();
    Listing();
    if (Interrupted()) return SkipRest("interrupted");
    Notes();
    ProtectAndRetention();
    if (Interrupted()) return SkipRest("interrupted");
    Restores();
    if (Interrupted()) return SkipRest("interrupted");
    Bandwidth();
    if (Interrupted()) return SkipRest("interrupted");
    Failures();
    if (Interrupted()) return SkipRest("interrupted");
    if (o_.keep) {
      Skip(15, "--keep: the backups stay");
      Skip(20, "--keep");
      return;
    }
    Delete();
    Leftovers();
  }

  std::vector<std::string> BackupArgs(const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args = {"backup", vmid_, "--storage", o_.storage, "--mode", "stop"};
    for (const auto& x : ExcludeOptions()) {
      args.push_back("--exclude-path");
      args.push_back(x);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  Result<BackupRun> RunBackup(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = BackupArgs(extra);
    BackupRun b;
    b.started = ::time(nullptr);
    ASSIGN_OR_RETURN(b.child, Ctdump(args));
    b.ended = ::time(nullptr);
    return b;
  }

  // Why a backup job failed, or "" when it succeeded.
  static std::string BackupFailure(const ChildResult& c) {
    json t = c.Terminal();
    if (!c.ok() || t.value("event", "") != "job-end" || !t.value("ok", false)) return c.Why();
    auto guests = t.value("guests", json::array());
    if (guests.size() != 1 || !guests[0].value("ok", false)) return c.Why();
    return "";
  }

  Result<std::vector<Backup>> List(bool by_vmid) {
    std::vector<std::string> args = {"list", o_.storage};
    if (by_vmid) args.insert(args.end(), {"--vmid", vmid_});
    ASSIGN_OR_RETURN(auto c, Ctdump(args));
    if (!c.ok() || !c.Data().is_array()) return UnavailableError("list: " + c.Why());
    std::vector<Backup> out;
    for (const auto& e : c.Data()) {
      if (e.value("vmid", "") != vmid_) continue;
      Backup b;
      b.volid = e.value("volid", "");
      b.volname = b.volid.substr(b.volid.find(':') + 1);
      b.ctime = e.value("ctime", int64_t{0});
      b.size = e["size"].is_number() ? e["size"].get<uint64_t>() : 0;
      b.is_protected = e.value("protected", false);
      b.notes = e.contains("notes") ? e["notes"] : json();
      out.push_back(b);
    }
    std::sort(out.begin(), out.end(),
              [](const Backup& a, const Backup& b) { return a.ctime < b.ctime; });
    return out;
  }

  void FullBackup() {
    auto r = Begin(2);
    auto b = RunBackup();
    if (!b.ok()) return End(r, Outcome::kFail, b.status().message());
    first_ = *b;
    std::string why = BackupFailure(b->child);
    auto warns = b->child.Logs("warn");
    backup_warnings_ = warns;
    if (!why.empty()) {
      End(r, Outcome::kFail, why, b->child.Logs("err"));
    } else {
      auto listed = List(true);
      if (listed.ok() && listed->size() == 1) volnames_.push_back((*listed)[0].volname);
      if (volnames_.empty())
        End(r, Outcome::kFail,
            listed.ok()
                ? fmt::format("the job succeeded but `list` shows {} backups", listed->size())
                : listed.status().message());
      else
        End(r, Outcome::kPass, fmt::format("{}; {} warning(s)", volnames_[0], warns.size()), warns);
    }
    // 3: the worker could not read the host-root file; the job went on.
    auto w = Begin(3);
    bool warned = std::any_of(warns.begin(), warns.end(), [](const std::string& m) {
      return m.find("hostroot.txt") != std::string::npos;
    });
    if (!why.empty())
      End(w, Outcome::kFail, "the backup failed: " + why);
    else if (!warned)
      End(w, Outcome::kFail, "no warning names the host-root file srv/data/hostroot.txt", warns);
    else
      worker_view_ = w;  // ends once a restore shows its content absent
  }

  void Incremental() {
    auto r = Begin(6);
    Status changed = ChangeOneFile(source_->rootfs(), base_);
    if (!changed.ok()) return End(r, Outcome::kFail, changed.message());
    auto m = WalkTree(source_->rootfs(), KitMap(base_));
    if (!m.ok()) return End(r, Outcome::kFail, "source manifest: " + m.status().message());
    source_manifest_ = std::move(*m);
    // Backup names have one-second resolution.
    while (::time(nullptr) <= first_.ended) ::usleep(50000);
    auto b = RunBackup();
    if (!b.ok()) return End(r, Outcome::kFail, b.status().message());
    second_ = *b;
    std::string why = BackupFailure(b->child);
    if (!why.empty()) return End(r, Outcome::kFail, why, b->child.Logs("err"));
    auto listed = List(true);
    if (!listed.ok()) return End(r, Outcome::kFail, listed.status().message());
    if (listed->size() != 2)
      return End(r, Outcome::kFail, fmt::format("listed {} backups, not 2", listed->size()));
    volnames_ = {(*listed)[0].volname, (*listed)[1].volname};
    End(r, Outcome::kPass,
        fmt::format("{} ({:.1f} s; the first took {:.1f} s)", volnames_[1], b->child.seconds,
                    first_.child.seconds));
  }

  void Listing() {
    auto r = Begin(7);
    if (volnames_.size() != 2) return End(r, Outcome::kSkip, "needs two backups (check 6)");
    std::vector<std::string> problems;
    for (bool by_vmid : {true, false}) {
      const char* how = by_vmid ? "list --vmid" : "list";
      auto l = List(by_vmid);
      if (!l.ok()) return End(r, Outcome::kFail, l.status().message());
      if (l->size() != 2) {
        problems.push_back(fmt::format("{}: {} backups of {}, not 2", how, l->size(), vmid_));
        continue;
      }
      const BackupRun* runs[] = {&first_, &second_};
      for (int i = 0; i < 2; ++i) {
        const Backup& b = (*l)[i];
        if (b.volname != volnames_[i])
          problems.push_back(fmt::format("{}: {} where {} was", how, b.volname, volnames_[i]));
        if (b.ctime < runs[i]->started - 2 || b.ctime > runs[i]->ended + 2)
          problems.push_back(fmt::format("{}: {} has ctime {}, the job ran {}..{}", how, b.volname,
                                         b.ctime, runs[i]->started, runs[i]->ended));
        if (b.size == 0) problems.push_back(fmt::format("{}: {} has size 0", how, b.volname));
      }
    }
    if (!problems.empty()) return End(r, Outcome::kFail, problems[0], problems);
    End(r, Outcome::kPass, "both backups, by vmid and in the whole listing; ctime and size right");
  }

  void Notes() {
    auto r = Begin(8);
    if (!HasFeature("update_attribute"))
      return End(r, Outcome::kSkip, "the provider has no update_attribute");
    const std::string volid = Volid(volnames_.back());
    const std::string text = "ctdump provider-test\nzweite Zeile: äöü ✓";
    auto set = Ctdump({"notes", volid, "--set", text});
    if (!set.ok() || !set->ok())
      return End(r, Outcome::kFail, "set: " + (set.ok() ? set->Why() : set.status().message()));
    auto get = Ctdump({"notes", volid});
    if (!get.ok() || !get->ok())
      return End(r, Outcome::kFail, "read: " + (get.ok() ? get->Why() : get.status().message()));
    json got = get->Data().is_object() ? get->Data()["notes"] : json();
    if (!got.is_string() || got.get<std::string>() != text)
      return End(r, Outcome::kFail, fmt::format("read back {}", got.dump()));
    auto clear = Ctdump({"notes", volid, "--set", ""});
    if (!clear.ok() || !clear->ok())
      return End(r, Outcome::kFail,
                 "clear: " + (clear.ok() ? clear->Why() : clear.status().message()));
    auto again = Ctdump({"notes", volid});
    json cleared = again.ok() && again->Data().is_object() ? again->Data()["notes"] : json("?");
    if (!cleared.is_null() && !(cleared.is_string() && cleared.get<std::string>().empty()))
      return End(r, Outcome::kFail, fmt::format("after clearing: {}", cleared.dump()));
    End(r, Outcome::kPass, "two UTF-8 lines read back by a new instance; cleared");
  }

  // The protected flag of `volname` in the listing; nullopt if not listed.
  std::optional<bool> Protected(const std::string& volname) {
    auto l = List(true);
    if (!l.ok()) return std::nullopt;
    for (const auto& b : *l)
      if (b.volname == volname) return b.is_protected;
    return std::nullopt;
  }

  std::optional<std::set<std::string>> Listed() {
    auto l = List(true);
    if (!l.ok()) return std::nullopt;
    std::set<std::string> s;
    for (const auto& b : *l) s.insert(b.volname);
    return s;
  }

  // 9 and 10: the older backup protected, a prune with keep-last=1 spares
  // it; unprotected, the next prune removes it and only it.
  void ProtectAndRetention() {
    auto p = Begin(9);
    auto k = Begin(10);
    if (volnames_.size() != 2) {
      End(p, Outcome::kSkip, "needs two backups (check 6)");
      return End(k, Outcome::kSkip, "needs two backups (check 6)");
    }
    if (!HasFeature("update_attribute")) {
      End(p, Outcome::kSkip, "the provider has no update_attribute");
    } else {
      ProtectedChecks(p, k);
      if (done_.count(10)) return;
    }
    auto pruned = Ctdump({"prune", o_.storage, vmid_, "--prune-backups", "keep-last=1"});
    if (!pruned.ok() || !pruned->ok())
      return End(k, Outcome::kFail, pruned.ok() ? pruned->Why() : pruned.status().message());
    auto listed = Listed();
    std::set<std::string> want = {volnames_[1]};
    if (!listed || *listed != want)
      return End(k, Outcome::kFail,
                 listed
                     ? fmt::format("left {} instead of {}", fmt::join(*listed, ", "), volnames_[1])
                     : "list failed");
    volnames_ = {volnames_[1]};
    End(k, Outcome::kPass, "keep-last=1 removed the older backup, and only it");
  }

  void ProtectedChecks(const Running& p, const Running& k) {
    const std::string older = volnames_[0];
    auto set = Ctdump({"protect", Volid(older), "1"});
    if (!set.ok() || !set->ok())
      return End(p, Outcome::kFail, "protect: " + (set.ok() ? set->Why() : set.status().message()));
    if (Protected(older) != true) return End(p, Outcome::kFail, "not listed as protected");
    auto del = Ctdump({"delete", Volid(older)});
    if (!del.ok() || del->ok())
      return End(p, Outcome::kFail, "`ctdump delete` of the protected backup succeeded");
    auto pruned = Ctdump({"prune", o_.storage, vmid_, "--prune-backups", "keep-last=1"});
    if (!pruned.ok() || !pruned->ok())
      return End(k, Outcome::kFail, pruned.ok() ? pruned->Why() : pruned.status().message());
    auto listed = Listed();
    if (!listed || listed->size() != 2) {
      End(p, Outcome::kFail, "a prune with keep-last=1 removed the protected backup");
      return End(k, Outcome::kFail, "removed a protected backup");
    }
    auto unset = Ctdump({"protect", Volid(older), "0"});
    if (!unset.ok() || !unset->ok())
      return End(p, Outcome::kFail,
                 "unprotect: " + (unset.ok() ? unset->Why() : unset.status().message()));
    if (Protected(older) != false) return End(p, Outcome::kFail, "still listed as protected");
    End(p, Outcome::kPass,
        fmt::format("delete refused ({}); prune spared it; unprotected", del->Why()));
  }

  // --- restores (11, 12, 3, 4, 13, 14) ----------------------------------------

  std::vector<std::string> Mechanisms() {
    if (!o_.mechanisms.empty()) return o_.mechanisms;
    if (!offered_.empty()) return offered_;
    return {""};  // the one restore_get_mechanism answers
  }

  void Restores() {
    RestoreEnv env;
    env.options = &o_;
    env.vmid = vmid_;
    env.volid = Volid(volnames_.back());
    env.source_dir = source_->dir();
    env.source_manifest = &source_manifest_;
    env.base = base_;
    env.mechanisms = Mechanisms();
    env.pass_mechanism = said_mechanisms_;
    env.losses = losses_;
    env.backup_warnings = backup_warnings_;
    env.command = command_;
    env.child = child_;
    env.worker_view = worker_view_;
    worker_view_.reset();
    RunRestoreChecks(env, log_, [this](Check c) { Emit(std::move(c)); });
  }

  // Processes whose command line contains the storage's command.
  std::vector<std::string> ProviderProcesses() const {
    if (command_.empty()) return {};
    return ProcessesMatching({command_});
  }

  // --- 5 bandwidth ------------------------------------------------------------

  void Bandwidth() {
    if (!o_.bwlimit_check) return Skip(5, "quick (--bwlimit-check runs it)");
    auto r = Begin(5);
    std::string file = source_->rootfs() + "/srv/bwlimit.bin";
    std::string data(4 << 20, '\0');
    std::ifstream("/dev/urandom", std::ios::binary).read(data.data(), data.size());
    Status w = sys::WriteFileAtomic(file, data, 0644);
    if (w.ok() && ::chown(file.c_str(), base_, base_) != 0) w = ErrnoError(errno, "chown " + file);
    if (!w.ok()) return End(r, Outcome::kFail, w.message());
    auto b = RunBackup({"--bwlimit", "1024"});
    ::unlink(file.c_str());
    if (!b.ok()) return End(r, Outcome::kFail, b.status().message());
    std::string why = BackupFailure(b->child);
    auto listed = List(true);
    if (listed.ok())
      for (const auto& x : *listed)
        if (std::find(volnames_.begin(), volnames_.end(), x.volname) == volnames_.end())
          volnames_.push_back(x.volname);
    if (!why.empty()) return End(r, Outcome::kFail, why);
    if (b->child.seconds < 2.5)
      return End(r, Outcome::kFail,
                 fmt::format("4 MiB of random data at 1 MiB/s took {:.1f} s", b->child.seconds));
    End(r, Outcome::kPass, fmt::format("4 MiB at 1 MiB/s: {:.1f} s", b->child.seconds));
  }

  // --- 16-19 failure paths ----------------------------------------------------

  void Failures() {
    const char* skip = nullptr;
    if (!o_.failure_checks)
      skip = "--skip failure";
    else if (section_.type != "provider")
      skip = "built-in storage: no process to fault";
    if (skip) {
      for (int id = 16; id <= 19; ++id) Skip(id, skip);
      return;
    }
    FailureEnv env;
    env.storage_type = section_.type;
    env.storage_id = section_.id;
    env.storage_options = section_.options;
    env.vmid = vmid_;
    env.backup_args = BackupArgs();
    env.restore_volid = Volid(volnames_.back());
    // The block after the restores' (Restores: base + n * kMapCount).
    env.restore_base = base_ + kMapCount * static_cast<uint32_t>(Mechanisms().size() + 1);
    env.exe = ExecutablePath(o_.exe);
    env.child = child_;
    env.paths = KitPaths{o_.lxcpath, o_.run_dir, o_.state_dir};
    RunFailureChecks(env, log_, [this](Check c) { Emit(std::move(c)); });
  }

  // The binary's path, for a wrapper script another process runs: what
  // /proc/self/exe points to (without " (deleted)" after a rebuild).
  static std::string ExecutablePath(const std::string& exe) {
    std::error_code ec;
    std::string p = std::filesystem::read_symlink(exe, ec).string();
    if (ec || p.empty()) return exe;
    const std::string deleted = " (deleted)";
    if (p.ends_with(deleted)) p.resize(p.size() - deleted.size());
    return p;
  }

  // --- 15 delete, 20 leftovers ------------------------------------------------

  void Delete() {
    auto r = Begin(15);
    std::vector<std::string> problems;
    auto listed = List(true);
    std::vector<std::string> all;
    if (listed.ok())
      for (const auto& b : *listed) all.push_back(b.volname);
    for (const auto& v : all) {
      auto d = Ctdump({"delete", Volid(v)});
      if (!d.ok() || !d->ok())
        problems.push_back(
            fmt::format("delete {}: {}", v, d.ok() ? d->Why() : d.status().message()));
    }
    auto after = Listed();
    if (!after || !after->empty())
      problems.push_back(after ? fmt::format("still listed: {}", fmt::join(*after, ", "))
                               : "list failed");
    backups_deleted_ = problems.empty();
    std::string unknown = (all.empty() ? "vzdump-lxc-" + vmid_ : all[0]) + "-no-such-backup";
    auto u = Ctdump({"delete", Volid(unknown)});
    if (!u.ok() || u->ok())
      problems.push_back("deleting the unknown backup " + unknown + " succeeded");
    else if (u->Why().find(unknown) == std::string::npos)
      problems.push_back(
          fmt::format("deleting an unknown backup: the error does not name it: {}", u->Why()));
    if (!problems.empty()) return End(r, Outcome::kFail, problems[0], problems);
    End(r, Outcome::kPass,
        fmt::format("{} backups deleted and gone from the listing; an unknown one fails naming it",
                    all.size()));
  }

  void Leftovers() {
    auto r = Begin(20);
    std::vector<std::string> problems;
    auto all = List(false);
    if (!all.ok()) return End(r, Outcome::kFail, all.status().message());
    for (const auto& b : *all) problems.push_back("still listed: " + b.volid);
    for (const auto& p : ProviderProcesses()) problems.push_back("process " + p);
    for (const auto& m : MountsBelow(o_.run_dir)) problems.push_back("mount " + m);
    for (const auto& p : RunDirLeftovers(o_.run_dir, vmid_))
      problems.push_back("left in the run dir: " + p);
    if (!problems.empty()) return End(r, Outcome::kFail, problems[0], problems);
    End(r, Outcome::kPass, "no backup, process or mount of the kit left");
  }

  // --- the end ----------------------------------------------------------------

  Status Cleanup() {
    // A signal that ended the scenario must not stop the clean-up.
    child_.interrupt_baseline = sys::InterruptCount();
    if (!o_.keep && !backups_deleted_) {
      auto listed = List(true);
      if (listed.ok()) {
        for (const auto& b : *listed) {
          auto d = Ctdump({"delete", b.volid});
          if (!d.ok() || !d->ok())
            log_->Log(LogLevel::kErr,
                      fmt::format("could not delete the kit's backup {}: {}", b.volid,
                                  d.ok() ? d->Why() : d.status().message()));
        }
      }
    }
    if (o_.keep) {
      log_->Log(LogLevel::kInfo, fmt::format("--keep: container '{}' and its backups stay", vmid_));
      return Status::OK();
    }
    return source_ ? source_->Destroy() : Status::OK();
  }

  bool HasFeature(const std::string& f) const {
    return std::find(report_.features.begin(), report_.features.end(), f) != report_.features.end();
  }

  const KitOptions& o_;
  Observer* log_;
  std::function<void(const Check&)> on_check_;
  ChildOptions child_;
  KitReport report_;
  std::set<int> done_;
  std::string vmid_;
  uint32_t base_ = 0;
  std::string command_;  // an external storage's command
  Section section_;      // the storage's section
  bool hello_ok_ = false;
  bool said_mechanisms_ = false;
  std::vector<std::string> offered_;
  std::map<std::string, std::vector<std::string>> losses_;
  std::unique_ptr<KitContainer> source_;
  Manifest source_manifest_;
  BackupRun first_, second_;
  std::vector<std::string> volnames_;         // the kit's backups, oldest first
  std::optional<Running> worker_view_;        // check 3, until a restore ends it
  std::vector<std::string> backup_warnings_;  // of the full backup
  bool backups_deleted_ = false;
};

}  // namespace

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kPass:
      return "pass";
    case Outcome::kFail:
      return "fail";
    case Outcome::kSkip:
      return "skip";
    case Outcome::kLoss:
      return "loss";
  }
  return "?";
}

RunningCheck BeginCheck(int id, const std::string& suffix) {
  RunningCheck r{id, "", std::chrono::steady_clock::now()};
  for (const auto& s : kChecks)
    if (s.id == id) r.name = s.name;
  if (!suffix.empty()) r.name += " (" + suffix + ")";
  return r;
}

Check EndCheck(const RunningCheck& r, Outcome outcome, std::string reason,
               std::vector<std::string> details) {
  Check c;
  c.id = r.id;
  for (const auto& s : kChecks)
    if (s.id == r.id) c.group = s.group;
  c.name = r.name;
  c.outcome = outcome;
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - r.start).count();
  c.reason = std::move(reason);
  if (details.size() > kMaxDetails) details.resize(kMaxDetails);
  c.details = std::move(details);
  return c;
}

Result<KitReport> RunProviderTest(const KitOptions& options, Observer* log,
                                  const std::function<void(const Check&)>& on_check) {
  Kit kit(options, log, on_check);
  return kit.Run();
}

}  // namespace ctdump::providertest
