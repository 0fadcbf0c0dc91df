// The real backup job (job.cc) driven with a recording provider, fake
// containers and fake modes (job_test_fakes.h), pinned against
// shared/reference/pve-backup-provider-api.md: the method order for one and
// two guests (§4.4, §5.2, §9.2) and every failure consequence (§5.3): local
// cleanup before backup_cleanup(0, error), hook backup-abort, the next guest
// still runs, a failing backup_handle_log_file aborts the job, an interrupt
// skips the remaining guests but still cleans up, job_init / job_cleanup
// failures, the snapshot -> suspend fallback, and vzdump's log lines.
#include "backup/job.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>

#include "backup/guest_state.h"
#include "backup/job_test_fakes.h"
#include "sys/signals.h"

namespace ctdump::backup {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using testing::Events;
using testing::FakeContainers;
using testing::FakeModes;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ProviderScript;
using testing::RecordingProvider;

class Lines : public Observer {
 public:
  void Log(LogLevel level, std::string_view m) noexcept override {
    const char* p = level == LogLevel::kInfo   ? "INFO: "
                    : level == LogLevel::kWarn ? "WARN: "
                                               : "ERROR: ";
    lines.push_back(p + std::string(m));
  }
  std::vector<std::string> lines;
};

class JobTest : public ::testing::Test {
 protected:
  JobTest() {
    char tmpl[] = "/tmp/ctdump-job-test.XXXXXX";
    root_ = ::mkdtemp(tmpl) ? tmpl : "";
    events_ = std::make_unique<Events>(root_ + "/hooks.log");
    containers_ = std::make_unique<FakeContainers>(events_.get());
    modes_ = std::make_unique<FakeModes>(events_.get());
  }
  void SetUp() override {
    ASSERT_FALSE(root_.empty());
    sys::InstallInterruptHandlers();
    sys::ResetInterruptForTest();
    paths_.lxcpath = root_ + "/lxc";
    paths_.config_dir = root_ + "/etc";
    paths_.log_dir = root_ + "/log";
    paths_.run_dir = root_ + "/run";
    paths_.state_dir = root_ + "/state";
    for (const auto& d : {paths_.lxcpath, paths_.config_dir, root_ + "/tmp"})
      ASSERT_TRUE(sys::MakeDirs(d, 0755).ok());
    std::string hook = root_ + "/hook.sh";
    std::ofstream(hook) << "#!/bin/sh\necho \"hook $*\" >> '" << root_ << "/hooks.log'\n";
    ASSERT_EQ(::chmod(hook.c_str(), 0755), 0);
    opts_.storage = "rec";
    opts_.mode = "stop";
    opts_.tmpdir = root_ + "/tmp";
    opts_.script = hook;
    opts_.command_line = "ctdump backup";
    AddContainer("101");
    AddContainer("102");
  }
  void TearDown() override {
    sys::ResetInterruptForTest();
    ASSERT_TRUE(sys::RemoveTree(root_).ok());
  }

  // An unprivileged container (the default map at 100000) unless `privileged`.
  void AddContainer(const std::string& vmid, bool privileged = false) {
    std::string dir = paths_.lxcpath + "/" + vmid;
    ASSERT_TRUE(sys::MakeDirs(dir + "/rootfs", 0755).ok());
    std::ofstream c(dir + "/config");
    c << "lxc.uts.name = host" << vmid << "\nlxc.rootfs.path = dir:" << dir << "/rootfs\n";
    if (!privileged) c << "lxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n";
  }

  JobResult Run(std::vector<std::string> vmids) {
    opts_.vmids = std::move(vmids);
    JobSeams seams;
    seams.open_storage = [this](const registry::BackupJobSettings&, Observer*) {
      registry::BackupStorage s;
      s.provider = std::make_unique<RecordingProvider>(events_.get(), paths_.run_dir, &script_);
      return Result<registry::BackupStorage>(std::move(s));
    };
    seams.containers = containers_.get();
    seams.modes = modes_.get();
    seams.enter_mount_namespace = [this] {
      events_->Add("private_mount_namespace");
      return Status::OK();
    };
    return RunBackupJob(opts_, paths_, &log_, seams);
  }

