#include "providertest/failure_checks.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <utility>

#include "sys/file.h"
#include "sys/unique_fd.h"

namespace ctdump::providertest {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr unsigned kHangTimeout = 20;   // the faulted copy's `timeout` in check 17
constexpr double kHangSlack = 15;       // seconds beyond it the failed job may take
constexpr unsigned kAbortTimeout = 60;  // a safety net in check 19: SIGTERM ends it first
constexpr double kAbortWithin = 15;     // seconds from SIGTERM to the job's end
constexpr auto kProcessGrace = std::chrono::seconds(3);  // for killed processes to go

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct FaultSpec {
  std::vector<std::string> crash, hang, garbage;
  unsigned timeout_s = 0;  // 0: the section's own
};

FaultSpec CrashAt(const std::string& method) {
  FaultSpec f;
  f.crash = {method};
  return f;
}

FaultSpec HangAt(const std::string& method, unsigned timeout_s) {
  FaultSpec f;
  f.hang = {method};
  f.timeout_s = timeout_s;
  return f;
}

FaultSpec GarbageAt(const std::string& method) {
  FaultSpec f;
  f.garbage = {method};
  return f;
}

// One request the shim recorded.
struct Recorded {
  std::string method;
  json params;
};

// The storage's copy in a private config dir, its command the fault shim;
// removed with everything in it on destruction.
class FaultedStorage {
 public:
  static Result<std::unique_ptr<FaultedStorage>> Create(const FailureEnv& env) {
    std::unique_ptr<FaultedStorage> f(new FaultedStorage(env));
    // Traversable (0755) for the worker; its config below stays private.
    ASSIGN_OR_RETURN(
        f->dir_,
        sys::MakeTempDir(fmt::format("{}/ctdump-pt-{}-fault.", kFaultDirParent, ::getpid()), 0755));
    std::string etc = f->config_dir();
    if (::mkdir(etc.c_str(), 0700) != 0)
      return ErrnoError(errno, fmt::format("Failed to create \"{}\"", etc));
    for (const char* name : {"ctdump.conf", "notifications.cfg"}) {
      std::string from = env.child.config_dir + "/" + name;
      if (!sys::PathExists(from)) continue;
      ASSIGN_OR_RETURN(std::string text, sys::ReadFile(from));
      RETURN_IF_ERROR(sys::WriteFileAtomic(etc + "/" + name, text, 0600));
    }
    std::string priv = env.child.config_dir + "/priv";
    if (sys::IsDirectory(priv) && ::symlink(priv.c_str(), (etc + "/priv").c_str()) != 0)
      return ErrnoError(errno, fmt::format("Failed to link \"{}/priv\"", etc));
    return f;
  }

  ~FaultedStorage() {
    if (!dir_.empty()) sys::RemoveTree(dir_).IgnoreError();
  }

  std::string config_dir() const { return dir_ + "/etc"; }
  const std::string& dir() const { return dir_; }

  // Writes the wrapper and the section for one run of `f`; a fresh record.
  Status Arm(const FaultSpec& f) {
    // Written by every instance, the worker (the container's root) too:
    // others may write (append, lock) but not read them.
    RETURN_IF_ERROR(Fresh(Record(), 0602));
    RETURN_IF_ERROR(Fresh(Once(), 0606));
    std::string shim = ShellQuote(env_.exe) + " __provider-fault";
    if (!f.crash.empty())
      shim += " --crash " + ShellQuote(fmt::format("{}", fmt::join(f.crash, ",")));
    if (!f.hang.empty()) shim += " --hang " + ShellQuote(fmt::format("{}", fmt::join(f.hang, ",")));
    if (!f.garbage.empty())
      shim += " --garbage " + ShellQuote(fmt::format("{}", fmt::join(f.garbage, ",")));
    shim += " --once " + ShellQuote(Once()) + " --record " + ShellQuote(Record());
    shim += " -- " + ShellQuote(Command());
    std::string wrapper = dir_ + "/provider.sh";
    RETURN_IF_ERROR(sys::WriteFileAtomic(
        wrapper,
        "#!/bin/sh\n# ctdump provider-test: the fault shim before the provider\nexec " + shim +
            "\n",
        0755));
    std::string cfg = fmt::format("{}: {}\n", env_.storage_type, env_.storage_id);
    bool timeout_set = false;
    for (const auto& [k, v] : env_.storage_options) {
      std::string value = v;
      if (k == "command") value = wrapper;
      if (k == "timeout" && f.timeout_s) {
        value = std::to_string(f.timeout_s);
        timeout_set = true;
      }
      cfg += fmt::format("\t{} {}\n", k, value);
    }
    if (f.timeout_s && !timeout_set) cfg += fmt::format("\ttimeout {}\n", f.timeout_s);
    return sys::WriteFileAtomic(config_dir() + "/storage.cfg", cfg, 0600);
  }

