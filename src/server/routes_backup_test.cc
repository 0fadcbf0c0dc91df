// The routes that start backups, restores and deletions as tasks and change
// notes and protection: the vzdump -> `ctdump backup` mapping (a table), the
// restore command, volumes and owners, permission denials (403 naming path
// and privilege) through a real api::Router, notes and protection on a dir
// storage, and (Root) real tasks with the ctdump binary: a failing backup's
// status and log, an abort, a delete with `delay`.
#include "server/routes_backup.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/router.h"
#include "server/route_test_util.h"
#include "server/routes.h"
#include "sys/file.h"
#include "tasks/task_status.h"
#include "tasks/upid.h"

namespace ctdump::server {
namespace {

using nlohmann::json;

using testing::Answer;

const api::Caller kRoot{"root@pam", ""};
const api::Caller kAlice{"alice@pve", ""};
constexpr char kArchive[] = "vzdump-lxc-c1-2024_01_12-22_00_02.tar.zst";
constexpr char kArchive2[] = "vzdump-lxc-c1-2024_01_13-22_00_02.tar.zst";

class BackupRoutesTest : public testing::RouteTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(MakeRoot("/tmp/ctdump-routes-backup-"));
    for (const char* sub : {"/log", "/etc", "/lxc", "/dump", "/run", "/state", "/store/dump"})
      ASSERT_TRUE(sys::MakeDirs(root_ + sub, 0700).ok());
    ASSERT_TRUE(sys::WriteFileAtomic(root_ + "/etc/notifications.cfg", "").ok());
    WriteStorageCfg("");
    ctx_.node = tasks::ShortHostname();
    ctx_.program = "/nonexistent/ctdump";  // Root tests set the real one
    ctx_.global_args = {"--config-dir", root_ + "/etc", "--lxcpath", root_ + "/lxc"};
    std::vector<api::Route> routes = BackupRoutes(ctx_);
    for (api::Route& r : TaskRoutes(ctx_)) routes.push_back(std::move(r));
    ASSERT_NO_FATAL_FAILURE(MakeRouter(std::move(routes)));
  }
  void TearDown() override {
    for (const tasks::Upid& u : started_)
      if (tasks::IsRunning(u)) ::kill(-static_cast<pid_t>(u.pid), SIGKILL);
    RouteTest::TearDown();
  }

  void WriteStorageCfg(const std::string& extra) {
    ASSERT_TRUE(sys::WriteFileAtomic(root_ + "/etc/storage.cfg",
                                     "dir: local\n\tpath " + root_ + "/store\n" + extra)
                    .ok());
  }
  void AddArchive(const std::string& name) {
    ASSERT_TRUE(sys::WriteFileAtomic(root_ + "/store/dump/" + name, "not really zstd").ok());
  }

  // As the dispatcher, without the route's privileges (the handlers check them); a task it
  // starts is killed at the end.
  Answer Call(const char* method, const std::string& path, const std::string& body,
              const api::Caller& caller) {
    Answer sink = testing::CallRoute(*router_, method, path, body, caller);
    if (sink.status == 200 && sink.body["data"].is_string()) {
      auto u = tasks::DecodeUpid(sink.body["data"].get<std::string>());
      if (u.ok()) started_.push_back(*u);
    }
    return sink;
  }

  std::vector<tasks::Upid> started_;
};

std::vector<std::string> Args(const json& params) {
  auto c = MakeVzdumpCommand(params);
  if (auto* e = std::get_if<api::ParamErrors>(&c)) {
    ADD_FAILURE() << json(*e).dump();
    return {};
  }
  return std::get<VzdumpCommand>(c).args;
}