  std::vector<std::string> ProviderCalls() {
    std::vector<std::string> out;
    for (const auto& e : events_->All()) {
      std::string method = e.substr(0, e.find(' '));
      if (method.rfind("backup_", 0) == 0 || method == "job_init" || method == "job_cleanup" ||
          method == "shutdown" || method == "list_backups" || method == "update_attribute" ||
          method == "delete_backup" || method == "unexpected")
        out.push_back(e);
    }
    return out;
  }
  // Every event in `expected` occurs, in this order (others may lie between).
  void ExpectInOrder(const std::vector<std::string>& expected) {
    const auto& all = events_->All();
    size_t at = 0;
    for (const auto& e : expected) {
      auto it = std::find(all.begin() + at, all.end(), e);
      ASSERT_NE(it, all.end()) << "missing or out of order: " << e << "\nall events:\n"
                               << ::testing::PrintToString(all);
      at = it - all.begin() + 1;
    }
  }
  bool Logged(const std::string& line) {
    return std::find(log_.lines.begin(), log_.lines.end(), line) != log_.lines.end();
  }

  std::string root_;
  Paths paths_;
  ResolvedJobOptions opts_;
  std::unique_ptr<Events> events_;
  std::unique_ptr<FakeContainers> containers_;
  std::unique_ptr<FakeModes> modes_;
  ProviderScript script_;
  Lines log_;
};

TEST_F(JobTest, OneGuestEveryStepInOrder) {
  JobResult r = Run({"101"});
  EXPECT_TRUE(r.ok()) << r.status.message();
  // backup_cleanup(1) runs before the mode's cleanup and the unlock (§2.3),
  // after the container is given back (restart as soon as the provider is done).
  EXPECT_THAT(events_->All(),
              ElementsAre("hook job-init", "private_mount_namespace", "job_init", "hook job-start",
                          "mode stop prepare 101", "backup_init 101", "hook backup-start stop 101",
                          "mode stop enter 101", "hook pre-stop stop 101", "ct 101 shutdown",
                          "backup_get_mechanism 101", "backup_container_prepare 101",
                          "backup_container 101", "mode stop resume 101",
                          "hook pre-restart stop 101", "ct 101 start", "hook post-restart stop 101",
                          "backup_cleanup 101 success=1 lock=held", "hook backup-end stop 101",
                          "mode stop leave 101", "backup_handle_log_file 101",
                          "hook log-end stop 101", "job_cleanup", "hook job-end", "shutdown"));
  EXPECT_EQ(script_.log_files["101"], paths_.log_dir + "/lxc-101.log");
  ASSERT_EQ(r.guests.size(), 1u);
  EXPECT_EQ(r.guests[0].archive, "ct-101-archive");
  EXPECT_EQ(r.guests[0].size, 4096u);
}

TEST_F(JobTest, TwoGuestsProviderMethodOrder) {
  JobResult r = Run({"101", "102"});
  EXPECT_TRUE(r.ok()) << r.status.message();
  std::vector<std::string> guest[2];
  for (int i = 0; i < 2; ++i) {
    std::string ct = i ? "102" : "101";
    guest[i] = {"backup_init " + ct,
                "backup_get_mechanism " + ct,
                "backup_container_prepare " + ct,
                "backup_container " + ct,
                "backup_cleanup " + ct + " success=1 lock=held",
                "backup_handle_log_file " + ct};
  }
  std::vector<std::string> expected = {"job_init"};
  for (auto& g : guest) expected.insert(expected.end(), g.begin(), g.end());
  expected.insert(expected.end(), {"job_cleanup", "shutdown"});
  EXPECT_EQ(ProviderCalls(), expected);
}

// §4.4: what backup_container_prepare and backup_container get.
TEST_F(JobTest, BackupContainerGetsTheInfoOfTheReference) {
  opts_.bwlimit_kib = 100;
  opts_.exclude_patterns = {"/tmp/?*", "*.bak"};
  std::ofstream(paths_.lxcpath + "/101/ctdump.fw") << "[OPTIONS]\nenable: 1\n";
  JobResult r = Run({"101"});
  ASSERT_TRUE(r.ok()) << r.status.message();
  const BackupContainerRequest& req = script_.requests["101"];
  EXPECT_EQ(req.vmid, "101");
  EXPECT_THAT(req.guest_config, HasSubstr("lxc.uts.name = host101"));
  EXPECT_EQ(req.exclude_patterns, opts_.exclude_patterns);
  EXPECT_EQ(req.info.directory, paths_.run_dir + "/mnt/101");
  EXPECT_EQ(req.info.sources, std::vector<std::string>{"./"});
  EXPECT_EQ(req.info.backup_user_id, 100000u);
  EXPECT_EQ(req.info.firewall_config, "[OPTIONS]\nenable: 1\n");
  EXPECT_EQ(req.info.bandwidth_limit, 100u * 1024);
  EXPECT_EQ(req.worker_state, (nlohmann::json{{"state-of", "101"}}));
  EXPECT_EQ(script_.prepared["101"].ToJson(), req.info.ToJson());
  EXPECT_TRUE(Logged("INFO: bandwidth limit: 100 KiB/s"));
}

TEST_F(JobTest, NoBandwidthLimitNoKey) {
  ASSERT_TRUE(Run({"101"}).ok());
  EXPECT_FALSE(script_.requests["101"].info.bandwidth_limit);
  EXPECT_EQ(script_.requests["101"].info.firewall_config, "");
}

// The log lines of §4.4 and Appendix A, in the reference's order.
TEST_F(JobTest, LogLinesOfAnExternalBackup) {
  AddContainer("103", /*privileged=*/true);
  ASSERT_TRUE(Run({"103"}).ok());
  std::vector<std::string> want = {
      "INFO: Starting Backup of VM 103 (lxc)",
      "INFO: status = running",
      "INFO: CT Name: host103",
      "INFO: including mount point rootfs ('/') in backup",
      "INFO: backup mode: stop",
      "INFO: creating recorder archive 'ct-103-archive'",
      "INFO: starting external backup via recorder",
      "WARN: external backup of privileged container can only be restored as unprivileged which "
      "might not work in all cases",
      "INFO: using backup mechanism 'directory'",
      "INFO: archive file size: 4096",
  };
  auto it = log_.lines.begin();
  for (const auto& w : want) {
    it = std::find(it, log_.lines.end(), w);
    ASSERT_NE(it, log_.lines.end()) << "missing or out of order: " << w << "\n"
                                    << ::testing::PrintToString(log_.lines);
  }
  EXPECT_THAT(log_.lines, Contains(HasSubstr("INFO: Finished Backup of VM 103 (")));
}

TEST_F(JobTest, PrivilegedWarningOnlyForExternalProviders) {
  AddContainer("103", /*privileged=*/true);
  script_.external = false;
  ASSERT_TRUE(Run({"103"}).ok());
  EXPECT_THAT(log_.lines, Not(Contains(HasSubstr("external backup of privileged container"))));
  log_.lines.clear();
  script_.external = true;
  ASSERT_TRUE(Run({"101"}).ok());  // unprivileged
  EXPECT_THAT(log_.lines, Not(Contains(HasSubstr("external backup of privileged container"))));
}

// §5.3: a provider method that dies fails this guest only: local cleanup
// (unlock, unmount, restart) first, then backup_cleanup(0, {error}), hook
// backup-abort, backup_handle_log_file; the next guest runs.
class GuestFailureTest : public JobTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(GuestFailureTest, LocalCleanupBeforeBackupCleanupThenNextGuest) {
  std::string method = GetParam();
  script_.failures[method + " 101"] = IOError("provider died");
  JobResult r = Run({"101", "102"});
  EXPECT_TRUE(r.status.ok()) << r.status.message();  // the job itself did not fail
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.guests.size(), 2u);
  EXPECT_FALSE(r.guests[0].status.ok());
  EXPECT_TRUE(r.guests[1].status.ok()) << r.guests[1].status.message();
  std::string error =
      method == "backup_init" ? "backup init failed: provider died" : "provider died";
  std::string cleanup = "backup_cleanup 101 success=0 error=" + error + " lock=free";
  bool entered = method != "backup_init";
  std::vector<std::string> order = {method + " 101"};
  if (entered) order.insert(order.end(), {"mode stop leave 101", "ct 101 start"});
  order.insert(order.end(), {cleanup, "hook backup-abort stop 101", "backup_handle_log_file 101",
                             "hook log-end stop 101", "backup_init 102",
                             "backup_cleanup 102 success=1 lock=held", "job_cleanup",
                             "hook job-end", "shutdown"});
  ExpectInOrder(order);
  EXPECT_EQ(events_->With("backup_cleanup 101").size(), 1u);
  EXPECT_THAT(events_->All(), Not(Contains("hook backup-end stop 101")));
  if (!entered) {
    EXPECT_THAT(events_->All(), Not(Contains("ct 101 shutdown")));
  }
  EXPECT_TRUE(Logged("ERROR: Backup of VM 101 failed - " + error));
  EXPECT_TRUE(Logged("ERROR: Backup job finished with errors"));
}