  std::vector<Recorded> Records() const {
    std::vector<Recorded> out;
    auto text = sys::ReadFile(Record());
    if (!text.ok()) return out;
    size_t pos = 0, nl;
    while ((nl = text->find('\n', pos)) != std::string::npos) {
      std::string line = text->substr(pos, nl - pos);
      pos = nl + 1;
      auto sp = line.find(' ');
      if (sp == std::string::npos) continue;
      out.push_back({line.substr(0, sp),
                     json::parse(line.substr(sp + 1), nullptr, /*allow_exceptions=*/false)});
    }
    return out;
  }

  std::string Command() const {
    for (const auto& [k, v] : env_.storage_options)
      if (k == "command") return v;
    return "";
  }

 private:
  explicit FaultedStorage(const FailureEnv& env) : env_(env) {}
  std::string Record() const { return dir_ + "/record"; }
  std::string Once() const { return dir_ + "/once"; }

  static Status Fresh(const std::string& path, mode_t mode) {
    ::unlink(path.c_str());
    sys::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.valid() || ::fchmod(fd.get(), mode) != 0)
      return ErrnoError(errno, fmt::format("Failed to create \"{}\"", path));
    return Status::OK();
  }

  const FailureEnv& env_;
  std::string dir_;
};

class FailureChecks {
 public:
  FailureChecks(const FailureEnv& env, Observer* log, const std::function<void(Check)>& end)
      : env_(env), log_(log), end_(end) {}

  void Run() {
    RemoveStaleFaultDirs(kFaultDirParent, log_);
    auto fs = FaultedStorage::Create(env_);
    if (!fs.ok()) {
      std::string why = "cannot set up the fault shim: " + fs.status().message();
      for (const char* m : {"backup_container", "backup_cleanup", "restore_container_init"})
        End(Begin(16, m), Outcome::kFail, why);
      End(Begin(17), Outcome::kFail, why);
      for (const char* m : {"list_backups", "backup_init"}) End(Begin(18, m), Outcome::kFail, why);
      return End(Begin(19), Outcome::kFail, why);
    }
    fs_ = std::move(*fs);
    log_->Log(LogLevel::kInfo,
              fmt::format("failure checks through the fault shim, config in \"{}\"", fs_->dir()));
    last_end_ = ::time(nullptr);
    CrashBackup("backup_container");
    CrashBackup("backup_cleanup");
    CrashRestore();
    Hang();
    GarbageList();
    GarbageBackupInit();
    Abort();
  }

 private:
  using Row = RunningCheck;

  static Row Begin(int id, const std::string& suffix = "") { return BeginCheck(id, suffix); }

  void End(const Row& r, Outcome outcome, std::string reason,
           std::vector<std::string> details = {}) {
    end_(EndCheck(r, outcome, std::move(reason), std::move(details)));
  }

  // PASS with `ok_reason`, or FAIL with the first problem and all as details.
  void Verdict(const Row& r, const std::vector<std::string>& problems, std::string ok_reason) {
    if (problems.empty()) return End(r, Outcome::kPass, std::move(ok_reason));
    End(r, Outcome::kFail, problems[0], problems);
  }

  // --- running ctdump -----------------------------------------------------------

  Result<ChildResult> Normal(const std::vector<std::string>& args) {
    return RunCtdump(env_.child, args);
  }

