// The modes against fake seams (container::Control, ModeHooks, ModeJournal):
// what happens to the container, the hook script and the journal, and in
// which order, on the paths that need no mounts — a failing pre-stop hook or
// shutdown, the restart after a half-done stop, a foreign freeze, a
// container that does not come back, snapshot's mode failure.
#include "modes/mode.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "modes/freeze.h"
#include "modes/volume_snapshot.h"
#include "sys/file.h"

namespace ctdump::modes {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Everything the fakes see, in order.
struct Record {
  std::vector<std::string> events;
  std::vector<std::string> logs;
};

class FakeControl : public container::Control {
 public:
  explicit FakeControl(Record* r) : r_(r) {}
  container::State state = container::State::kRunning;
  Status shutdown_result, start_result;

  const std::string& name() const override { return name_; }
  container::State GetState() const override { return state; }
  bool IsRunning() const override { return state != container::State::kStopped; }
  Status Shutdown(std::chrono::seconds t) override {
    r_->events.push_back("shutdown " + std::to_string(t.count()));
    if (shutdown_result.ok()) state = container::State::kStopped;
    return shutdown_result;
  }
  Status Start(std::chrono::seconds) override {
    r_->events.push_back("start");
    if (start_result.ok()) state = container::State::kRunning;
    return start_result;
  }
  Status Freeze(int* attempts) override {
    r_->events.push_back("freeze");
    state = container::State::kFrozen;
    if (attempts) *attempts = 1;
    return Status::OK();
  }
  Status Thaw() override {
    r_->events.push_back("thaw");
    state = container::State::kRunning;
    return Status::OK();
  }

 private:
  Record* r_;
  std::string name_ = "101";
};

class FakeHooks : public ModeHooks {
 public:
  explicit FakeHooks(Record* r) : r_(r) {}
  Status fail_pre_stop;
  Status Run(HookPhase phase, const char* mode) override {
    r_->events.push_back(std::string("hook ") + HookPhaseName(phase) + " " + mode);
    return phase == HookPhase::kPreStop ? fail_pre_stop : Status::OK();
  }

 private:
  Record* r_;
};

class FakeJournal : public ModeJournal {
 public:
  explicit FakeJournal(Record* r) : r_(r) {}
  Status SetStopped(bool s) override { return Add(s ? "journal stopped" : "journal started"); }
  Status SetFrozen(bool f) override { return Add(f ? "journal frozen" : "journal thawed"); }
  Status AddSnapshots(bool freezing, const std::vector<std::string>& s,
                      const std::vector<std::string>& c) override {
    return Add("journal snapshots");
  }
  Status ClearSnapshots() override { return Add("journal no snapshots"); }

 private:
  Status Add(const std::string& e) {
    r_->events.push_back(e);
    return Status::OK();
  }
  Record* r_;
};

class Lines : public Observer {
 public:
  explicit Lines(Record* r) : r_(r) {}
  void Log(LogLevel, std::string_view m) noexcept override { r_->logs.emplace_back(m); }

 private:
  Record* r_;
};

class ModeTest : public ::testing::Test {
 protected:
  ModeTest() : ct_(&r_), hooks_(&r_), journal_(&r_), log_(&r_) {
    ctx_.container = &ct_;
    ctx_.config = &config_;
    ctx_.log = &log_;
    ctx_.hooks = &hooks_;
    ctx_.journal = &journal_;
    ctx_.map = &map_;
    ctx_.vmid = "101";
    ctx_.stopwait = std::chrono::seconds(42);
  }

