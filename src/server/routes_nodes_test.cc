// GET /nodes and the container endpoints, called through a real api::Router
// with a recording sink, on a temporary lxcpath of stopped containers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "api/router.h"
#include "backup/guest_state.h"
#include "server/route_test_util.h"
#include "server/routes.h"
#include "sys/file.h"
#include "sys/lock_file.h"
#include "sys/subprocess.h"

namespace ctdump::server {
namespace {

using json = nlohmann::json;

using testing::Answer;

class NodeRoutesTest : public testing::RouteTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(MakeRoot("/tmp/ctdump-routes-nodes."));
    ctx_.node = "n1";
    ctx_.ssl_fingerprint = "AB:CD:EF";
    for (const char* ct : {"100", "web", "0100", "ctdump-rt-1-1"}) AddContainer(ct);
    ASSERT_NO_FATAL_FAILURE(MakeRouter(NodeRoutes(ctx_)));
  }

  void AddContainer(const std::string& ct, const std::string& extra = "") {
    std::string dir = ctx_.paths.lxcpath + "/" + ct;
    ASSERT_TRUE(sys::MakeDirs(dir + "/rootfs").ok());
    std::string config = "lxc.rootfs.path = dir:" + dir + "/rootfs\n" + extra;
    if (ct == "web") config += "lxc.uts.name = www\nlxc.cgroup2.memory.max = 536870912\n";
    ASSERT_TRUE(sys::WriteFileAtomic(dir + "/config", config).ok());
  }

  // GET `path` as `user`; the router must accept it.
  Answer Call(const std::string& path, const std::string& query = "",
              const std::string& user = "root@pam") {
    Answer a = testing::CallRoute(*router_, "GET", path, query, {user, ""});
    EXPECT_TRUE(a.prepared) << path << ": " << a.reason;
    return a;
  }

  const api::Route& RouteOf(const std::string& path) {
    auto found = router_->Find("GET", path);
    EXPECT_TRUE(std::holds_alternative<api::Router::Match>(found)) << path;
    return *std::get<api::Router::Match>(found).route;
  }
};

TEST_F(NodeRoutesTest, NodesGivesThisNodeWithStatsOnlyForSysAudit) {
  Answer a = Call("/nodes");
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(a.body["data"].size(), 1u);
  const json& n = a.body["data"][0];
  EXPECT_EQ(n["node"], "n1");
  EXPECT_EQ(n["id"], "node/n1");
  EXPECT_EQ(n["type"], "node");
  EXPECT_EQ(n["status"], "online");
  EXPECT_EQ(n["level"], "");
  EXPECT_EQ(n["ssl_fingerprint"], "AB:CD:EF");
  EXPECT_TRUE(n["cpu"].is_number());
  EXPECT_GE(n["cpu"].get<double>(), 0.0);
  EXPECT_LE(n["cpu"].get<double>(), 1.0);
  EXPECT_GE(n["maxcpu"].get<int64_t>(), 1);
  EXPECT_GT(n["maxmem"].get<uint64_t>(), 0u);
  EXPECT_LE(n["mem"].get<uint64_t>(), n["maxmem"].get<uint64_t>());
  EXPECT_GT(n["maxdisk"].get<uint64_t>(), 0u);
  EXPECT_LE(n["disk"].get<uint64_t>(), n["maxdisk"].get<uint64_t>());
  EXPECT_GT(n["uptime"].get<int64_t>(), 0);
  // A second call measures the CPU since the first.
  EXPECT_TRUE(Call("/nodes").body["data"][0]["cpu"].is_number());

  Answer user = Call("/nodes", "", "alice@pve");
  const json& u = user.body["data"][0];
  EXPECT_EQ(u["node"], "n1");
  EXPECT_EQ(u["ssl_fingerprint"], "AB:CD:EF");
  for (const char* key : {"cpu", "maxcpu", "mem", "maxmem", "disk", "maxdisk", "uptime"})
    EXPECT_FALSE(u.contains(key)) << key;
  grants_.insert("alice@pve /nodes/n1 Sys.Audit");
  EXPECT_TRUE(Call("/nodes", "", "alice@pve").body["data"][0].contains("maxmem"));
}

