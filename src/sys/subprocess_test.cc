#include "sys/subprocess.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ctdump::sys {
namespace {

std::string ReadAllFd(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  return out;
}

TEST(SubprocessTest, CapturesStdoutAndExitCode) {
  SpawnOptions o;
  o.argv = {"sh", "-c", "echo hi; exit 3"};
  o.pipe_stdout = true;
  auto p = Spawn(o);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(ReadAllFd(p->stdout_fd().get()), "hi\n");
  auto st = p->Wait();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(DescribeWaitStatus(*st), "exited with code 3");
  EXPECT_FALSE(ExitedOk(*st));
}

TEST(SubprocessTest, ExecFailureIsAnErrorNamingTheProgram) {
  SpawnOptions o;
  o.argv = {"/nonexistent/ctdump-provider"};
  auto p = Spawn(o);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kNotFound);
  EXPECT_NE(p.status().message().find("/nonexistent/ctdump-provider"), std::string::npos);
}

TEST(SubprocessTest, WaitForTimesOutThenDestructorKills) {
  pid_t pid;
  {
    SpawnOptions o;
    o.argv = {"sleep", "100"};
    auto p = Spawn(o);
    ASSERT_TRUE(p.ok());
    pid = p->pid();
    auto r = p->WaitFor(std::chrono::milliseconds(20));
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->has_value());
  }
  EXPECT_EQ(::kill(pid, 0), -1);  // reaped: no such process
}

TEST(SubprocessTest, ExtraEnvOverrides) {
  SpawnOptions o;
  o.argv = {"sh", "-c", "printf %s \"$CTDUMP_X\""};
  o.extra_env = {"CTDUMP_X=42"};
  o.pipe_stdout = true;
  auto p = Spawn(o);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(ReadAllFd(p->stdout_fd().get()), "42");
  ASSERT_TRUE(p->Wait().ok());
}

TEST(SubprocessTest, RunCommandMergesOutput) {
  SpawnOptions o;
  o.argv = {"sh", "-c", "echo out; echo err >&2; exit 1"};
  auto r = RunCommand(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->output, "out\nerr\n");
  EXPECT_TRUE(WIFEXITED(r->wait_status));
  EXPECT_EQ(WEXITSTATUS(r->wait_status), 1);
}

TEST(SubprocessTest, ChildHookFailureIsReported) {
  SpawnOptions o;
  o.argv = {"true"};
  SpawnHooks hooks;
  hooks.child = [](const char** stage) {
    *stage = "test stage";
    return EPERM;
  };
  auto p = Spawn(o, &hooks);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("test stage"), std::string::npos);
}

}  // namespace
}  // namespace ctdump::sys
