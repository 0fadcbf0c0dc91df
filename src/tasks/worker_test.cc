#include "tasks/worker.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "sys/file.h"
#include "sys/subprocess.h"
#include "tasks/spawn.h"
#include "tasks/task_dir.h"
#include "tasks/task_log.h"
#include "tasks/task_status.h"

namespace ctdump::tasks {
namespace {

TaskOutcome Outcome(int warnings, std::optional<std::string> error) {
  TaskOutcome o;
  o.warnings = warnings;
  o.error = std::move(error);
  return o;
}

TEST(WorkerTest, FinalLines) {
  EXPECT_EQ(FinalLine(Outcome(0, std::nullopt)), "TASK OK");
  EXPECT_EQ(FinalLine(Outcome(2, std::nullopt)), "TASK WARNINGS: 2");
  EXPECT_EQ(FinalLine(Outcome(2, "job errors")), "TASK ERROR: job errors");
  EXPECT_EQ(FinalLine(Outcome(0, "first\nsecond")), "TASK ERROR: first");
  EXPECT_EQ(FinalLine(Outcome(0, "")), "TASK ERROR: unknown error");
  // What a reader makes of them.
  EXPECT_EQ(ExitStatusOfLine(FinalLine(Outcome(2, std::nullopt))), "WARNINGS: 2");
  EXPECT_EQ(ExitStatusOfLine(FinalLine(Outcome(0, "x: y"))), "x: y");
}

TEST(WorkerTest, SpawnChecksItsArguments) {
  SpawnTaskOptions o;
  o.type = "vzdump";
  o.user = "root@pam";
  EXPECT_EQ(SpawnTask(o).status().code(), Code::kInvalidArgument);  // no command
  o.command = {"job", "list"};
  o.user = "root:pam";
  EXPECT_EQ(SpawnTask(o).status().code(), Code::kInvalidArgument);
  o.user = "root@pam";
  o.id = "a/b";
  EXPECT_EQ(SpawnTask(o).status().code(), Code::kInvalidArgument);
}

// Root tests: the real binary's `__task` in private directories.
class TaskRootTest : public testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (backup refuses to run otherwise)";
    auto d = sys::MakeTempDir("/tmp/ctdump-task-root-");
    ASSERT_TRUE(d.ok());
    tmp_ = *d;
    for (const char* sub : {"/log", "/etc", "/lxc", "/dump", "/run", "/state"})
      ASSERT_TRUE(sys::MakeDirs(tmp_ + sub, 0700).ok());
    // No notification target: no warning about the missing default one.
    ASSERT_TRUE(sys::WriteFileAtomic(tmp_ + "/etc/notifications.cfg", "").ok());
  }
  void TearDown() override {
    // Nothing of ours may outlive the test.
    for (pid_t pid : workers_)
      if (sys::ProcessAlive(pid)) ::kill(-pid, SIGKILL);
    if (!tmp_.empty()) {
      ASSERT_TRUE(sys::RemoveTree(tmp_).ok());
    }
  }

  SpawnTaskOptions Options(std::vector<std::string> command) {
    SpawnTaskOptions o;
    o.program = CTDUMP_BIN;
    o.global_args = {"--config-dir", tmp_ + "/etc", "--lxcpath", tmp_ + "/lxc"};
    o.type = "vzdump";
    o.id = "c1";
    o.user = "root@pam";
    o.command = std::move(command);
    o.extra_env = {"CTDUMP_LOG_DIR=" + tmp_ + "/log", "CTDUMP_RUN_DIR=" + tmp_ + "/run",
                   "CTDUMP_STATE_DIR=" + tmp_ + "/state"};
    return o;
  }

  Upid Spawn(const SpawnTaskOptions& o) {
    auto upid = SpawnTask(o);
    EXPECT_TRUE(upid.ok()) << upid.status().message();
    if (!upid.ok()) return {};
    workers_.push_back(static_cast<pid_t>(upid->pid));
    return *upid;
  }