INSTANTIATE_TEST_SUITE_P(EachGuestMethod, GuestFailureTest,
                         ::testing::Values("backup_init", "backup_get_mechanism",
                                           "backup_container_prepare", "backup_container"));

TEST_F(JobTest, UnsupportedMechanismFailsTheGuest) {
  script_.mechanism = "nbd";
  JobResult r = Run({"101"});
  ASSERT_EQ(r.guests.size(), 1u);
  EXPECT_EQ(r.guests[0].status.message(),
            "mechanism 'nbd' requested by backup provider is not supported for containers");
  EXPECT_THAT(events_->All(), Not(Contains("backup_container_prepare 101")));
  ExpectInOrder({"ct 101 start",
                 "backup_cleanup 101 success=0 error=mechanism 'nbd' requested "
                 "by backup provider is not supported for containers lock=free"});
}

TEST_F(JobTest, IllegalArchiveNameFailsBeforeTheContainerIsTouched) {
  script_.archive_names["101"] = "bad name";
  JobResult r = Run({"101"});
  ASSERT_EQ(r.guests.size(), 1u);
  EXPECT_EQ(r.guests[0].status.message(),
            "backup init failed: illegal characters in archive name 'bad name'");
  EXPECT_THAT(events_->All(), Not(Contains("hook backup-start stop 101")));
  EXPECT_THAT(events_->All(), Not(Contains("ct 101 shutdown")));
}

