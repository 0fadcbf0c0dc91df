// The fault shim between ctdump's protocol client and a scripted provider (a
// small Python script answering every request, with a child process of its
// own): relaying, the record, crash (and its group kill), hang, garbage,
// --once, and exit statuses; the sweep of killed kits' fault directories.
#include "providertest/fault_shim.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "provider/protocol_client.h"
#include "providertest/failure_checks.h"
#include "sys/file.h"
#include "sys/subprocess.h"

namespace ctdump::providertest {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;

// Answers every request with {"method", "pid", "child"} after a log
// notification; keeps a `sleep` child in its process group; exits 0 after
// shutdown or at the end of its input.
constexpr char kFakeProvider[] = R"(import json, os, subprocess, sys
child = subprocess.Popen(["sleep", "1000"])
for line in sys.stdin:
    m = json.loads(line)
    if "id" not in m:
        continue
    log = {"level": "info", "message": "handling " + m["method"]}
    print(json.dumps({"jsonrpc": "2.0", "method": "log", "params": log}))
    r = {"method": m["method"], "pid": os.getpid(), "child": child.pid}
    print(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": r}), flush=True)
    if m["method"] == "shutdown":
        break
child.kill()
child.wait()
)";

class Lines : public Observer {
 public:
  void Log(LogLevel, std::string_view message) noexcept override { lines.emplace_back(message); }
  void OnProgress(const Progress&) noexcept override {}
  bool Has(const std::string& s) const {
    return std::find(lines.begin(), lines.end(), s) != lines.end();
  }
  std::vector<std::string> lines;
};

// Whether `pid` runs (exists and is no zombie).
bool Running(int pid) {
  auto stat = sys::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return false;
  auto p = stat->rfind(')');
  return p != std::string::npos && p + 2 < stat->size() && (*stat)[p + 2] != 'Z' &&
         (*stat)[p + 2] != 'X';
}

bool GoneSoon(int pid) {
  for (int i = 0; i < 100 && Running(pid); ++i) ::usleep(20000);
  return !Running(pid);
}

class FaultShimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = sys::MakeTempDir("/tmp/fault-shim-test.");
    ASSERT_TRUE(d.ok()) << d.status().message();
    dir_ = *d;
    ASSERT_TRUE(sys::WriteFileAtomic(dir_ + "/provider.py", kFakeProvider).ok());
    options_.command = {"python3", dir_ + "/provider.py"};
    options_.record = dir_ + "/record";
  }
  void TearDown() override { sys::RemoveTree(dir_).IgnoreError(); }

  // The shim as a forked child (as `ctdump __provider-fault` runs it), in a
  // session of its own unless `own_session` is false.
  sys::Subprocess Shim(bool own_session = true) {
    sys::SpawnOptions o;
    o.argv = {"__provider-fault"};
    o.pipe_stdin = o.pipe_stdout = true;
    o.new_session = own_session;
    sys::SpawnHooks h;
    FaultShimOptions opts = options_;
    h.run = [opts] { return RunFaultShim(opts); };
    auto p = sys::Spawn(o, &h);
    EXPECT_TRUE(p.ok()) << p.status().message();
    return std::move(*p);
  }

  std::unique_ptr<provider::ProtocolClient> Client(bool own_session = true) {
    return std::make_unique<provider::ProtocolClient>("provider 't' (shim)", Shim(own_session),
                                                      &obs_);
  }

  std::vector<std::string> Record() {
    auto text = sys::ReadFile(options_.record);
    std::vector<std::string> out;
    if (!text.ok()) return out;
    size_t pos = 0, nl;
    while ((nl = text->find('\n', pos)) != std::string::npos) {
      out.push_back(text->substr(pos, nl - pos));
      pos = nl + 1;
    }
    return out;
  }

  std::string dir_;
  FaultShimOptions options_;
  Lines obs_;
};

TEST(FaultForTest, CrashWinsOverHangOverGarbage) {
  FaultShimOptions o;
  o.crash = {"a"};
  o.hang = {"a", "b"};
  o.garbage = {"a", "b", "c"};
  EXPECT_EQ(FaultFor(o, "a"), Fault::kCrash);
  EXPECT_EQ(FaultFor(o, "b"), Fault::kHang);
  EXPECT_EQ(FaultFor(o, "c"), Fault::kGarbage);
  EXPECT_EQ(FaultFor(o, "d"), Fault::kNone);
  EXPECT_EQ(RecordLine("backup_cleanup", R"({"success":false})"),
            R"(backup_cleanup {"success":false})");
}