  // Waits until the task stopped; its exit status.
  std::string WaitStopped(const Upid& u, int seconds = 60) {
    TaskDir dir(tmp_ + "/log");
    for (int i = 0; i < seconds * 20; ++i) {
      auto st = GetTaskState(u, dir.LogPath(u));
      EXPECT_TRUE(st.ok()) << st.status().message();
      if (!st.ok()) return "";
      if (!st->running) return st->exitstatus;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "task still running: " << EncodeUpid(u);
    return "";
  }

  std::string Log(const Upid& u) {
    auto s = sys::ReadFile(TaskDir(tmp_ + "/log").LogPath(u));
    return s.ok() ? *s : s.status().message();
  }

  // A hook script that sleeps in the first phase it is called for (the
  // job's first), after writing its pid; later phases (job-abort) return.
  std::string SleepingHook(int seconds) {
    std::string path = tmp_ + "/hook.sh";
    std::string pidfile = tmp_ + "/hook.pid";
    EXPECT_TRUE(sys::WriteFileAtomic(path,
                                     "#!/bin/sh\n[ -e " + pidfile + " ] && exit 0\necho $$ >" +
                                         pidfile + ".tmp\nmv " + pidfile + ".tmp " + pidfile +
                                         "\nexec sleep " + std::to_string(seconds) + "\n",
                                     0755)
                    .ok());
    return path;
  }

  std::string tmp_;
  std::vector<pid_t> workers_;
};

TEST_F(TaskRootTest, RootLifecycle) {
  Upid u = Spawn(Options({"job", "list"}));
  ASSERT_FALSE(u.type.empty());
  EXPECT_EQ(u.type, "vzdump");
  EXPECT_EQ(u.id, "c1");
  EXPECT_EQ(u.user, "root@pam");
  EXPECT_EQ(u.node, ShortHostname());
  EXPECT_NE(u.pid, 0u);
  EXPECT_LE(std::abs(static_cast<int64_t>(u.starttime) - ::time(nullptr)), 60);
  TaskDir dir(tmp_ + "/log");
  EXPECT_EQ(WaitStopped(u), "OK") << Log(u);
  struct stat st;
  ASSERT_EQ(::stat(dir.LogPath(u).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  auto page = ReadTaskLog(dir.LogPath(u), 0, 0);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->lines.back().t, "TASK OK");
  auto list = dir.List([] {
    TaskFilter f;
    f.source = TaskFilter::Source::kAll;
    return f;
  }());
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->total, 1u) << Log(u);
  EXPECT_EQ(list->entries[0].upid, u);
  EXPECT_EQ(list->entries[0].status, "OK");
  EXPECT_FALSE(sys::PathExists(dir.ActivePath(u)));
}

TEST_F(TaskRootTest, RootCountsWarnings) {
  // Without notifications.cfg `job list` warns that mail-to-root is skipped.
  ASSERT_EQ(::unlink((tmp_ + "/etc/notifications.cfg").c_str()), 0);
  Upid u = Spawn(Options({"job", "list"}));
  ASSERT_FALSE(u.type.empty());
  EXPECT_EQ(WaitStopped(u), "WARNINGS: 1") << Log(u);
}

TEST_F(TaskRootTest, RootFailedBackupIsJobErrors) {
  Upid u = Spawn(Options({"backup", "nosuch", "--dumpdir", tmp_ + "/dump"}));
  ASSERT_FALSE(u.type.empty());
  EXPECT_EQ(WaitStopped(u), "job errors") << Log(u);
  EXPECT_NE(Log(u).find("ERROR: Backup of VM nosuch failed"), std::string::npos) << Log(u);
  auto list = TaskDir(tmp_ + "/log").List([] {
    TaskFilter f;
    f.errors = true;
    return f;
  }());
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->total, 1u);
  EXPECT_EQ(list->entries[0].status, "job errors");
}

TEST_F(TaskRootTest, RootUsageErrorOfTheSubcommand) {
  Upid u = Spawn(Options({"backup", "--no-such-option"}));
  ASSERT_FALSE(u.type.empty());
  std::string status = WaitStopped(u);
  EXPECT_NE(status.find("--no-such-option"), std::string::npos) << Log(u);
}

TEST_F(TaskRootTest, RootAbortEndsWithInterrupted) {
  auto o =
      Options({"backup", "nosuch", "--dumpdir", tmp_ + "/dump", "--script", SleepingHook(120)});
  Upid u = Spawn(o);
  ASSERT_FALSE(u.type.empty());
  // Wait for the hook to run: the task is mid-job then.
  std::string pidfile = tmp_ + "/hook.pid";
  for (int i = 0; i < 600 && !sys::PathExists(pidfile); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(sys::PathExists(pidfile)) << Log(u);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto hook_pid = sys::ReadFile(pidfile);
  ASSERT_TRUE(hook_pid.ok());
  EXPECT_TRUE(IsRunning(u));
  auto r = AbortTask(u);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(*r);
  EXPECT_EQ(WaitStopped(u, 30), "interrupted by signal") << Log(u);
  EXPECT_NE(Log(u).find("\nTASK ERROR: interrupted by signal\n"), std::string::npos) << Log(u);
  // Nothing left running: the worker's group and the hook are gone.
  for (int i = 0; i < 100 && sys::ProcessAlive(std::stoi(*hook_pid)); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(sys::ProcessAlive(std::stoi(*hook_pid)));
  EXPECT_NE(::kill(-static_cast<pid_t>(u.pid), 0), 0);
  auto again = AbortTask(u);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);  // stopped: left alone
}

TEST_F(TaskRootTest, RootSurvivesItsSpawner) {
  auto o = Options({"backup", "nosuch", "--dumpdir", tmp_ + "/dump", "--script", SleepingHook(2)});
  sys::UniqueFd p[2];
  ASSERT_TRUE(sys::MakePipe(p).ok());
  pid_t spawner = ::fork();
  ASSERT_GE(spawner, 0);
  if (spawner == 0) {
    auto upid = SpawnTask(o);
    std::string line = upid.ok() ? EncodeUpid(*upid) : "error: " + upid.status().message();
    sys::WriteAll(p[1].get(), line, "pipe").IgnoreError();
    ::_exit(upid.ok() ? 0 : 1);
  }
  p[1].Reset();
  std::string line;
  char buf[512];
  for (ssize_t n; (n = ::read(p[0].get(), buf, sizeof(buf))) > 0;) line.append(buf, n);
  int st = 0;
  ASSERT_EQ(::waitpid(spawner, &st, 0), spawner);
  ASSERT_TRUE(sys::ExitedOk(st)) << line;
  auto u = DecodeUpid(line);
  ASSERT_TRUE(u.ok()) << line;
  workers_.push_back(static_cast<pid_t>(u->pid));
  EXPECT_TRUE(IsRunning(*u));  // its spawner is gone, it goes on
  EXPECT_EQ(WaitStopped(*u), "job errors") << Log(*u);
}

TEST_F(TaskRootTest, RootReportsAWorkerThatDiedEarly) {
  auto o = Options({"job", "list"});
  // The log directory is a file: the worker cannot create tasks/.
  ASSERT_TRUE(sys::WriteFileAtomic(tmp_ + "/notadir", "").ok());
  o.extra_env[0] = "CTDUMP_LOG_DIR=" + tmp_ + "/notadir";
  auto r = SpawnTask(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("exited with code 1"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("notadir"), std::string::npos) << r.status().message();

  o.program = tmp_ + "/missing-binary";
  r = SpawnTask(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("exited with code 127"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace ctdump::tasks
