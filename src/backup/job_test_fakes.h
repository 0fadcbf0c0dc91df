// Fakes for driving the real backup job (job.h) without liblxc, mounts or a
// storage: one event list that a recording provider, fake containers, fake
// mode sessions and a hook script all append to, in the order things happen.
//
// Event texts (what the tests compare):
//   provider:  "job_init", "backup_init <ct>", "backup_get_mechanism <ct>",
//              "backup_container_prepare <ct>", "backup_container <ct>",
//              "backup_cleanup <ct> success=<0|1>[ error=<msg>] lock=<free|held>",
//              "backup_handle_log_file <ct>", "job_cleanup", "shutdown", ...
//   container: "ct <ct> shutdown", "ct <ct> start", "ct <ct> freeze", "ct <ct> thaw"
//   mode:      "mode <name> prepare|enter|resume|leave <ct>"
//   hooks:     "hook <phase>[ <mode> <ct>]" (the script's arguments)
#ifndef CTDUMP_BACKUP_JOB_TEST_FAKES_H_
#define CTDUMP_BACKUP_JOB_TEST_FAKES_H_

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "container/control.h"
#include "ctdump/provider.h"
#include "modes/mode.h"
#include "sys/file.h"
#include "sys/unique_fd.h"

namespace ctdump::backup::testing {

// The events of one job, in order. The hook script appends its lines to
// `hook_file`; they are merged in before every other event (hooks run
// synchronously, so this keeps the order).
class Events {
 public:
  explicit Events(std::string hook_file) : hook_file_(std::move(hook_file)) {}

  void Add(std::string event) {
    DrainHooks();
    list_.push_back(std::move(event));
  }
  const std::vector<std::string>& All() {
    DrainHooks();
    return list_;
  }
  // The events that start with `prefix`, in order.
  std::vector<std::string> With(const std::string& prefix) {
    std::vector<std::string> out;
    for (const auto& e : All())
      if (e.rfind(prefix, 0) == 0) out.push_back(e);
    return out;
  }
  // Position of the first event starting with `prefix`, or -1.
  int IndexOf(const std::string& prefix) {
    const auto& all = All();
    for (size_t i = 0; i < all.size(); ++i)
      if (all[i].rfind(prefix, 0) == 0) return static_cast<int>(i);
    return -1;
  }

 private:
  void DrainHooks() {
    auto text = sys::ReadFile(hook_file_);
    if (!text.ok()) return;
    for (size_t pos = consumed_, nl; (nl = text->find('\n', pos)) != std::string::npos;
         pos = nl + 1) {
      list_.push_back(text->substr(pos, nl - pos));
      consumed_ = nl + 1;
    }
  }

  std::string hook_file_;
  size_t consumed_ = 0;
  std::vector<std::string> list_;
};

// What a RecordingProvider is told to do and what it saw; owned by the test,
// so it outlives the provider (the job destroys its provider at the end).
struct ProviderScript {
  // A call fails with the Status under "<method> <ct>" or "<method>"
  // (backup_cleanup with success=0: "backup_cleanup_failed").
  std::map<std::string, Status> failures;
  std::string mechanism = "directory";
  bool external = true;
  bool live_pass = false;  // SupportsLivePass (suspend mode without a copy)
  std::function<void(const std::string& vmid)> during_backup_container;  // e.g. a signal
  std::map<std::string, std::string> archive_names;  // what backup_init returns, by container
  int init_exists = 0;              // so many backup_init calls fail: "exists already"
  std::vector<int64_t> init_times;  // the start times backup_init was given
  // Seen, by container.
  std::map<std::string, BackupContainerRequest> requests;
  std::map<std::string, BackupContainerRequest> live_requests;
  std::map<std::string, BackupInfo> prepared;
  std::map<std::string, std::string> log_files;
};

// A provider in memory that records every call with its arguments.
class RecordingProvider : public Provider {
 public:
  RecordingProvider(Events* events, std::string run_dir, ProviderScript* script)
      : events_(events), run_dir_(std::move(run_dir)), script_(script) {}

  const std::string& storage_id() const override { return id_; }
  const std::string& name() const override { return name_; }
  bool external() const override { return script_->external; }
  bool HasFeature(std::string_view) const override { return true; }
  void SetObserver(Observer*) override {}