// A guest that does not exist: backup_cleanup with vmtype undef (§2.3), the
// next guest still runs.
TEST_F(JobTest, MissingGuestGetsBackupCleanupWithoutType) {
  JobResult r = Run({"999", "101"});
  ASSERT_EQ(r.guests.size(), 2u);
  EXPECT_EQ(r.guests[0].status.code(), Code::kNotFound);
  ExpectInOrder({"backup_cleanup 999 success=0 error=container '999' does not exist in lxcpath \"" +
                     paths_.lxcpath + "\" vmtype=null lock=free",
                 "backup_handle_log_file 999", "backup_init 101",
                 "backup_cleanup 101 success=1 lock=held"});
  EXPECT_THAT(events_->All(), Not(Contains("backup_init 999")));
}

TEST_F(JobTest, HookBackupStartFailureAbortsTheGuest) {
  std::ofstream(opts_.script = root_ + "/failing-hook.sh")
      << "#!/bin/sh\necho \"hook $*\" >> '" << root_ << "/hooks.log'\n"
      << "[ \"$1\" = backup-start ] && [ \"$3\" = 101 ] && exit 3\nexit 0\n";
  ASSERT_EQ(::chmod(opts_.script.c_str(), 0755), 0);
  JobResult r = Run({"101", "102"});
  ASSERT_EQ(r.guests.size(), 2u);
  EXPECT_THAT(r.guests[0].status.message(),
              HasSubstr("backup-start stop 101' failed: exit code 3"));
  ExpectInOrder({"hook backup-start stop 101",
                 "backup_cleanup 101 success=0 error=command '" + opts_.script +
                     " backup-start stop 101' failed: exit code 3 "
                     "lock=free",
                 "hook backup-abort stop 101", "backup_init 102", "hook backup-end stop 102"});
  EXPECT_THAT(events_->All(), Not(Contains("mode stop enter 101")));
}

// §2.3: backup_cleanup(1) that dies fails the guest; backup_cleanup(0) follows.
TEST_F(JobTest, FailingSuccessfulBackupCleanupIsCalledAgainWithFailure) {
  script_.failures["backup_cleanup 101"] = IOError("upload incomplete");
  JobResult r = Run({"101", "102"});
  ASSERT_EQ(r.guests.size(), 2u);
  EXPECT_FALSE(r.guests[0].status.ok());
  ExpectInOrder({"backup_cleanup 101 success=1 lock=held", "mode stop leave 101",
                 "backup_cleanup 101 success=0 error=backup cleanup for external provider failed: "
                 "upload incomplete lock=free",
                 "hook backup-abort stop 101", "backup_cleanup 102 success=1 lock=held"});
  EXPECT_THAT(events_->All(), Not(Contains("hook backup-end stop 101")));
}

// §5.3: backup_cleanup(0) that dies is only a warning.
TEST_F(JobTest, FailingFailureCleanupIsAWarning) {
  script_.failures["backup_container 101"] = IOError("disk full");
  script_.failures["backup_cleanup_failed 101"] = IOError("cannot remove");
  JobResult r = Run({"101", "102"});
  ASSERT_EQ(r.guests.size(), 2u);
  EXPECT_EQ(r.guests[0].status.message(), "disk full");
  EXPECT_TRUE(r.guests[1].status.ok());
  EXPECT_TRUE(Logged("WARN: backup cleanup for external provider failed - cannot remove"));
  ExpectInOrder({"hook backup-abort stop 101", "backup_handle_log_file 101", "job_cleanup"});
}