TEST_F(NodeRoutesTest, LxcListShowsAuditableContainersWithPveFields) {
  backup::GuestRecord r;
  r.vmid = "100";
  r.time = 1705096802;
  r.storage = "local";
  r.result = backup::GuestOutcome::kOk;
  r.archive = "vzdump-lxc-100-2024_01_12-22_00_02.tar.zst";
  ASSERT_TRUE(backup::WriteGuestRecord(ctx_.paths.state_dir, r).ok());

  Answer a = Call("/nodes/n1/lxc");
  ASSERT_EQ(a.status, 200);
  std::map<std::string, json> by_vmid;
  for (const json& e : a.body["data"]) by_vmid[e["vmid"].dump()] = e;
  // Restore tests' throw-away containers are no guests.
  ASSERT_EQ(by_vmid.size(), 3u) << a.body.dump();
  ASSERT_TRUE(by_vmid.count("100"));       // a JSON integer
  ASSERT_TRUE(by_vmid.count("\"0100\""));  // leading zero: a string
  ASSERT_TRUE(by_vmid.count("\"web\""));
  EXPECT_TRUE(by_vmid["100"]["vmid"].is_number_integer());

  const json& e = by_vmid["100"];
  EXPECT_EQ(e["type"], "lxc");
  EXPECT_EQ(e["status"], "stopped");
  EXPECT_EQ(e["name"], "100");  // no lxc.uts.name: the container's name
  EXPECT_EQ(e["template"], 0);
  EXPECT_FALSE(e.contains("pid"));  // stopped
  EXPECT_FALSE(e.contains("lock"));
  for (const char* key : {"cpu", "mem", "swap", "uptime", "disk", "maxdisk", "netin", "netout",
                          "diskread", "diskwrite"})
    EXPECT_EQ(e[key], 0) << key;
  for (const char* key : {"pressurecpusome", "pressurecpufull", "pressureiosome", "pressureiofull",
                          "pressurememorysome", "pressurememoryfull"})
    EXPECT_TRUE(e[key].is_number()) << key;
  EXPECT_TRUE(e["cpus"].is_number_integer());
  EXPECT_GE(e["cpus"].get<int64_t>(), 1);
  EXPECT_GT(e["maxmem"].get<uint64_t>(), 0u);
  EXPECT_TRUE(e["maxswap"].is_number_integer());
  EXPECT_EQ(
      e["last-backup"],
      json({{"time", 1705096802}, {"result", "ok"}, {"storage", "local"}, {"archive", r.archive}}));

  const json& web = by_vmid["\"web\""];
  EXPECT_EQ(web["name"], "www");              // lxc.uts.name
  EXPECT_EQ(web["maxmem"], 536870912);        // the config's limit while stopped
  EXPECT_FALSE(web.contains("last-backup"));  // never backed up
}

TEST_F(NodeRoutesTest, LxcListHidesContainersWithoutVmAudit) {
  grants_.insert("alice@pve /vms/web VM.Audit");
  grants_.insert("alice@pve /vms/100 VM.Backup");  // not enough to see it
  Answer a = Call("/nodes/n1/lxc", "", "alice@pve");
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(a.body["data"].size(), 1u) << a.body.dump();
  EXPECT_EQ(a.body["data"][0]["vmid"], "web");
  EXPECT_EQ(Call("/nodes/n1/lxc", "", "bob@pve").body["data"], json::array());
}

TEST_F(NodeRoutesTest, LxcListShowsTheBackupLock) {
  ASSERT_TRUE(sys::MakeDirs(ctx_.paths.run_dir + "/lock").ok());
  auto lock = sys::LockFile::Acquire(ctx_.paths.run_dir + "/lock/lxc-web.lock",
                                     std::chrono::milliseconds(0), nullptr);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  Answer a = Call("/nodes/n1/lxc/web/status/current");
  EXPECT_EQ(a.body["data"]["lock"], "backup");
  EXPECT_FALSE(Call("/nodes/n1/lxc/100/status/current").body["data"].contains("lock"));
  lock->Release();
  EXPECT_FALSE(Call("/nodes/n1/lxc/web/status/current").body["data"].contains("lock"));
}

TEST_F(NodeRoutesTest, StatusCurrentIsTheEntryWithHa) {
  Answer a = Call("/nodes/localhost/lxc/web/status/current");
  ASSERT_EQ(a.status, 200) << a.reason;
  const json& d = a.body["data"];
  EXPECT_EQ(d["vmid"], "web");
  EXPECT_EQ(d["name"], "www");
  EXPECT_EQ(d["status"], "stopped");
  EXPECT_EQ(d["type"], "lxc");
  EXPECT_EQ(d["ha"], json({{"managed", 0}}));
  EXPECT_TRUE(Call("/nodes/n1/lxc/100/status/current").body["data"]["vmid"].is_number_integer());

  const api::Route& route = RouteOf("/nodes/n1/lxc/web/status/current");
  ASSERT_EQ(route.permission.kind, api::Permission::Kind::kPrivs);
  ASSERT_EQ(route.permission.any_of.size(), 1u);
  EXPECT_EQ(route.permission.any_of[0].path, "/vms/{vmid}");
  EXPECT_EQ(route.permission.any_of[0].privs, std::vector<std::string>{"VM.Audit"});
}

TEST_F(NodeRoutesTest, UnknownContainerIs400OnVmid) {
  for (const char* path :
       {"/nodes/n1/lxc/nope/status/current", "/nodes/n1/lxc/nope", "/nodes/n1/lxc/nope/status"}) {
    Answer a = Call(path);
    EXPECT_EQ(a.status, 400) << path;
    EXPECT_EQ(a.reason, "container 'nope' does not exist") << path;
    EXPECT_EQ(a.body["errors"]["vmid"], "container 'nope' does not exist") << path;
    EXPECT_TRUE(a.body["data"].is_null());
  }
}