TEST(BackupRoutesMappingTest, VzdumpParametersBecomeBackupOptions) {
  struct Case {
    json params;
    std::vector<std::string> args;
  };
  std::vector<Case> cases = {
      {{{"vmid", "c1"}, {"storage", "local"}}, {"backup", "--storage=local", "c1"}},
      {{{"vmid", "c1,c2 c3"}, {"mode", "stop"}}, {"backup", "--mode=stop", "c1", "c2", "c3"}},
      {{{"all", true}, {"compress", "zstd"}, {"zstd", 0}},
       {"backup", "--all", "--compress=zstd", "--zstd=0"}},
      {{{"exclude", "a,b"}}, {"backup", "--all", "--exclude=a", "--exclude=b"}},
      {{{"vmid", "c1"}, {"dumpdir", "/d"}, {"tmpdir", "/t"}, {"script", "/s"}},
       {"backup", "--dumpdir=/d", "--tmpdir=/t", "--script=/s", "c1"}},
      {{{"vmid", "c1"}, {"bwlimit", 1024}, {"ionice", 8}, {"lockwait", 5}, {"stopwait", 2}},
       {"backup", "--bwlimit=1024", "--ionice=8", "--lockwait=5", "--stopwait=2", "c1"}},
      {{{"vmid", "c1"}, {"stdexcludes", false}, {"quiet", true}, {"remove", false}},
       {"backup", "--stdexcludes=0", "--quiet=1", "--remove=0", "c1"}},
      {{{"vmid", "c1"}, {"exclude-path", json::array({"/tmp/?*", "-x"})}},
       {"backup", "--exclude-path=/tmp/?*", "--exclude-path=-x", "c1"}},
      {{{"vmid", "c1"}, {"exclude-path", "/var/cache"}},
       {"backup", "--exclude-path=/var/cache", "c1"}},
      {{{"vmid", "c1"},
        {"storage", "s"},
        {"prune-backups", "keep-last=3"},
        {"notes-template", "{{guestname}}"},
        {"protected", true}},
       {"backup", "--storage=s", "--prune-backups=keep-last=3", "--notes-template={{guestname}}",
        "--protected=1", "c1"}},
      {{{"vmid", "c1"},
        {"mailto", "a@b.c"},
        {"mailnotification", "failure"},
        {"notification-mode", "legacy-sendmail"}},
       {"backup", "--mailto=a@b.c", "--mailnotification=failure",
        "--notification-mode=legacy-sendmail", "c1"}},
      {{{"vmid", "c1"}, {"force-full", true}}, {"backup", "--force-full", "c1"}},
      {{{"vmid", "c1"}, {"force-full", false}}, {"backup", "c1"}},
      // Accepted and ignored.
      {{{"vmid", "c1"},
        {"pigz", 4},
        {"performance", "max-workers=2"},
        {"fleecing", "enabled=1"},
        {"pbs-change-detection-mode", "data"},
        {"stop", true}},
       {"backup", "c1"}},
  };
  for (const Case& c : cases) EXPECT_EQ(Args(c.params), c.args) << c.params.dump();
  auto ignored = std::get<VzdumpCommand>(MakeVzdumpCommand({{"all", true}, {"pigz", 1}}));
  EXPECT_EQ(ignored.ignored, std::vector<std::string>{"pigz"});
  EXPECT_TRUE(ignored.all);
}

TEST(BackupRoutesMappingTest, VzdumpConflictsAsPve) {
  struct Case {
    json params;
    std::string param, message;
  };
  for (const Case& c : std::vector<Case>{
           {json::object(), "vmid", "property is missing and it is not optional"},
           {{{"vmid", "c1"}, {"all", true}}, "all", "option conflicts with option 'vmid'"},
           {{{"vmid", "c1"}, {"exclude", "c2"}}, "exclude", "option conflicts with option 'vmid'"},
           {{{"vmid", "c1"}, {"storage", "s"}, {"dumpdir", "/d"}},
            "dumpdir",
            "option conflicts with option 'storage'"},
           {{{"vmid", "c1"}, {"protected", true}},
            "storage",
            "missing property - 'protected' requires this property"},
       }) {
    auto r = MakeVzdumpCommand(c.params);
    ASSERT_TRUE(std::holds_alternative<api::ParamErrors>(r)) << c.params.dump();
    EXPECT_EQ(std::get<api::ParamErrors>(r).at(c.param), c.message) << c.params.dump();
  }
}