// §2.3, §5.3: backup_handle_log_file escapes the guest task: the remaining
// guests are skipped, log-end does not run, job_cleanup and job-abort do.
TEST_F(JobTest, FailingLogFileHandlingAbortsTheJob) {
  script_.failures["backup_handle_log_file 101"] = IOError("upload failed");
  JobResult r = Run({"101", "102"});
  EXPECT_FALSE(r.status.ok());
  EXPECT_THAT(r.status.message(), HasSubstr("upload failed"));
  ASSERT_EQ(r.guests.size(), 1u);
  EXPECT_THAT(events_->All(), Not(Contains("backup_init 102")));
  EXPECT_THAT(events_->All(), Not(Contains("hook log-end stop 101")));
  EXPECT_THAT(events_->All(), Not(Contains("hook job-end")));
  ExpectInOrder({"backup_cleanup 101 success=1 lock=held", "backup_handle_log_file 101",
                 "job_cleanup", "hook job-abort", "shutdown"});
  EXPECT_THAT(log_.lines, Contains(HasSubstr("ERROR: Backup job failed - ")));
}

// Even after a failed guest: the log is handed over, and its failure aborts.
TEST_F(JobTest, FailingLogFileHandlingAfterAFailedGuestAbortsTheJob) {
  script_.failures["backup_container 101"] = IOError("disk full");
  script_.failures["backup_handle_log_file 101"] = IOError("upload failed");
  JobResult r = Run({"101", "102"});
  EXPECT_FALSE(r.status.ok());
  EXPECT_THAT(events_->All(), Not(Contains("backup_init 102")));
  ExpectInOrder({"backup_cleanup 101 success=0 error=disk full lock=free",
                 "hook backup-abort stop 101", "backup_handle_log_file 101", "job_cleanup",
                 "hook job-abort"});
}

// SIGTERM while the provider reads the container: the remaining guests are
// skipped; the container is given back and unlocked, the provider still
// gets backup_cleanup(0) and job_cleanup. Whether the provider call itself
// fails or returns, the job notices the signal; and a provider error
// "interrupted by signal" alone aborts too (vzdump re-throws it, §5.1).
enum class Interrupt { kSignalProviderFails, kSignalProviderReturns, kProviderCancelledOnly };

class InterruptTest : public JobTest, public ::testing::WithParamInterface<Interrupt> {};

TEST_P(InterruptTest, RemainingGuestsSkippedCleanupStillCalled) {
  if (GetParam() != Interrupt::kProviderCancelledOnly)
    script_.during_backup_container = [](const std::string& vmid) {
      if (vmid == "101") ::raise(SIGTERM);
    };
  if (GetParam() != Interrupt::kSignalProviderReturns)
    script_.failures["backup_container 101"] = CancelledError("interrupted by signal");
  JobResult r = Run({"101", "102", "103"});
  EXPECT_EQ(r.status.code(), Code::kCancelled) << r.status.message();
  ASSERT_EQ(r.guests.size(), 1u);
  EXPECT_EQ(r.guests[0].status.code(), Code::kCancelled);
  EXPECT_THAT(events_->All(), Not(Contains("backup_init 102")));
  // Returned: the job restarts the container, then notices; failed: the
  // cleanup restarts it. Either way before backup_cleanup.
  ExpectInOrder({"backup_container 101", "ct 101 start",
                 "backup_cleanup 101 success=0 error=interrupted by signal lock=free"});
  ExpectInOrder({"backup_container 101", "mode stop leave 101",
                 "backup_cleanup 101 success=0 error=interrupted by signal lock=free",
                 "backup_handle_log_file 101", "job_cleanup", "shutdown"});
  EXPECT_EQ(events_->With("backup_cleanup").size(), 1u);
  EXPECT_THAT(events_->All(), Not(Contains("hook job-end")));
}

INSTANTIATE_TEST_SUITE_P(Each, InterruptTest,
                         ::testing::Values(Interrupt::kSignalProviderFails,
                                           Interrupt::kSignalProviderReturns,
                                           Interrupt::kProviderCancelledOnly));