TEST_F(NodeRoutesTest, Indexes) {
  EXPECT_EQ(Call("/nodes/n1").body["data"], json::parse(R"([{"subdir":"lxc"}])"));
  EXPECT_EQ(Call("/nodes/n1/lxc/web").body["data"], json::parse(R"([{"subdir":"status"}])"));
  EXPECT_EQ(Call("/nodes/n1/lxc/web/status").body["data"],
            json::parse(R"([{"subdir":"current"}])"));
}

TEST_F(NodeRoutesTest, ParametersAreDeclared) {
  // The dispatcher checks {node} and {vmid} against these formats.
  api::HttpRequest bad_vmid{.method = "GET", .path = "/nodes/n1/lxc/-x/status/current"};
  auto prepared = router_->Prepare(bad_vmid);
  ASSERT_TRUE(std::holds_alternative<api::ApiError>(prepared));
  EXPECT_EQ(std::get<api::ApiError>(prepared).errors.count("vmid"), 1u);
  api::HttpRequest bad_node{.method = "GET", .path = "/nodes/n_1/lxc"};
  prepared = router_->Prepare(bad_node);
  ASSERT_TRUE(std::holds_alternative<api::ApiError>(prepared));
  EXPECT_EQ(std::get<api::ApiError>(prepared).errors.count("node"), 1u);
}

// Root: the real containers of tests/realenv (set up here and torn down,
// or those of $CTDUMP_IT_ROOT when ctest's realenv fixture made them).
class NodeRoutesRootTest : public NodeRoutesTest {
 protected:
  // CMake gives the source tree's path (__FILE__ is relative under ccache's
  // CCACHE_BASEDIR, as in CI's fresh clones).
  static std::string Script(const std::string& name) {
    return std::string(CTDUMP_SOURCE_DIR) + "/tests/realenv/" + name;
  }
  static bool Run(std::vector<std::string> argv) {
    sys::SpawnOptions o;
    o.argv = std::move(argv);
    auto r = sys::RunCommand(o);
    EXPECT_TRUE(r.ok() && sys::ExitedOk(r->wait_status))
        << o.argv[0] << ": " << (r.ok() ? r->output : r.status().message());
    return r.ok() && sys::ExitedOk(r->wait_status);
  }
  void SetUp() override {
    NodeRoutesTest::SetUp();
    if (const char* it = std::getenv("CTDUMP_IT_ROOT")) {
      env_root_ = it;
    } else {
      env_root_ = "/tmp/ctdump-routes-it." + std::to_string(::getpid());  // not below root_ (0700)
      own_env_ = true;
      ASSERT_TRUE(Run({Script("setup.sh"), env_root_, "rn" + std::to_string(::getpid())}));
    }
    sys::SpawnOptions o;
    o.argv = {"bash", "-c", ". \"$1\"; printf '%s\\n%s\\n' \"$LXCPATH\" \"$CT_PRIV\"", "x",
              env_root_ + "/env.sh"};
    auto r = sys::RunCommand(o);
    ASSERT_TRUE(r.ok() && sys::ExitedOk(r->wait_status));
    std::istringstream in(r->output);
    std::getline(in, ctx_.paths.lxcpath);
    std::getline(in, ct_);
    auto router = api::Router::Create(NodeRoutes(ctx_));
    ASSERT_TRUE(router.ok());
    router_.emplace(std::move(*router));
  }
  void TearDown() override {
    if (own_env_) Run({Script("teardown.sh"), env_root_});
    NodeRoutesTest::TearDown();
  }

  std::string env_root_, ct_;
  bool own_env_ = false;
};

TEST_F(NodeRoutesRootTest, RootRunningContainerStats) {
  Answer first = Call("/nodes/n1/lxc/" + ct_ + "/status/current");
  ASSERT_EQ(first.status, 200) << first.reason;
  ::usleep(200000);
  Answer a = Call("/nodes/n1/lxc/" + ct_ + "/status/current");
  const json& d = a.body["data"];
  EXPECT_EQ(d["status"], "running") << d.dump();
  EXPECT_GT(d["pid"].get<int64_t>(), 1);
  EXPECT_GE(d["uptime"].get<int64_t>(), 0);
  EXPECT_GT(d["mem"].get<uint64_t>(), 0u);  // memory.current of its cgroup
  EXPECT_GE(d["maxmem"].get<uint64_t>(), d["mem"].get<uint64_t>());
  EXPECT_GE(d["cpus"].get<int64_t>(), 1);
  EXPECT_GE(d["cpu"].get<double>(), 0.0);
  EXPECT_LE(d["cpu"].get<double>(), 1.0);
  for (const char* key : {"netin", "netout", "diskread", "diskwrite", "swap", "maxswap"})
    EXPECT_TRUE(d[key].is_number_integer()) << key;
  EXPECT_EQ(d["ha"], json({{"managed", 0}}));

  bool listed = false;
  Answer list = Call("/nodes/n1/lxc");
  for (const json& e : list.body["data"])
    if (e["vmid"] == ct_) listed = e["status"] == "running";
  EXPECT_TRUE(listed) << list.body.dump();
}

}  // namespace
}  // namespace ctdump::server