TEST(BackupRoutesMappingTest, RestoreCommand) {
  json p = {
      {"vmid", "new"},         {"ostemplate", "x"},
      {"restore", true},       {"start", true},
      {"unique", true},        {"force", false},
      {"unprivileged", false}, {"hostname", "h.example"},
      {"bwlimit", 1024.7},     {"idmap", json::array({"u 0 100000 65536", "g 0 100000 65536"})}};
  EXPECT_EQ(MakeRestoreCommand(p, "local:" + std::string(kArchive)),
            (std::vector<std::string>{"restore", "--start", "--unique", "--unprivileged=0",
                                      "--hostname=h.example", "--bwlimit=1024",
                                      "--idmap=u 0 100000 65536", "--idmap=g 0 100000 65536",
                                      "local:" + std::string(kArchive), "new"}));
}

TEST(BackupRoutesMappingTest, VolumesAndOwners) {
  struct Case {
    std::string type, volume, volname;
  };
  for (const Case& c : std::vector<Case>{
           {"dir", "local:backup/vzdump-lxc-c1-x.tar", "vzdump-lxc-c1-x.tar"},
           {"dir", "backup/vzdump-lxc-c1-x.tar", "vzdump-lxc-c1-x.tar"},
           {"dir", "vzdump-lxc-c1-x.tar", "vzdump-lxc-c1-x.tar"},
           {"datastore", "backup/ct/c1/2024-01-12T22_00_02Z", "ct/c1/2024-01-12T22_00_02Z"},
           {"datastore", "local:ct/c1/2024-01-12T22_00_02Z", "ct/c1/2024-01-12T22_00_02Z"},
           {"provider", "local:backup/a:b", "a:b"},
           {"provider", "a:b", "a:b"},
       }) {
    auto v = ResolveVolume("local", c.type, c.volume);
    ASSERT_TRUE(std::holds_alternative<BackupVolume>(v)) << c.volume;
    EXPECT_EQ(std::get<BackupVolume>(v).storage, "local");
    EXPECT_EQ(std::get<BackupVolume>(v).volname, c.volname) << c.volume;
  }
  auto mismatch = ResolveVolume("local", "dir", "other:backup/x");
  ASSERT_TRUE(std::holds_alternative<api::ApiError>(mismatch));
  EXPECT_EQ(std::get<api::ApiError>(mismatch).errors.at("volume"),
            "volume 'other:backup/x' is not on storage 'local'");

  EXPECT_EQ(BackupOwner(kArchive), "c1");
  EXPECT_EQ(BackupOwner("vzdump-lxc-my-ct-2024_01_12-22_00_02.tar"), "my-ct");
  EXPECT_EQ(BackupOwner("ct/web/2024-01-12T22:00:02Z"), "web");
  EXPECT_EQ(BackupOwner("vzdump-qemu-100-2024_01_12-22_00_02.vma.zst"), std::nullopt);
  EXPECT_EQ(BackupOwner("vzdump-lxc-c1-2024_01_12-22_00_02.tar.zst.notes"), std::nullopt);
  EXPECT_EQ(BackupOwner("ct/a/b/c"), std::nullopt);
  EXPECT_EQ(BackupOwner("ct//b"), std::nullopt);
  EXPECT_EQ(BackupOwner("ct/a/"), std::nullopt);
  EXPECT_EQ(BackupOwner("vzdump-lxc--2024_01_12-22_00_02.tar"), std::nullopt);
  EXPECT_EQ(BackupOwner("vzdump-lxc-c1-2024_01_12-22_00_0x.tar"), std::nullopt);
  EXPECT_EQ(BackupOwner("vzdump-lxc-c1-2024_01_12-22_00_02.tar.xz"), std::nullopt);
  EXPECT_EQ(BackupOwner("vzdump-lxc-" + std::string(8000, 'a') + ".tar"), std::nullopt);
}