// §5.3: job_init dies: no guest is backed up; job_cleanup and job-abort run.
TEST_F(JobTest, FailingJobInitBacksUpNothing) {
  script_.failures["job_init"] = UnavailableError("server unreachable");
  JobResult r = Run({"101"});
  EXPECT_EQ(r.status.message(), "server unreachable");
  EXPECT_TRUE(r.guests.empty());
  EXPECT_EQ(ProviderCalls(), (std::vector<std::string>{"job_init", "job_cleanup", "shutdown"}));
  ExpectInOrder({"job_init", "job_cleanup", "hook job-abort"});
  EXPECT_THAT(events_->All(), Not(Contains("hook job-start")));
  EXPECT_TRUE(Logged("ERROR: Backup job failed - server unreachable"));
}

// Every selected container's result is recorded for `ctdump status`
// (guest_state.h): backed up, failed, never reached.
TEST_F(JobTest, RecordsEachContainersResult) {
  opts_.job_id = "nightly";
  JobResult r = Run({"999", "101"});
  ASSERT_EQ(r.guests.size(), 2u);
  auto missing = ReadGuestRecord(paths_.state_dir, "999");
  ASSERT_TRUE(missing.ok()) << missing.status().ToString();
  EXPECT_EQ(missing->result, GuestOutcome::kError);
  EXPECT_EQ(missing->message, r.guests[0].status.message());
  EXPECT_EQ(missing->storage, "rec");
  EXPECT_EQ(missing->job_id, "nightly");
  auto ok = ReadGuestRecord(paths_.state_dir, "101");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->result, GuestOutcome::kOk);
  EXPECT_EQ(ok->archive, "ct-101-archive");
  EXPECT_EQ(ok->size, 4096u);
  EXPECT_GE(ok->time, ::time(nullptr) - 60);
  EXPECT_TRUE(ok->message.empty());
  // A job that fails before the containers: each gets the job's error.
  script_.failures["job_init"] = UnavailableError("server unreachable");
  Run({"101", "102"});
  for (const char* vmid : {"101", "102"}) {
    auto rec = ReadGuestRecord(paths_.state_dir, vmid);
    ASSERT_TRUE(rec.ok()) << vmid;
    EXPECT_EQ(rec->result, GuestOutcome::kError);
    EXPECT_EQ(rec->message,
              "the backup job failed before this container's backup: server unreachable");
    EXPECT_TRUE(rec->archive.empty());
  }
}

// The guest records' directory (<state_dir>/guests) is a file; the
// journals (<state_dir>/journal) can be written.
TEST_F(JobTest, UnwritableGuestStateIsOnlyAWarning) {
  ASSERT_TRUE(sys::MakeDirs(paths_.state_dir).ok());
  std::ofstream(paths_.state_dir + "/guests") << "x";
  JobResult r = Run({"101"});
  EXPECT_TRUE(r.ok()) << r.status.message();
  bool warned = false;
  for (const auto& l : log_.lines)
    warned |= l.starts_with("WARN: could not record the result of container '101'");
  EXPECT_TRUE(warned) << ::testing::PrintToString(log_.lines);
}

// §2.2: job_cleanup dies on the success path: called again, job-abort, the
// job fails although every guest was backed up; the second failure is named.
TEST_F(JobTest, FailingJobCleanupIsCalledAgain) {
  script_.failures["job_cleanup"] = IOError("logout failed");
  JobResult r = Run({"101"});
  EXPECT_EQ(r.status.message(),
            "logout failed; job cleanup for external provider failed - logout failed");
  ASSERT_EQ(r.guests.size(), 1u);
  EXPECT_TRUE(r.guests[0].status.ok());
  EXPECT_EQ(events_->With("job_cleanup").size(), 2u);
  ExpectInOrder(
      {"backup_handle_log_file 101", "job_cleanup", "job_cleanup", "hook job-abort", "shutdown"});
  EXPECT_THAT(events_->All(), Not(Contains("hook job-end")));
}

