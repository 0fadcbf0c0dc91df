#include "backup/hook_script.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <vector>

#include "sys/file.h"

namespace ctdump::backup {
namespace {

class Lines : public Observer {
 public:
  void Log(LogLevel, std::string_view m) noexcept override { lines.emplace_back(m); }
  std::vector<std::string> lines;
};

class HookScriptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ctdump-hook-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_TRUE(sys::RemoveTree(dir_).ok()); }
  std::string Script(const std::string& body) {
    std::string p = dir_ + "/hook.sh";
    std::ofstream(p) << "#!/bin/sh\n" << body;
    ::chmod(p.c_str(), 0755);
    return p;
  }
  std::string dir_;
  Lines obs_;
};

TEST_F(HookScriptTest, GuestPhaseGetsArgumentsAndEnvironment) {
  HookScript h(Script("echo \"$1 $2 $3 $STOREID $VMTYPE $HOSTNAME $TARGET ${DUMPDIR-unset} "
                      "${LOGFILE-unset}\"\n"),
               &obs_);
  HookEnv env;
  env.storeid = "store1";
  env.vmtype = "lxc";
  env.hostname = "web";
  env.target = "c1/2026-11-26T06:00:00Z";
  ASSERT_TRUE(h.RunGuestPhase("backup-start", "stop", "c1", env, &obs_).ok());
  ASSERT_EQ(obs_.lines.size(), 1u);
  EXPECT_EQ(obs_.lines[0],
            "backup-start stop c1 store1 lxc web c1/2026-11-26T06:00:00Z unset unset");
  // A dir storage: DUMPDIR and LOGFILE too.
  env.dumpdir = "/srv/dump";
  env.target = "/srv/dump/vzdump-lxc-c1-2026_11_26-06_00_00.tar.zst";
  env.logfile = "/srv/dump/vzdump-lxc-c1-2026_11_26-06_00_00.log";
  ASSERT_TRUE(h.RunGuestPhase("backup-end", "stop", "c1", env, &obs_).ok());
  ASSERT_EQ(obs_.lines.size(), 2u);
  EXPECT_EQ(obs_.lines[1],
            "backup-end stop c1 store1 lxc web "
            "/srv/dump/vzdump-lxc-c1-2026_11_26-06_00_00.tar.zst /srv/dump "
            "/srv/dump/vzdump-lxc-c1-2026_11_26-06_00_00.log");
}

TEST_F(HookScriptTest, JobPhaseHasOnlyThePhase) {
  HookScript h(Script("echo \"$# $1\"\n"), &obs_);
  HookEnv env;
  env.storeid = "s";
  ASSERT_TRUE(h.RunJobPhase("job-start", env).ok());
  EXPECT_EQ(obs_.lines, std::vector<std::string>{"1 job-start"});
}

TEST_F(HookScriptTest, FailureNamesCommandAndExitCode) {
  std::string p = Script("echo failing >&2; exit 5\n");
  HookScript h(p, &obs_);
  Status s = h.RunGuestPhase("pre-stop", "stop", "c1", {}, &obs_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "command '" + p + " pre-stop stop c1' failed: exit code 5");
  EXPECT_EQ(obs_.lines, std::vector<std::string>{"failing"});
}

TEST_F(HookScriptTest, DisabledDoesNothing) {
  HookScript h("", &obs_);
  EXPECT_TRUE(h.RunJobPhase("job-start", {}).ok());
  EXPECT_TRUE(obs_.lines.empty());
}

}  // namespace
}  // namespace ctdump::backup