TEST_F(BackupRoutesTest, VzdumpSchemaRefusalsAndPrivilegedParams) {
  for (const char* refused : {"pool=x", "stdout=1", "job-id=x", "maxfiles=1"}) {
    Answer s = Call("POST", "/nodes/localhost/vzdump", std::string("vmid=c1&") + refused, kRoot);
    EXPECT_EQ(s.status, 400) << refused;
  }
  grants_ = {"alice@pve /vms/c1 VM.Backup"};
  Answer s = Call("POST", "/nodes/localhost/vzdump", "vmid=c1&dumpdir=/x", kAlice);
  EXPECT_EQ(s.status, 400);
  EXPECT_EQ(s.body["errors"]["dumpdir"], "Only root may set this option.");
}

TEST_F(BackupRoutesTest, VzdumpPermissionDenials) {
  struct Case {
    std::set<std::string> grants;
    std::string body, reason;
  };
  const std::string vms = "alice@pve /vms/c1 VM.Backup";
  const std::string space = "alice@pve /storage/local Datastore.AllocateSpace";
  for (const Case& c : std::vector<Case>{
           {{}, "vmid=c1&storage=local", "Permission check failed (/vms/c1, VM.Backup)"},
           {{vms}, "vmid=c1,c2&storage=local", "Permission check failed (/vms/c2, VM.Backup)"},
           {{vms},
            "vmid=c1&storage=local",
            "Permission check failed (/storage/local, Datastore.AllocateSpace)"},
           {{vms}, "all=1&storage=local", "Permission check failed (/vms, VM.Backup)"},
           {{vms}, "exclude=c2&storage=local", "Permission check failed (/vms, VM.Backup)"},
           {{vms, space},
            "vmid=c1&storage=local&prune-backups=keep-last%3D1",
            "Permission check failed (/storage/local, Datastore.Allocate)"},
           {{vms, space},
            "vmid=c1&storage=local&bwlimit=10",
            "Permission check failed (/, Sys.Modify)"},
           {{vms, space},
            "vmid=c1&storage=local&ionice=1",
            "Permission check failed (/, Sys.Modify)"},
       }) {
    grants_ = c.grants;
    Answer s = Call("POST", "/nodes/localhost/vzdump", c.body, kAlice);
    EXPECT_EQ(s.status, 403) << c.body;
    EXPECT_EQ(s.reason, c.reason) << c.body;
  }
  // Without a storage: ctdump.conf's is the one checked.
  ASSERT_TRUE(sys::WriteFileAtomic(root_ + "/etc/ctdump.conf", "storage: local\n").ok());
  grants_ = {vms};
  EXPECT_EQ(Call("POST", "/nodes/localhost/vzdump", "vmid=c1", kAlice).reason,
            "Permission check failed (/storage/local, Datastore.AllocateSpace)");
  // Everything granted: the spawn is what fails (no binary here).
  grants_ = {vms, space};
  EXPECT_EQ(Call("POST", "/nodes/localhost/vzdump", "vmid=c1&storage=local", kAlice).status, 500);
  Answer unknown = Call("POST", "/nodes/localhost/vzdump", "vmid=c1&storage=nope", kAlice);
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.body["errors"]["storage"], "storage 'nope' does not exist");
}