// §5.2 step 6: snapshot's mode failure -> suspend, logged as vzdump does.
TEST_F(JobTest, SnapshotModeFailureFallsBackToSuspend) {
  opts_.mode = "snapshot";
  modes_->failures["snapshot prepare"] =
      modes::ModeFailure("some volumes do not support snapshots");
  JobResult r = Run({"101"});
  EXPECT_TRUE(r.ok()) << r.status.message();
  ExpectInOrder({"mode snapshot prepare 101", "mode suspend prepare 101", "backup_init 101",
                 "hook backup-start suspend 101", "mode suspend enter 101",
                 "hook pre-stop suspend 101", "ct 101 freeze", "backup_container 101",
                 "ct 101 thaw", "backup_cleanup 101 success=1 lock=held"});
  EXPECT_THAT(events_->All(), Not(Contains("mode snapshot enter 101")));
  auto at = [&](const std::string& l) {
    return std::find(log_.lines.begin(), log_.lines.end(), l) - log_.lines.begin();
  };
  EXPECT_LT(at("INFO: mode failure - some volumes do not support snapshots"),
            at("INFO: trying 'suspend' mode instead"));
  EXPECT_LT(at("INFO: trying 'suspend' mode instead"), at("INFO: backup mode: suspend"));
  EXPECT_LT(at("INFO: backup mode: suspend"), static_cast<long>(log_.lines.size()));
  EXPECT_TRUE(script_.requests["101"].tree_is_copy);
}

// Suspend mode with a provider that takes a live first pass (the datastore):
// no copy; the first pass reads the running container, the second the frozen
// one, then the container is thawed (docs/design/suspend-live-pass.md).
TEST_F(JobTest, SuspendWithALivePassFreezesOnlyForTheSecondPass) {
  opts_.mode = "suspend";
  script_.live_pass = true;
  JobResult r = Run({"101"});
  EXPECT_TRUE(r.ok()) << r.status.message();
  ExpectInOrder({"backup_init 101", "hook backup-start suspend 101", "mode suspend live-view 101",
                 "backup_get_mechanism 101", "backup_container_prepare 101",
                 "backup_container_live_pass 101", "mode suspend enter 101",
                 "hook pre-stop suspend 101", "ct 101 freeze", "backup_container_prepare 101",
                 "backup_container 101", "mode suspend resume 101", "ct 101 thaw",
                 "backup_cleanup 101 success=1 lock=held"});
  // One mechanism question and one "starting" line for both passes.
  EXPECT_EQ(std::count(events_->All().begin(), events_->All().end(), "backup_get_mechanism 101"),
            1);
  EXPECT_EQ(std::count(log_.lines.begin(), log_.lines.end(),
                       "INFO: starting external backup via recorder"),
            1);
  EXPECT_FALSE(script_.live_requests["101"].tree_is_copy);
  EXPECT_FALSE(script_.requests["101"].tree_is_copy);
  EXPECT_EQ(script_.live_requests["101"].info.directory, script_.requests["101"].info.directory);
}

TEST_F(JobTest, FailedLivePassNeverFreezes) {
  opts_.mode = "suspend";
  script_.live_pass = true;
  script_.failures["backup_container_live_pass"] = IOError("store full");
  JobResult r = Run({"101"});
  ASSERT_EQ(r.guests.size(), 1u);
  EXPECT_EQ(r.guests[0].status.message(), "store full");
  EXPECT_THAT(events_->All(), Not(Contains("ct 101 freeze")));
  EXPECT_THAT(events_->All(), Not(Contains("backup_container 101")));
  ExpectInOrder({"backup_container_live_pass 101",
                 "backup_cleanup 101 success=0 error=store full lock=free"});
}

TEST_F(JobTest, FailedSecondPassThaws) {
  opts_.mode = "suspend";
  script_.live_pass = true;
  script_.failures["backup_container"] = IOError("worker died");
  JobResult r = Run({"101"});
  ASSERT_EQ(r.guests.size(), 1u);
  EXPECT_EQ(r.guests[0].status.message(), "worker died");
  ExpectInOrder({"backup_container_live_pass 101", "ct 101 freeze", "backup_container 101",
                 "ct 101 thaw", "backup_cleanup 101 success=0 error=worker died lock=free"});
}

// Stop and snapshot modes take one pass whatever the provider supports.
TEST_F(JobTest, LivePassOnlyInSuspendMode) {
  script_.live_pass = true;
  ASSERT_TRUE(Run({"101"}).ok());
  EXPECT_THAT(events_->All(), Not(Contains("backup_container_live_pass 101")));
  EXPECT_THAT(events_->All(), Contains("backup_container 101"));
}

// Another snapshot error is no mode failure: no fallback, the guest fails.
TEST_F(JobTest, OtherSnapshotErrorsDoNotFallBack) {
  opts_.mode = "snapshot";
  modes_->failures["snapshot prepare"] = IOError("cannot remove leftover snapshot");
  JobResult r = Run({"101"});
  ASSERT_EQ(r.guests.size(), 1u);
  EXPECT_EQ(r.guests[0].status.message(), "cannot remove leftover snapshot");
  EXPECT_THAT(events_->All(), Not(Contains("mode suspend prepare 101")));
  EXPECT_THAT(events_->All(), Not(Contains("backup_init 101")));
  EXPECT_THAT(events_->All(),
              Contains("backup_cleanup 101 success=0 error=cannot remove leftover snapshot "
                       "lock=free"));
}