  Record r_;
  FakeControl ct_;
  FakeHooks hooks_;
  FakeJournal journal_;
  Lines log_;
  ContainerConfig config_;
  IdMap map_;
  ModeContext ctx_;
};

TEST_F(ModeTest, FailingPreStopHookLeavesTheContainerAlone) {
  hooks_.fail_pre_stop = FailedPreconditionError("hook said no");
  {
    auto stop = MakeStopMode(ctx_);
    auto tree = stop->Enter();
    EXPECT_EQ(tree.status().message(), "hook said no");
    EXPECT_TRUE(stop->Leave().ok());
  }
  EXPECT_THAT(r_.events, ElementsAre("hook pre-stop stop"));
}

// Marked "stopped" before the call: a shutdown that half-worked still gets
// a start, with the restart hooks around it, once.
TEST_F(ModeTest, HalfDoneShutdownIsStartedAgain) {
  ct_.shutdown_result = UnavailableError("container '101' did not stop within 42 s");
  auto stop = MakeStopMode(ctx_);
  EXPECT_EQ(stop->Enter().status().message(), "container '101' did not stop within 42 s");
  EXPECT_TRUE(stop->Resume().ok());
  EXPECT_TRUE(stop->Resume().ok());
  EXPECT_TRUE(stop->Leave().ok());
  EXPECT_THAT(r_.events, ElementsAre("hook pre-stop stop", "journal stopped", "shutdown 42",
                                     "hook pre-restart stop", "start", "journal started",
                                     "hook post-restart stop"));
  EXPECT_THAT(r_.logs, ::testing::Contains("stopping virtual guest"));
  EXPECT_THAT(r_.logs, ::testing::Contains("restarting vm"));
}

// The destructor gives the container back as well (every exit path).
TEST_F(ModeTest, DestroyedSessionRestarts) {
  ct_.shutdown_result = UnavailableError("did not stop");
  { EXPECT_FALSE(MakeStopMode(ctx_)->Enter().ok()); }
  EXPECT_EQ(r_.events.back(), "hook post-restart stop");
  EXPECT_EQ(ct_.state, container::State::kRunning);
}

TEST_F(ModeTest, ContainerThatDoesNotComeBackIsAnError) {
  ct_.shutdown_result = UnavailableError("did not stop");
  ct_.start_result = InternalError("start failed");
  auto stop = MakeStopMode(ctx_);
  EXPECT_FALSE(stop->Enter().ok());
  Status s = stop->Resume();
  EXPECT_EQ(s.message(), "unable to restart container '101': start failed");
  // Tried twice; the journal still says "stopped" for the repair.
  EXPECT_THAT(r_.events, ElementsAre("hook pre-stop stop", "journal stopped", "shutdown 42",
                                     "hook pre-restart stop", "start", "start"));
  ct_.start_result = Status::OK();
  EXPECT_TRUE(stop->Leave().ok());
  EXPECT_EQ(r_.events.back(), "hook post-restart stop");
}

TEST_F(ModeTest, StopRefusesAForeignFreeze) {
  ct_.state = container::State::kFrozen;
  auto stop = MakeStopMode(ctx_);
  EXPECT_THAT(stop->Enter().status().message(), HasSubstr("is frozen (not by ctdump)"));
  EXPECT_THAT(r_.events, IsEmpty());
}

TEST_F(ModeTest, FrozenContainerThawsOnEveryExitAndLeavesAForeignFreeze) {
  {
    FrozenContainer f(&ct_, &log_);
    ASSERT_TRUE(f.Freeze().ok());
    EXPECT_TRUE(f.frozen());
  }
  EXPECT_THAT(r_.events, ElementsAre("freeze", "thaw"));
  r_.events.clear();
  ct_.state = container::State::kFrozen;
  {
    FrozenContainer f(&ct_, &log_);
    ASSERT_TRUE(f.Freeze().ok());
    EXPECT_TRUE(f.foreign());
    EXPECT_TRUE(ThawWithHooks(ctx_, "suspend", f).ok());
  }
  EXPECT_THAT(r_.events, IsEmpty());
}

TEST_F(ModeTest, ThawWithHooksRunsTheRestartPhasesAroundTheThaw) {
  FrozenContainer f(&ct_, &log_);
  ASSERT_TRUE(f.Freeze().ok());
  ASSERT_TRUE(ThawWithHooks(ctx_, "snapshot", f).ok());
  ASSERT_TRUE(ThawWithHooks(ctx_, "snapshot", f).ok());
  EXPECT_THAT(r_.events, ElementsAre("freeze", "hook pre-restart snapshot", "thaw",
                                     "journal thawed", "hook post-restart snapshot"));
}

// A volume with neither btrfs snapshots nor reflinks: mode failure, so the
// job falls back to suspend; nothing is touched.
TEST_F(ModeTest, SnapshotWithoutSnapshotsIsAModeFailure) {
  char tmpl[] = "/dev/shm/ctdump-mode-test.XXXXXX";
  if (!::mkdtemp(tmpl)) GTEST_SKIP() << "no /dev/shm";
  std::string dir = tmpl;
  ASSERT_TRUE(sys::MakeDirs(dir + "/rootfs", 0755).ok());
  if (IsBtrfsSubvolume(dir + "/rootfs") || SupportsReflink(dir)) {
    ASSERT_TRUE(sys::RemoveTree(dir).ok());
    GTEST_SKIP() << dir << " supports snapshots";
  }
  config_.rootfs_path = dir + "/rootfs";
  auto snap = MakeSnapshotMode(ctx_);
  Status s = snap->Prepare();
  EXPECT_TRUE(IsModeFailure(s)) << s.message();
  EXPECT_EQ(s.message(), "mode failure - some volumes do not support snapshots");
  EXPECT_THAT(r_.events, IsEmpty());
  snap.reset();
  ASSERT_TRUE(sys::RemoveTree(dir).ok());
}

TEST_F(ModeTest, RealModesByName) {
  for (const char* m : {"stop", "suspend", "snapshot"}) {
    auto s = RealModes().Create(m, ctx_);
    ASSERT_TRUE(s.ok()) << m;
    EXPECT_EQ((*s)->name(), m);
  }
  // Sessions never entered leave the container alone.
  for (const auto& e : r_.events) EXPECT_EQ(e, "journal no snapshots");
  EXPECT_EQ(RealModes().Create("pause", ctx_).status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(IsModeFailure(InvalidArgumentError("mode failure")));
}

TEST(HookPhaseTest, Names) {
  EXPECT_STREQ(HookPhaseName(HookPhase::kPreStop), "pre-stop");
  EXPECT_STREQ(HookPhaseName(HookPhase::kPreRestart), "pre-restart");
  EXPECT_STREQ(HookPhaseName(HookPhase::kPostRestart), "post-restart");
}

}  // namespace
}  // namespace ctdump::modes