TEST_F(BackupRoutesTest, RestoreChecks) {
  const std::string vol = std::string("local:backup/") + kArchive;
  struct Case {
    std::string body;
    int status;
    std::string what;  // the error's parameter, or the 403's reason
  };
  ASSERT_TRUE(sys::MakeDirs(root_ + "/lxc/old/rootfs").ok());
  grants_ = {"alice@pve /vms/new VM.Allocate", "alice@pve /vms/old VM.Allocate"};
  for (const Case& c : std::vector<Case>{
           {"vmid=new&ostemplate=" + vol, 400, "restore"},
           {"vmid=new&restore=1&ostemplate=-", 400, "ostemplate"},
           {"vmid=new&restore=1&ostemplate=nocolon", 400, "ostemplate"},
           {"vmid=new&restore=1&ostemplate=nope:x", 400, "ostemplate"},
           {"vmid=other&restore=1&ostemplate=" + vol, 403,
            "Permission check failed (/vms/other, VM.Allocate)"},
           {"vmid=new&restore=1&ostemplate=" + vol, 403,
            "Permission check failed (/storage/local, Datastore.AllocateSpace)"},
           {"vmid=new&restore=1&rootfs=/x&ostemplate=" + vol, 400, "rootfs"},  // root only
           {"vmid=new&restore=1&idmap=u+0+1&ostemplate=" + vol, 400, "idmap"},
       }) {
    Answer s = Call("POST", "/nodes/localhost/lxc", c.body, kAlice);
    EXPECT_EQ(s.status, c.status) << c.body << " " << s.body.dump();
    if (c.status == 403)
      EXPECT_EQ(s.reason, c.what) << c.body;
    else
      EXPECT_TRUE(s.body["errors"].contains(c.what)) << c.body << " " << s.body.dump();
  }
  grants_.insert("alice@pve /storage/local Datastore.Allocate");
  Answer exists =
      Call("POST", "/nodes/localhost/lxc", "vmid=old&restore=1&ostemplate=" + vol, kAlice);
  EXPECT_EQ(exists.status, 400);
  EXPECT_EQ(exists.body["errors"]["vmid"], "CT old already exists on node '" + ctx_.node + "'");
}

TEST_F(BackupRoutesTest, ContentPutSetsNotesAndProtection) {
  AddArchive(kArchive);
  AddArchive(kArchive2);
  const std::string base = "/nodes/localhost/storage/local/content/";
  // The owner's VM.Backup is needed beside Datastore.AllocateSpace.
  grants_ = {"alice@pve /storage/local Datastore.AllocateSpace"};
  Answer denied = Call("PUT", base + "local:backup/" + kArchive, "notes=x", kAlice);
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.reason, "Permission check failed (/vms/c1, VM.Backup)");
  grants_.clear();
  EXPECT_EQ(Call("PUT", base + kArchive, "notes=x", kAlice).reason,
            "Permission check failed (/storage/local, Datastore.AllocateSpace)");
  grants_ = {"alice@pve /storage/local Datastore.AllocateSpace", "alice@pve /vms/c1 VM.Backup"};

  Answer notes = Call("PUT", base + "local:backup/" + kArchive, "notes=first+line", kAlice);
  ASSERT_EQ(notes.status, 200) << notes.body.dump();
  EXPECT_TRUE(notes.body["data"].is_null());
  auto text = sys::ReadFile(root_ + "/store/dump/" + kArchive + ".notes");
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("first line"), std::string::npos);
  EXPECT_EQ(Call("PUT", base + "backup/" + kArchive, "protected=1", kAlice).status, 200);
  EXPECT_TRUE(sys::PathExists(root_ + "/store/dump/" + kArchive + ".protected"));

  // max-protected-backups: one per guest; the protected one may stay so.
  WriteStorageCfg("\tmax-protected-backups 1\n");
  Answer limit = Call("PUT", base + kArchive2, "protected=1", kAlice);
  EXPECT_EQ(limit.status, 400);
  EXPECT_EQ(limit.reason,
            "The number of protected backups per guest is limited to 1 on storage 'local'");
  EXPECT_EQ(Call("PUT", base + kArchive, "protected=1", kAlice).status, 200);
  EXPECT_EQ(Call("PUT", base + kArchive, "protected=0", kAlice).status, 200);
  EXPECT_FALSE(sys::PathExists(root_ + "/store/dump/" + kArchive + ".protected"));

  Answer missing = Call("PUT", base + "vzdump-lxc-c1-2020_01_01-00_00_00.tar", "notes=x", kRoot);
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(Call("PUT", base + "other:" + kArchive, "notes=x", kRoot).status, 400);
  EXPECT_EQ(Call("PUT", "/nodes/localhost/storage/nope/content/x", "notes=x", kRoot).status, 400);
}