  Status JobInit(int64_t) override { return Call("job_init", "job_init"); }
  Status JobCleanup() override { return Call("job_cleanup", "job_cleanup"); }
  Result<std::string> BackupInit(const std::string& vmid, int64_t start_time) override {
    RETURN_IF_ERROR(Call("backup_init " + vmid, "backup_init", vmid));
    script_->init_times.push_back(start_time);
    if (script_->init_exists > 0) {
      --script_->init_exists;
      return AlreadyExistsError("backup 'ct/" + vmid + "/...' exists already");
    }
    auto it = script_->archive_names.find(vmid);
    return it != script_->archive_names.end() ? it->second : "ct-" + vmid + "-archive";
  }
  Result<std::string> BackupGetMechanism(const std::string& vmid) override {
    RETURN_IF_ERROR(Call("backup_get_mechanism " + vmid, "backup_get_mechanism", vmid));
    return script_->mechanism;
  }
  Result<nlohmann::json> BackupContainerPrepare(const std::string& vmid,
                                                const BackupInfo& info) override {
    script_->prepared[vmid] = info;
    RETURN_IF_ERROR(Call("backup_container_prepare " + vmid, "backup_container_prepare", vmid));
    return nlohmann::json{{"state-of", vmid}};
  }
  Status BackupContainer(const IdMap&, const BackupContainerRequest& r) override {
    script_->requests[r.vmid] = r;
    Status s = Call("backup_container " + r.vmid, "backup_container", r.vmid);
    if (script_->during_backup_container) script_->during_backup_container(r.vmid);
    return s;
  }
  bool SupportsLivePass() const override { return script_->live_pass; }
  Status BackupContainerLivePass(const IdMap&, const BackupContainerRequest& r) override {
    script_->live_requests[r.vmid] = r;
    return Call("backup_container_live_pass " + r.vmid, "backup_container_live_pass", r.vmid);
  }
  Result<std::optional<uint64_t>> BackupCleanup(const std::string& vmid, bool vmtype_known,
                                                bool success, const std::string& error) override {
    std::string e = fmt::format("backup_cleanup {} success={}", vmid, success ? 1 : 0);
    if (!success) e += " error=" + error;
    if (!vmtype_known) e += " vmtype=null";
    e += LockFree(vmid) ? " lock=free" : " lock=held";
    RETURN_IF_ERROR(Call(e, fmt::format("backup_cleanup{}", success ? "" : "_failed"), vmid));
    return std::optional<uint64_t>(4096);
  }
  Status BackupHandleLogFile(const std::string& vmid, const std::string& filename) override {
    script_->log_files[vmid] = filename;
    return Call("backup_handle_log_file " + vmid, "backup_handle_log_file", vmid);
  }
  Result<RestoreMechanism> RestoreGetMechanism(const std::string&) override {
    return Unexpected("restore_get_mechanism");
  }
  Result<std::string> ArchiveGetGuestConfig(const std::string&) override {
    return Unexpected("archive_get_guest_config");
  }
  Result<std::optional<std::string>> ArchiveGetFirewallConfig(const std::string&) override {
    return Unexpected("archive_get_firewall_config");
  }
  Result<std::string> RestoreContainerInit(const std::string&, RestoreMechanism) override {
    return Unexpected("restore_container_init");
  }
  Status RestoreContainerCleanup(const std::string&) override {
    return Unexpected("restore_container_cleanup");
  }
  Result<std::vector<BackupEntry>> ListBackups(const std::optional<std::string>& vmid) override {
    RETURN_IF_ERROR(Call("list_backups " + vmid.value_or(""), "list_backups"));
    return std::vector<BackupEntry>();
  }
  Status DeleteBackup(const std::string& volname) override {
    return Call("delete_backup " + volname, "delete_backup");
  }
  Status UpdateAttribute(const std::string& volname, const std::string& name,
                         const nlohmann::json& value) override {
    return Call(fmt::format("update_attribute {} {}={}", volname, name, value.dump()),
                "update_attribute_" + name);
  }
  Status Shutdown() override { return Call("shutdown", "shutdown"); }

 private:
  Status Call(std::string event, const std::string& method, const std::string& vmid = "") {
    events_->Add(std::move(event));
    auto it = script_->failures.find(method + " " + vmid);
    if (it == script_->failures.end()) it = script_->failures.find(method);
    return it == script_->failures.end() ? Status::OK() : it->second;
  }
  Status Unexpected(const std::string& method) {
    events_->Add("unexpected " + method);
    return InternalError("not part of a backup job: " + method);
  }
  // The job's per-container lock is released (flock is per open file).
  bool LockFree(const std::string& vmid) const {
    sys::UniqueFd fd(
        ::open(fmt::format("{}/lock/lxc-{}.lock", run_dir_, vmid).c_str(), O_RDWR | O_CLOEXEC));
    if (!fd.valid()) return true;
    return ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0;  // closing the fd unlocks
  }

  Events* events_;
  std::string run_dir_;
  ProviderScript* script_;
  std::string id_ = "rec";
  std::string name_ = "recorder";
};

class FakeContainer : public container::Control {
 public:
  FakeContainer(std::string name, bool running, Events* events)
      : name_(std::move(name)), running_(running), events_(events) {}
  const std::string& name() const override { return name_; }
  container::State GetState() const override {
    return frozen_    ? container::State::kFrozen
           : running_ ? container::State::kRunning
                      : container::State::kStopped;
  }
  bool IsRunning() const override { return running_; }
  Status Shutdown(std::chrono::seconds) override {
    events_->Add("ct " + name_ + " shutdown");
    running_ = false;
    return Status::OK();
  }
  Status Start(std::chrono::seconds) override {
    events_->Add("ct " + name_ + " start");
    running_ = true;
    return Status::OK();
  }
  Status Freeze(int*) override {
    events_->Add("ct " + name_ + " freeze");
    frozen_ = true;
    return Status::OK();
  }
  Status Thaw() override {
    events_->Add("ct " + name_ + " thaw");
    frozen_ = false;
    return Status::OK();
  }

