// The client against real child processes (small sh scripts) that behave well
// and badly: answers, notifications, stderr, garbage, wrong ids, crashes, hangs.
#include "provider/protocol_client.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "sys/file.h"
#include "sys/signals.h"

namespace ctdump::provider {
namespace {

using json = nlohmann::json;

class RecordingObserver : public Observer {
 public:
  void Log(LogLevel level, std::string_view message) noexcept override {
    lines.push_back(std::string(level == LogLevel::kInfo   ? "info: "
                                : level == LogLevel::kWarn ? "warn: "
                                                           : "err: ") +
                    std::string(message));
  }
  void OnProgress(const Progress& p) noexcept override { last_bytes = p.bytes; }
  std::vector<std::string> lines;
  uint64_t last_bytes = 0;
};

class ProtocolClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<ProtocolClient> Start(const std::string& script, bool new_session = false) {
    sys::SpawnOptions o;
    o.argv = {"/bin/sh", "-c", script};
    o.pipe_stdin = o.pipe_stdout = o.pipe_stderr = true;
    o.new_session = new_session;  // as ExternalProvider starts its instances
    auto p = sys::Spawn(o);
    EXPECT_TRUE(p.ok()) << p.status().message();
    return std::make_unique<ProtocolClient>("provider 't' (test)", std::move(*p), &obs_);
  }
  RecordingObserver obs_;
};

TEST_F(ProtocolClientTest, ResultNotificationsAndStderr) {
  auto c = Start(
      "read l; echo 'to stderr' >&2;"
      "echo "
      "'{\"jsonrpc\":\"2.0\",\"method\":\"log\",\"params\":{\"level\":\"warn\",\"message\":"
      "\"careful\"}}';"
      "echo "
      "'{\"jsonrpc\":\"2.0\",\"method\":\"progress\",\"params\":{\"bytes\":42,\"files\":1,\"total-"
      "bytes\":null}}';"
      "echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"x\":1}}';"
      "read l; echo '{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":null}'; exit 0");
  auto r = c->Call("hello", json::object(), std::chrono::seconds(10));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)["x"], 1);
  EXPECT_EQ(obs_.last_bytes, 42u);
  EXPECT_TRUE(c->Shutdown(std::chrono::seconds(10)).ok());
  EXPECT_NE(std::find(obs_.lines.begin(), obs_.lines.end(), "warn: careful"), obs_.lines.end());
  EXPECT_NE(std::find(obs_.lines.begin(), obs_.lines.end(), "info: provider: to stderr"),
            obs_.lines.end());
}

TEST_F(ProtocolClientTest, ErrorResponseCarriesProviderMessage) {
  auto c = Start(
      "read l; echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,\"message\":\"disk "
      "full\"}}';"
      "cat >/dev/null");
  auto r = c->Call("job_init", json::object(), std::chrono::seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "disk full");
  EXPECT_TRUE(c->alive());  // an error response is a normal answer
}

TEST_F(ProtocolClientTest, GarbageLineFailsNamingProvider) {
  auto c = Start("read l; echo 'this is not json'; sleep 100");
  auto r = c->Call("job_init", json::object(), std::chrono::seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "provider 't' (test) wrote an invalid message: 'this is not json' during 'job_init'");
  EXPECT_FALSE(c->alive());
}