TEST_F(BackupRoutesTest, ContentDeleteChecksTheVolume) {
  AddArchive(kArchive);
  grants_ = {"alice@pve /storage/local Datastore.AllocateSpace"};
  Answer s =
      Call("DELETE", "/nodes/localhost/storage/local/content/" + std::string(kArchive), "", kAlice);
  EXPECT_EQ(s.reason, "Permission check failed (/vms/c1, VM.Backup)");
  // An unknown owner (not a built-in name) needs Datastore.Allocate.
  s = Call("DELETE", "/nodes/localhost/storage/local/content/other-name", "", kAlice);
  EXPECT_EQ(s.reason, "Permission check failed (/storage/local, Datastore.Allocate)");
  EXPECT_EQ(Call("DELETE", "/nodes/localhost/storage/local/content/x", "delay=31", kRoot).status,
            400);
}

// Root: real tasks with the ctdump binary.
class BackupRoutesRootTest : public BackupRoutesTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (backup refuses to run otherwise)";
    BackupRoutesTest::SetUp();
    ctx_.program = CTDUMP_BIN;
  }

  json TaskStatus(const std::string& upid) {
    return Call("GET", "/nodes/localhost/tasks/" + upid + "/status", "", kRoot).body["data"];
  }
  // Waits until the task stopped; its exit status.
  std::string WaitStopped(const std::string& upid, int seconds = 60) {
    for (int i = 0; i < seconds * 20; ++i) {
      json s = TaskStatus(upid);
      if (s["status"] == "stopped") return s["exitstatus"];
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "task still running: " << upid;
    return "";
  }
  std::string Log(const std::string& upid) {
    json lines =
        Call("GET", "/nodes/localhost/tasks/" + upid + "/log", "limit=0", kRoot).body["data"];
    std::string text;
    for (const json& l : lines) text += l["t"].get<std::string>() + "\n";
    return text;
  }
};

TEST_F(BackupRoutesRootTest, RootFailedBackupStatusAndLog) {
  Answer s = Call("POST", "/nodes/localhost/vzdump",
                  "vmid=nosuch&pigz=2&stop=1&dumpdir=" + root_ + "/dump", kRoot);
  ASSERT_EQ(s.status, 200) << s.body.dump();
  std::string upid = s.body["data"];
  auto u = tasks::DecodeUpid(upid);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->type, "vzdump");
  EXPECT_EQ(u->id, "nosuch");
  EXPECT_EQ(u->user, "root@pam");
  EXPECT_EQ(WaitStopped(upid), "job errors") << Log(upid);
  std::string log = Log(upid);
  EXPECT_NE(log.find("ERROR: Backup of VM nosuch failed"), std::string::npos) << log;
  EXPECT_NE(log.find("TASK ERROR: job errors"), std::string::npos) << log;
  // PVE's parameters that mean nothing for ctdump are named, first.
  EXPECT_TRUE(
      log.starts_with("INFO: ignoring parameters (accepted for PVE's clients, not used "
                      "for containers by ctdump): pigz, stop\n"))
      << log;
  Answer list = Call("GET", "/nodes/localhost/tasks", "errors=1&typefilter=vzdump", kRoot);
  ASSERT_EQ(list.body["total"], 1);
  EXPECT_EQ(list.body["data"][0]["status"], "job errors");
}