// vzdump: a container that is not running is backed up in stop mode.
TEST_F(JobTest, StoppedContainerUsesStopModeWithoutStopping) {
  opts_.mode = "snapshot";
  containers_->running["101"] = false;
  ASSERT_TRUE(Run({"101"}).ok());
  EXPECT_TRUE(Logged("INFO: status = stopped"));
  EXPECT_TRUE(Logged("INFO: backup mode: stop"));
  EXPECT_THAT(events_->All(), Contains("mode stop prepare 101"));
  EXPECT_THAT(events_->All(), Not(Contains("mode snapshot prepare 101")));
}

// A container that does not come back fails its backup (PVE only warns);
// backup_cleanup then reports the failure.
TEST_F(JobTest, ContainerThatDoesNotComeBackFailsTheGuest) {
  modes_->failures["stop resume 101"] = InternalError("unable to restart container '101'");
  JobResult r = Run({"101", "102"});
  ASSERT_EQ(r.guests.size(), 2u);
  EXPECT_EQ(r.guests[0].status.message(), "unable to restart container '101'");
  EXPECT_TRUE(r.guests[1].status.ok());
  ExpectInOrder({"backup_container 101", "mode stop resume 101",
                 "backup_cleanup 101 success=0 error=unable to restart container '101' lock=free",
                 "hook backup-abort stop 101", "backup_init 102"});
  EXPECT_THAT(events_->All(), Not(Contains("backup_cleanup 101 success=1 lock=held")));
}

// §5.2 steps 10-12: protected flag after the data, before backup_cleanup;
// its failure fails the guest; a notes failure only warns.
TEST_F(JobTest, ProtectedFlagAndNotesBeforeBackupCleanup) {
  opts_.is_protected = true;
  opts_.notes_template = "{{guestname}}";
  script_.failures["update_attribute_notes"] = IOError("read-only");
  JobResult r = Run({"101"});
  ASSERT_TRUE(r.ok()) << r.guests[0].status.message();
  EXPECT_TRUE(Logged("WARN: unable to add notes - read-only"));
  ExpectInOrder({"backup_container 101", "update_attribute ct-101-archive notes=\"host101\"",
                 "update_attribute ct-101-archive protected=true",
                 "backup_cleanup 101 success=1 lock=held"});
}

TEST_F(JobTest, FailingProtectedFlagFailsTheGuest) {
  opts_.is_protected = true;
  script_.failures["update_attribute_protected"] = IOError("read-only");
  JobResult r = Run({"101"});
  ASSERT_EQ(r.guests.size(), 1u);
  EXPECT_EQ(r.guests[0].status.message(), "unable to set protected flag: read-only");
  ExpectInOrder({"update_attribute ct-101-archive protected=true",
                 "backup_cleanup 101 success=0 error=unable to set protected flag: read-only "
                 "lock=free"});
}

// The modes record through the job's journal adapter; a finished guest
// leaves no journal behind.
TEST_F(JobTest, JournalIsClearedAfterTheGuest) {
  ASSERT_TRUE(Run({"101"}).ok());
  EXPECT_FALSE(sys::PathExists(paths_.state_dir + "/journal/lxc-101.json"));
  EXPECT_FALSE(sys::PathExists(paths_.run_dir + "/mnt/101"));
}

TEST_F(JobTest, ABackupNamedWithinTheSameSecondWaitsForTheNext) {
  script_.init_exists = 1;
  JobResult r = Run({"101"});
  ASSERT_TRUE(r.ok()) << r.status.message();
  ASSERT_EQ(script_.init_times.size(), 2u);
  EXPECT_GT(script_.init_times[1], script_.init_times[0]);
  EXPECT_THAT(log_.lines, Contains("INFO: a backup of 101 with this second's name exists: waiting "
                                   "for the next"));
}

TEST_F(JobTest, ABackupNameTakenTwiceFails) {
  script_.init_exists = 2;
  JobResult r = Run({"101"});
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.guests.size(), 1u);
  EXPECT_THAT(r.guests[0].status.message(), HasSubstr("backup init failed: backup 'ct/101/"));
  EXPECT_EQ(script_.init_times.size(), 2u);
}

}  // namespace
}  // namespace ctdump::backup