TEST_F(FaultShimTest, RelaysBothWaysRecordsAndEndsAsTheProvider) {
  auto c = Client();
  auto r = c->Call("hello", {{"role", "main"}}, seconds(20));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)["method"], "hello");
  EXPECT_TRUE(obs_.Has("handling hello"));  // the notification came through
  ASSERT_TRUE(c->Call("list_backups", {{"vmid", nullptr}}, seconds(20)).ok());
  Status s = c->Shutdown(seconds(20));
  EXPECT_TRUE(s.ok()) << s.message();  // the shim exited 0, as the provider
  EXPECT_EQ(Record(), (std::vector<std::string>{R"(hello {"role":"main"})",
                                                R"(list_backups {"vmid":null})", "shutdown null"}));
}

TEST_F(FaultShimTest, CrashKillsTheProviderGroupAndExits3) {
  options_.crash = {"backup_container"};
  auto c = Client();
  auto r = c->Call("hello", json::object(), seconds(20));
  ASSERT_TRUE(r.ok()) << r.status().message();
  int provider = (*r)["pid"], child = (*r)["child"];
  auto crash = c->Call("backup_container", {{"vmid", "101"}}, seconds(20));
  ASSERT_FALSE(crash.ok());
  EXPECT_EQ(crash.status().message(),
            "provider 't' (shim) exited unexpectedly during 'backup_container' (exited with code "
            "3)");
  EXPECT_TRUE(GoneSoon(provider));
  EXPECT_TRUE(GoneSoon(child));
  EXPECT_EQ(Record().back(), R"(backup_container {"vmid":"101"})");
}

TEST_F(FaultShimTest, CrashOutsideASessionKillsOnlyTheProvidersGroup) {
  // The shim does not lead a group here: the provider gets one of its own,
  // and the crash kills that group, not this test's.
  options_.crash = {"job_init"};
  auto c = Client(/*own_session=*/false);
  auto r = c->Call("hello", json::object(), seconds(20));
  ASSERT_TRUE(r.ok()) << r.status().message();
  int child = (*r)["child"];
  auto crash = c->Call("job_init", json::object(), seconds(20));
  ASSERT_FALSE(crash.ok());
  EXPECT_NE(crash.status().message().find("exited with code 3"), std::string::npos);
  EXPECT_TRUE(GoneSoon(child));
}

TEST_F(FaultShimTest, HangTimesOutAndTheGroupKillTakesTheProvider) {
  options_.hang = {"backup_container"};
  auto c = Client();
  auto r = c->Call("hello", json::object(), seconds(20));
  ASSERT_TRUE(r.ok()) << r.status().message();
  int provider = (*r)["pid"];
  auto hang = c->Call("backup_container", json::object(), seconds(1));
  ASSERT_FALSE(hang.ok());
  EXPECT_EQ(hang.status().code(), Code::kDeadlineExceeded);
  EXPECT_FALSE(obs_.Has("handling backup_container"));  // the provider's output is dropped
  c.reset();                                            // closes stdin, kills the instance's group
  EXPECT_TRUE(GoneSoon(provider));
  EXPECT_EQ(Record().back(), "backup_container {}");
}

TEST_F(FaultShimTest, HangOutlivesTheEndOfItsInput) {
  options_.hang = {"backup_container"};
  sys::Subprocess shim = Shim();
  const std::string req = R"({"jsonrpc":"2.0","id":1,"method":"backup_container","params":{}})"
                          "\n"
                          R"({"jsonrpc":"2.0","id":2,"method":"shutdown"})"
                          "\n";
  ASSERT_TRUE(sys::WriteAll(shim.stdin_fd().get(), req, "shim").ok());
  shim.stdin_fd().Reset();
  auto st = shim.WaitFor(std::chrono::milliseconds(1500));
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->has_value()) << "the hanging shim exited";
  // Nothing after the hang is relayed or recorded.
  EXPECT_EQ(Record(), std::vector<std::string>{"backup_container {}"});
  shim.KillAndReap();
}