  Result<ChildResult> Faulted(const std::vector<std::string>& args,
                              std::function<void(pid_t)> on_wait = nullptr) {
    ChildOptions o = env_.child;
    o.config_dir = fs_->config_dir();
    o.on_wait = std::move(on_wait);
    return RunCtdump(o, args);
  }

  // A backup through the faulted copy or the real storage. Backup names
  // have one-second resolution: each starts in a second of its own.
  Result<ChildResult> Backup(bool faulted, std::function<void(pid_t)> on_wait = nullptr) {
    while (::time(nullptr) <= last_end_) ::usleep(50000);
    auto c = faulted ? Faulted(env_.backup_args, std::move(on_wait)) : Normal(env_.backup_args);
    last_end_ = ::time(nullptr);
    return c;
  }

  // The volids of the kit's container listed by the real storage.
  Result<std::set<std::string>> Listed() {
    ASSIGN_OR_RETURN(auto c, Normal({"list", env_.storage_id, "--vmid", env_.vmid}));
    if (!c.ok() || !c.Data().is_array()) return UnavailableError("list: " + c.Why());
    std::set<std::string> out;
    for (const auto& e : c.Data())
      if (e.value("vmid", "") == env_.vmid) out.insert(e.value("volid", ""));
    return out;
  }

  // "listed after the failed ...: <volids>" when the listing grew since `before`.
  void NothingNew(const Result<std::set<std::string>>& before, const std::string& what,
                  std::vector<std::string>* problems) {
    auto after = Listed();
    if (!before.ok() || !after.ok()) {
      problems->push_back((before.ok() ? after : before).status().message());
      return;
    }
    std::vector<std::string> added;
    for (const auto& v : *after)
      if (!before->count(v)) added.push_back(v);
    if (!added.empty())
      problems->push_back(
          fmt::format("listed after the failed {}: {}", what, fmt::join(added, ", ")));
  }

  // Whether the command failed with an error naming the storage (and
  // `method`, unless empty); the problem otherwise.
  std::optional<std::string> FailedNaming(const Result<ChildResult>& c, const std::string& what,
                                          const std::string& method) {
    if (!c.ok()) return fmt::format("{}: {}", what, c.status().message());
    if (c->ok()) return fmt::format("the {} through the fault shim succeeded", what);
    std::string text = c->Why();
    for (const auto& l : c->Logs("err")) text += "\n" + l;
    bool storage = text.find("'" + env_.storage_id + "'") != std::string::npos;
    bool named = method.empty() || text.find(method) != std::string::npos;
    if (storage && named) return std::nullopt;
    return fmt::format("the {} failed, but the error does not name {}: {}", what,
                       method.empty()
                           ? fmt::format("the storage '{}'", env_.storage_id)
                           : fmt::format("the storage '{}' and '{}'", env_.storage_id, method),
                       c->Why());
  }

  static std::string BackupFailure(const Result<ChildResult>& c) {
    if (!c.ok()) return c.status().message();
    json t = c->Terminal();
    if (!c->ok() || t.value("event", "") != "job-end" || !t.value("ok", false)) return c->Why();
    return "";
  }

  void NextBackupWorks(std::vector<std::string>* problems) {
    std::string why = BackupFailure(Backup(/*faulted=*/false));
    if (!why.empty()) problems->push_back("the next normal backup failed: " + why);
  }

  bool CleanupReached() const {
    for (const auto& r : fs_->Records())
      if (r.method == "backup_cleanup" && r.params.is_object() &&
          r.params.value("success", true) == false)
        return true;
    return false;
  }

  // Processes of the provider or the shim, waiting a little for killed ones.
  std::vector<std::string> LeftProcesses() {
    auto deadline = Clock::now() + kProcessGrace;
    for (;;) {
      auto left = ProcessesMatching({fs_->Command(), fs_->dir()});
      if (left.empty() || Clock::now() > deadline) return left;
      ::usleep(100000);
    }
  }

  void NoProcessLeft(std::vector<std::string>* problems) {
    for (const auto& p : LeftProcesses()) problems->push_back("process left: " + p);
  }