TEST_F(BackupRoutesRootTest, RootAbortRunningTask) {
  std::string hook = root_ + "/hook.sh", pidfile = root_ + "/hook.pid";
  ASSERT_TRUE(sys::WriteFileAtomic(hook,
                                   "#!/bin/sh\n[ -e " + pidfile + " ] && exit 0\necho $$ >" +
                                       pidfile + ".tmp\nmv " + pidfile + ".tmp " + pidfile +
                                       "\nexec sleep 120\n",
                                   0755)
                  .ok());
  Answer s = Call("POST", "/nodes/localhost/vzdump",
                  "vmid=nosuch&dumpdir=" + root_ + "/dump&script=" + hook, kRoot);
  ASSERT_EQ(s.status, 200) << s.body.dump();
  std::string upid = s.body["data"];
  for (int i = 0; i < 600 && !sys::PathExists(pidfile); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(sys::PathExists(pidfile)) << Log(upid);
  EXPECT_EQ(TaskStatus(upid)["status"], "running");
  EXPECT_EQ(Call("DELETE", "/nodes/localhost/tasks/" + upid, "", kAlice).status, 403);
  Answer abort = Call("DELETE", "/nodes/localhost/tasks/" + upid, "", kRoot);
  EXPECT_EQ(abort.status, 200);
  EXPECT_EQ(WaitStopped(upid, 30), "interrupted by signal") << Log(upid);
}

TEST_F(BackupRoutesRootTest, RootRestoreTaskRunsTheRestore) {
  AddArchive(kArchive);  // not an archive: the restore fails, after parsing every option
  Answer s = Call("POST", "/nodes/localhost/lxc",
                  "vmid=new&restore=1&ostemplate=local:backup/" + std::string(kArchive) +
                      "&unique=1&hostname=h1&unprivileged=1&bwlimit=1000&storage=local-lvm"
                      "&idmap=u+0+200000+65536&idmap=g+0+200000+65536",
                  kRoot);
  ASSERT_EQ(s.status, 200) << s.body.dump();
  std::string upid = s.body["data"];
  auto u = tasks::DecodeUpid(upid);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->type, "vzrestore");
  EXPECT_EQ(u->id, "new");
  std::string status = WaitStopped(upid);
  EXPECT_EQ(status.rfind("restore failed", 0), 0u) << status << "\n" << Log(upid);
  EXPECT_FALSE(sys::PathExists(root_ + "/lxc/new/config"));
}

TEST_F(BackupRoutesRootTest, RootDeleteWithDelay) {
  AddArchive(kArchive);
  AddArchive(kArchive2);
  ASSERT_TRUE(sys::WriteFileAtomic(root_ + "/store/dump/" + kArchive + ".protected", "").ok());
  const std::string base = "/nodes/localhost/storage/local/content/local:backup/";
  Answer refused = Call("DELETE", base + kArchive, "delay=20", kRoot);
  EXPECT_EQ(refused.status, 500);
  EXPECT_NE(refused.reason.find("protected"), std::string::npos) << refused.reason;
  EXPECT_TRUE(sys::PathExists(root_ + "/store/dump/" + kArchive));

  Answer done = Call("DELETE", base + kArchive2, "delay=20", kRoot);
  EXPECT_EQ(done.status, 200) << done.body.dump();
  EXPECT_TRUE(done.body["data"].is_null());
  EXPECT_FALSE(sys::PathExists(root_ + "/store/dump/" + kArchive2));
  json tasks = Call("GET", "/nodes/localhost/tasks", "typefilter=imgdel", kRoot).body["data"];
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0]["id"], "c1@local");

  // Without delay: the UPID at once.
  AddArchive(kArchive2);
  Answer upid = Call("DELETE", base + kArchive2, "", kRoot);
  ASSERT_EQ(upid.status, 200);
  ASSERT_TRUE(upid.body["data"].is_string());
  EXPECT_EQ(WaitStopped(upid.body["data"]), "OK");
}

}  // namespace
}  // namespace ctdump::server