TEST_F(FaultShimTest, GarbageReplacesTheAnswerAfterRelayedNotifications) {
  options_.garbage = {"list_backups"};
  auto c = Client();
  ASSERT_TRUE(c->Call("hello", json::object(), seconds(20)).ok());
  auto r = c->Call("list_backups", json::object(), seconds(20));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "provider 't' (shim) wrote an invalid message: 'this is not JSON' during "
            "'list_backups'");
  EXPECT_TRUE(obs_.Has("handling list_backups"));
  EXPECT_FALSE(c->alive());
}

TEST_F(FaultShimTest, OnceFaultsOnlyTheFirstInstance) {
  options_.crash = {"backup_cleanup"};
  options_.once = dir_ + "/once";
  auto first = Client();
  ASSERT_TRUE(first->Call("hello", json::object(), seconds(20)).ok());
  auto crash = first->Call("backup_cleanup", {{"success", true}}, seconds(20));
  ASSERT_FALSE(crash.ok());
  EXPECT_NE(crash.status().message().find("exited with code 3"), std::string::npos);
  // A new main instance: the same method now reaches the provider.
  auto second = Client();
  ASSERT_TRUE(second->Call("hello", json::object(), seconds(20)).ok());
  auto r = second->Call("backup_cleanup", {{"success", false}}, seconds(20));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)["method"], "backup_cleanup");
  EXPECT_TRUE(second->Shutdown(seconds(20)).ok());
  auto rec = Record();
  EXPECT_NE(std::find(rec.begin(), rec.end(), R"(backup_cleanup {"success":false})"), rec.end());
  EXPECT_EQ(*sys::ReadFile(options_.once), "backup_cleanup\n");
}

TEST_F(FaultShimTest, AProviderThatCannotStartIsReported) {
  options_.command = {dir_ + "/no-such-provider"};
  sys::Subprocess shim = Shim();
  auto st = shim.Wait();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(WEXITSTATUS(*st), 127);
}

}  // namespace
}  // namespace ctdump::providertest

namespace ctdump::providertest {
namespace {

class LogLines : public Observer {
 public:
  void Log(LogLevel, std::string_view m) noexcept override { lines.emplace_back(m); }
  std::vector<std::string> lines;
};

// A pid that ran and is gone (reaped).
pid_t DeadPid() {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

TEST(RemoveStaleFaultDirsTest, RemovesOnlyTheDirectoriesOfKitsNoLongerRunning) {
  auto parent = sys::MakeTempDir("/tmp/fault_dirs_test.");
  ASSERT_TRUE(parent.ok());
  const std::string p = *parent;
  auto mk = [&](const std::string& name) {
    std::string d = p + "/" + name;
    EXPECT_EQ(::mkdir(d.c_str(), 0755), 0) << d;
    EXPECT_TRUE(sys::WriteFileAtomic(d + "/provider.sh", "#!/bin/sh\n", 0755).ok());
    return d;
  };
  const std::string dead = mk(fmt::format("ctdump-pt-{}-fault.AbC123", DeadPid()));
  const std::string alive = mk(fmt::format("ctdump-pt-{}-fault.XyZ789", ::getpid()));
  const std::string other = mk(fmt::format("ctdump-pt-{}-other.AbC123", DeadPid()));
  // A symlink of the name is not followed (nor removed).
  const std::string link = p + fmt::format("/ctdump-pt-{}-fault.LnK000", DeadPid());
  ASSERT_EQ(::symlink(other.c_str(), link.c_str()), 0);
  LogLines log;
  EXPECT_EQ(RemoveStaleFaultDirs(p, &log), 1u);
  EXPECT_FALSE(sys::PathExists(dead));
  EXPECT_TRUE(sys::PathExists(alive + "/provider.sh"));
  EXPECT_TRUE(sys::PathExists(other + "/provider.sh"));
  EXPECT_TRUE(sys::PathExists(link));
  ASSERT_EQ(log.lines.size(), 1u);
  EXPECT_NE(log.lines[0].find(dead), std::string::npos) << log.lines[0];
  EXPECT_EQ(RemoveStaleFaultDirs(p + "/missing", &log), 0u);
  EXPECT_TRUE(sys::RemoveTree(p).ok());
}

}  // namespace
}  // namespace ctdump::providertest