TEST_F(ProtocolClientTest, WrongIdFails) {
  auto c = Start("read l; echo '{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":null}'; sleep 100");
  auto r = c->Call("job_init", json::object(), std::chrono::seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unexpected id"), std::string::npos);
}

TEST_F(ProtocolClientTest, CrashIsReportedWithExitCode) {
  auto c = Start("read l; exit 3");
  auto r = c->Call("backup_init", json::object(), std::chrono::seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(r.status().message(),
            "provider 't' (test) exited unexpectedly during 'backup_init' (exited with code 3)");
}

// A provider that dies while a tool it started still runs (the tool would
// go on writing to the repository beside the next instance): the tool is
// killed with it. Mutation-checked: without the group kill the child lives.
TEST_F(ProtocolClientTest, ChildrenOfACrashedProviderDoNotOutliveIt) {
  char pidfile[] = "/tmp/ctdump-pc-test.XXXXXX";
  int fd = ::mkstemp(pidfile);
  ASSERT_GE(fd, 0);
  ::close(fd);
  auto c = Start(std::string("sleep 300 </dev/null >/dev/null 2>&1 & echo $! > ") + pidfile +
                     "; read l; exit 3",
                 true);
  auto r = c->Call("backup_init", json::object(), std::chrono::seconds(10));
  ASSERT_FALSE(r.ok());
  std::string text;
  ASSERT_TRUE(sys::ReadFile(pidfile).ok());
  text = *sys::ReadFile(pidfile);
  ::unlink(pidfile);
  pid_t child = static_cast<pid_t>(std::stol(text));
  ASSERT_GT(child, 1);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    // the child is the shell's, reparented to init (or a subreaper): gone
    // once it is killed and reaped, or a zombie
    std::string stat;
    auto st = sys::ReadFile("/proc/" + std::to_string(child) + "/stat");
    gone = !st.ok() || st->find(") Z ") != std::string::npos;
    if (!gone) ::usleep(20000);
  }
  EXPECT_TRUE(gone) << "the crashed provider's child " << child << " still runs";
  if (!gone) ::kill(child, SIGKILL);
}

TEST_F(ProtocolClientTest, HangTimesOutAndKills) {
  auto c = Start("read l; sleep 100");
  auto r = c->Call("backup_container", json::object(), std::chrono::seconds(1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded);
  EXPECT_EQ(r.status().message(),
            "provider 't' (test) did not answer 'backup_container' within 1 s");
  EXPECT_FALSE(c->alive());
}

TEST_F(ProtocolClientTest, NotificationAfterResponseIsKeptForNextCall) {
  auto c = Start(
      "read l; printf '%s\\n%s\\n' '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1}' "
      "'{\"jsonrpc\":\"2.0\",\"method\":\"log\",\"params\":{\"level\":\"info\",\"message\":"
      "\"late\"}}';"
      "read l; echo '{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":2}'; cat >/dev/null");
  ASSERT_EQ(*c->Call("a", nullptr, std::chrono::seconds(10)), 1);
  ASSERT_EQ(*c->Call("b", nullptr, std::chrono::seconds(10)), 2);
  EXPECT_NE(std::find(obs_.lines.begin(), obs_.lines.end(), "info: late"), obs_.lines.end());
}

TEST_F(ProtocolClientTest, MissingJsonrpcMemberIsInvalid) {
  auto c = Start("read l; echo '{\"id\":1,\"result\":null}'; sleep 100");
  auto r = c->Call("a", nullptr, std::chrono::seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("invalid message"), std::string::npos);
}

TEST_F(ProtocolClientTest, ShutdownKillsProviderThatDoesNotExit) {
  auto c = Start(
      "read l; echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}'; trap '' TERM; "
      "while :; do sleep 1; done");
  Status s = c->Shutdown(std::chrono::seconds(5));
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(c->alive());
}

}  // namespace
}  // namespace ctdump::provider

namespace ctdump::provider {
namespace {

TEST_F(ProtocolClientTest, DeeplyNestedMessageIsRejectedNotFollowed) {
  auto c = Start("read l; python3 -c 'print(\"[\" * 100000 + \"]\" * 100000)'; sleep 100");
  auto r = c->Call("a", nullptr, std::chrono::seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nested too deeply"), std::string::npos);
}

TEST_F(ProtocolClientTest, FirstSignalAbandonsCallButKeepsProvider) {
  sys::InstallInterruptHandlers();
  sys::ResetInterruptForTest();
  auto c = Start(
      "read l; kill -TERM $PPID; sleep 0.5; echo "
      "'{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"late\"}';"
      "read l; echo '{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"cleanup\"}'; cat >/dev/null");
  auto r = c->Call("backup_container_prepare", nullptr, std::chrono::seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCancelled);
  EXPECT_TRUE(c->alive());
  auto r2 = c->Call("backup_cleanup", nullptr, std::chrono::seconds(10));
  ASSERT_TRUE(r2.ok()) << r2.status().message();
  EXPECT_EQ(*r2, "cleanup");
  sys::ResetInterruptForTest();
}

TEST_F(ProtocolClientTest, StderrIsSplitOnCarriageReturnsAndCleaned) {
  auto c = Start(
      "read l; printf 'a\\rb\\n\\033[31mred\\n' >&2; sleep 0.2;"
      "echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}'; cat >/dev/null");
  ASSERT_TRUE(c->Call("a", nullptr, std::chrono::seconds(10)).ok());
  EXPECT_NE(std::find(obs_.lines.begin(), obs_.lines.end(), "info: provider: a"), obs_.lines.end());
  EXPECT_NE(std::find(obs_.lines.begin(), obs_.lines.end(), "info: provider: b"), obs_.lines.end());
  EXPECT_NE(std::find(obs_.lines.begin(), obs_.lines.end(), "info: provider: ?[31mred"),
            obs_.lines.end());
}

TEST_F(ProtocolClientTest, LargeRequestToSlowReaderDoesNotDeadlock) {
  // The provider writes a lot to stderr before reading its request: ctdump
  // must keep reading while it writes.
  auto c = Start(
      "head -c 300000 /dev/zero | tr '\\0' x >&2; read l;"
      "echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}'; cat >/dev/null");
  nlohmann::json big = {{"guest-config", std::string(1 << 20, 'c')}};
  auto r = c->Call("backup_container", big, std::chrono::seconds(20));
  ASSERT_TRUE(r.ok()) << r.status().message();
}

}  // namespace
}  // namespace ctdump::provider