  Status Arm(const FaultSpec& f, const Row& r) {
    Status s = fs_->Arm(f);
    if (!s.ok()) End(r, Outcome::kFail, "cannot arm the fault shim: " + s.message());
    return s;
  }

  // --- 16 ---------------------------------------------------------------------

  void CrashBackup(const std::string& method) {
    auto r = Begin(16, method);
    auto before = Listed();
    if (!Arm(CrashAt(method), r).ok()) return;
    auto c = Backup(/*faulted=*/true);
    std::vector<std::string> problems;
    if (auto p = FailedNaming(c, "backup", method)) problems.push_back(*p);
    if (!CleanupReached())
      problems.push_back("backup_cleanup with success: false did not reach the provider");
    NothingNew(before, "backup", &problems);
    NextBackupWorks(&problems);
    Verdict(r, problems,
            fmt::format("failed: {}; backup_cleanup(success: false) reached the provider; "
                        "nothing listed; the next backup worked",
                        c.ok() ? c->Why() : ""));
  }

  void CrashRestore() {
    const std::string method = "restore_container_init";
    auto r = Begin(16, method);
    if (!Arm(CrashAt(method), r).ok()) return;
    std::string target = env_.vmid + "-fault";
    uint32_t base = env_.restore_base;
    auto c = Faulted({"restore", env_.restore_volid, target, "--idmap",
                      fmt::format("u 0 {} {}", base, kMapCount), "--idmap",
                      fmt::format("g 0 {} {}", base, kMapCount)});
    std::vector<std::string> problems;
    if (auto p = FailedNaming(c, "restore", method)) problems.push_back(*p);
    if (sys::PathExists(env_.paths.lxcpath + "/" + target)) {
      problems.push_back(fmt::format("the failed restore left container '{}'", target));
      auto j = KitContainer::Journal(env_.paths, target);
      if (j.ok()) {
        Status s = (*j)->Destroy();
        if (!s.ok()) log_->Log(LogLevel::kErr, s.message());
      }
    }
    Verdict(r, problems,
            fmt::format("failed: {}; no container '{}' left", c.ok() ? c->Why() : "", target));
  }

  // --- 17 ---------------------------------------------------------------------

  void Hang() {
    auto r = Begin(17);
    auto before = Listed();
    if (!Arm(HangAt("backup_container", kHangTimeout), r).ok()) return;
    auto c = Backup(/*faulted=*/true);
    std::vector<std::string> problems;
    if (auto p = FailedNaming(c, "backup", "backup_container")) problems.push_back(*p);
    if (c.ok() && c->seconds > kHangTimeout + kHangSlack)
      problems.push_back(
          fmt::format("the backup took {:.1f} s with timeout {} s", c->seconds, kHangTimeout));
    NoProcessLeft(&problems);
    NothingNew(before, "backup", &problems);
    Verdict(r, problems,
            c.ok() ? fmt::format("failed after {:.1f} s (timeout {} s): {}; no process left",
                                 c->seconds, kHangTimeout, c->Why())
                   : "");
  }

  // --- 18 ---------------------------------------------------------------------

  void GarbageList() {
    auto r = Begin(18, "list_backups");
    if (!Arm(GarbageAt("list_backups"), r).ok()) return;
    auto c = Faulted({"list", env_.storage_id, "--vmid", env_.vmid});
    std::vector<std::string> problems;
    if (auto p = FailedNaming(c, "list", "list_backups")) problems.push_back(*p);
    auto next = Listed();
    if (!next.ok()) problems.push_back("the next list failed: " + next.status().message());
    Verdict(r, problems, fmt::format("failed: {}; the next list worked", c.ok() ? c->Why() : ""));
  }