 private:
  std::string name_;
  bool running_;
  bool frozen_ = false;
  Events* events_;
};

// Containers by name; `running` says which run when opened (default: all).
class FakeContainers : public container::Opener {
 public:
  explicit FakeContainers(Events* events) : events_(events) {}
  std::map<std::string, bool> running;
  Result<std::unique_ptr<container::Control>> Open(const std::string& name,
                                                   const std::string&) override {
    auto it = running.find(name);
    return std::unique_ptr<container::Control>(
        std::make_unique<FakeContainer>(name, it == running.end() || it->second, events_));
  }

 private:
  Events* events_;
};

// A mode session that does what a real one does to the container and its
// seams (hooks, journal, stop/start or freeze/thaw) without mounts: stop
// shuts the container down and starts it again, suspend and snapshot freeze
// and thaw it. A step fails with the Status in FakeModes::failures under
// "<mode> <step> <ct>" or "<mode> <step>" (steps: prepare, enter, resume).
class FakeModes : public modes::ModeFactory {
 public:
  explicit FakeModes(Events* events) : events_(events) {}
  std::map<std::string, Status> failures;

  Result<std::unique_ptr<modes::ModeSession>> Create(const std::string& mode,
                                                     const modes::ModeContext& ctx) override {
    if (mode != "stop" && mode != "suspend" && mode != "snapshot")
      return InvalidArgumentError("unknown backup mode '" + mode + "'");
    return std::unique_ptr<modes::ModeSession>(std::make_unique<Session>(mode, ctx, this));
  }

 private:
  class Session : public modes::ModeSession {
   public:
    Session(std::string mode, const modes::ModeContext& ctx, FakeModes* f)
        : mode_(std::move(mode)), ctx_(ctx), f_(f) {}
    ~Session() override { Leave().IgnoreError(); }
    const std::string& name() const override { return mode_; }
    Status Prepare() override { return Step("prepare"); }
    bool HasLiveView() const override { return mode_ == "suspend" && ctx_.live_pass; }
    Result<modes::ConsistentTree> LiveView() override {
      if (!HasLiveView()) return ModeSession::LiveView();
      RETURN_IF_ERROR(Step("live-view"));
      return Tree();
    }
    Result<modes::ConsistentTree> Enter() override {
      RETURN_IF_ERROR(Step("enter"));
      RETURN_IF_ERROR(ctx_.hooks->Run(modes::HookPhase::kPreStop, mode_.c_str()));
      if (mode_ == "stop") {
        RETURN_IF_ERROR(ctx_.journal->SetStopped(true));
        RETURN_IF_ERROR(ctx_.container->Shutdown(ctx_.stopwait));
      } else {
        RETURN_IF_ERROR(ctx_.journal->SetFrozen(true));
        RETURN_IF_ERROR(ctx_.container->Freeze(nullptr));
      }
      interrupted_ = true;
      return Tree();
    }
    // A copy in suspend mode, unless the provider reads the live tree.
    modes::ConsistentTree Tree() const {
      modes::ConsistentTree tree{ctx_.directory, {"./"}, mode_ == "suspend" && !ctx_.live_pass};
      for (const MountPoint* mp : ctx_.included_mounts) tree.sources.push_back("." + mp->path);
      return tree;
    }
    Status Resume() override {
      if (!interrupted_) return Status::OK();
      f_->events_->Add("mode " + mode_ + " resume " + ctx_.vmid);
      ctx_.hooks->Run(modes::HookPhase::kPreRestart, mode_.c_str()).IgnoreError();
      RETURN_IF_ERROR(Fail("resume"));
      if (mode_ == "stop") {
        RETURN_IF_ERROR(ctx_.container->Start(container::kStartTimeout));
        RETURN_IF_ERROR(ctx_.journal->SetStopped(false));
      } else {
        RETURN_IF_ERROR(ctx_.container->Thaw());
        RETURN_IF_ERROR(ctx_.journal->SetFrozen(false));
      }
      interrupted_ = false;
      ctx_.hooks->Run(modes::HookPhase::kPostRestart, mode_.c_str()).IgnoreError();
      return Status::OK();
    }
    Status Leave() override {
      if (left_) return Status::OK();
      left_ = true;
      f_->events_->Add("mode " + mode_ + " leave " + ctx_.vmid);
      return Resume();
    }

   private:
    Status Step(const std::string& step) {
      f_->events_->Add("mode " + mode_ + " " + step + " " + ctx_.vmid);
      return Fail(step);
    }
    Status Fail(const std::string& step) {
      auto it = f_->failures.find(mode_ + " " + step + " " + ctx_.vmid);
      if (it == f_->failures.end()) it = f_->failures.find(mode_ + " " + step);
      return it == f_->failures.end() ? Status::OK() : it->second;
    }

    std::string mode_;
    modes::ModeContext ctx_;
    FakeModes* f_;
    bool interrupted_ = false;
    bool left_ = false;
  };

  Events* events_;
};

}  // namespace ctdump::backup::testing

#endif  // CTDUMP_BACKUP_JOB_TEST_FAKES_H_