  void GarbageBackupInit() {
    auto r = Begin(18, "backup_init");
    auto before = Listed();
    if (!Arm(GarbageAt("backup_init"), r).ok()) return;
    auto c = Backup(/*faulted=*/true);
    std::vector<std::string> problems;
    if (auto p = FailedNaming(c, "backup", "backup_init")) problems.push_back(*p);
    auto records = fs_->Records();
    auto hellos = std::count_if(records.begin(), records.end(), [](const Recorded& x) {
      return x.method == "hello" && x.params.is_object() && x.params.value("role", "") == "main";
    });
    if (hellos < 2)
      problems.push_back("no new main instance after the garbage (one hello with role main)");
    if (!CleanupReached())
      problems.push_back("backup_cleanup with success: false did not reach the provider");
    NothingNew(before, "backup", &problems);
    Verdict(r, problems,
            fmt::format("failed: {}; a new main instance got backup_cleanup(success: false); "
                        "the next list worked",
                        c.ok() ? c->Why() : ""));
  }

  // --- 19 ---------------------------------------------------------------------

  void Abort() {
    auto r = Begin(19);
    auto before = Listed();
    if (!Arm(HangAt("backup_container", kAbortTimeout), r).ok()) return;
    std::optional<Clock::time_point> signalled;
    auto c = Backup(/*faulted=*/true, [&](pid_t pid) {
      if (signalled) return;
      auto records = fs_->Records();
      bool working = std::any_of(records.begin(), records.end(),
                                 [](const Recorded& x) { return x.method == "backup_container"; });
      if (!working) return;
      ::kill(pid, SIGTERM);
      signalled = Clock::now();
    });
    double after_signal =
        signalled ? std::chrono::duration<double>(Clock::now() - *signalled).count() : 0;
    std::vector<std::string> problems;
    if (!signalled)
      problems.push_back("backup_container never reached the worker: " +
                         (c.ok() ? c->Why() : c.status().message()));
    else if (c.ok() && c->ok())
      problems.push_back("the backup succeeded after SIGTERM");
    else if (after_signal > kAbortWithin)
      problems.push_back(fmt::format("the backup ended {:.1f} s after SIGTERM", after_signal));
    NoProcessLeft(&problems);
    NothingNew(before, "backup", &problems);
    NextBackupWorks(&problems);
    Verdict(r, problems,
            fmt::format("ended {:.1f} s after SIGTERM during backup_container: {}; nothing "
                        "listed, no process left; the next backup worked",
                        after_signal, c.ok() ? c->Why() : ""));
  }

  const FailureEnv& env_;
  Observer* log_;
  std::function<void(Check)> end_;
  std::unique_ptr<FaultedStorage> fs_;
  time_t last_end_ = 0;
};

}  // namespace

std::vector<std::string> ProcessesMatching(const std::vector<std::string>& needles) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator("/proc", ec)) {
    std::string pid = d.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    auto cmd = sys::ReadFile(d.path().string() + "/cmdline");
    if (!cmd.ok() || cmd->empty()) continue;  // gone, a kernel thread or a zombie
    std::string c = *cmd;
    std::replace(c.begin(), c.end(), '\0', ' ');
    for (const auto& n : needles)
      if (!n.empty() && c.find(n) != std::string::npos) {
        out.push_back(pid + ": " + c);
        break;
      }
  }
  return out;
}

size_t RemoveStaleFaultDirs(const std::string& parent, Observer* log) {
  static const std::regex kName(R"(ctdump-pt-([0-9]+)-fault\.[A-Za-z0-9]{6})");
  size_t removed = 0;
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator(parent, ec)) {
    std::string name = d.path().filename();
    std::smatch m;
    if (!std::regex_match(name, m, kName)) continue;
    if (d.is_symlink(ec) || !d.is_directory(ec)) continue;
    // Its kit still runs (or the pid was reused: left for a later sweep).
    if (sys::PathExists("/proc/" + m[1].str())) continue;
    Status s = sys::RemoveTree(d.path().string());
    if (!s.ok()) {
      log->Log(LogLevel::kWarn, "cannot remove a killed kit's fault directory: " + s.message());
      continue;
    }
    log->Log(LogLevel::kInfo,
             fmt::format("removed \"{}\", left by a killed provider-test", d.path().string()));
    ++removed;
  }
  return removed;
}

void RunFailureChecks(const FailureEnv& env, Observer* log, const std::function<void(Check)>& end) {
  FailureChecks(env, log, end).Run();
}

}  // namespace ctdump::providertest
