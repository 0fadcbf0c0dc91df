// The task routes through a real api::Router on a task directory the tests
// write themselves: ownership (a user owns its tokens' tasks), the list's
// filters and total, status, the log's paging and download, abort, and PVE's
// 400s for bad and unknown UPIDs.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "api/router.h"
#include "server/route_test_util.h"
#include "server/routes.h"
#include "sys/file.h"
#include "tasks/task_dir.h"
#include "tasks/upid.h"

namespace ctdump::server {
namespace {

using nlohmann::json;

using testing::Answer;

class TaskRoutesTest : public testing::RouteTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(MakeRoot("/tmp/ctdump-routes-tasks-"));
    ctx_.node = "n1";
    ASSERT_NO_FATAL_FAILURE(MakeRouter(TaskRoutes(ctx_)));
    ASSERT_TRUE(tasks::TaskDir(ctx_.paths.log_dir).Prepare().ok());
  }

  // An ended task with `log` as its log and `status` in the index.
  std::string AddTask(uint32_t starttime, std::string type, std::string id, std::string user,
                      const std::string& status, const std::string& log = "") {
    tasks::Upid u{"n1",          1000 + starttime % 1000, 123456789, starttime, std::move(type),
                  std::move(id), std::move(user)};
    tasks::TaskDir dir(ctx_.paths.log_dir);
    auto fd = dir.CreateLog(u);
    EXPECT_TRUE(fd.ok());
    EXPECT_TRUE(sys::WriteAll(fd->get(), log, "log").ok());
    std::string index = root_ + "/log/tasks/index";
    auto old = sys::ReadFile(index);
    std::string text = old.ok() ? *old : "";
    text += tasks::FormatIndexLine(u, starttime + 10, status) + "\n";
    EXPECT_TRUE(sys::WriteFileAtomic(index, text).ok());
    return tasks::EncodeUpid(u);
  }

  Answer Call(const char* method, const std::string& path, const std::string& query,
              const api::Caller& caller) {
    return testing::CallRoute(*router_, method, path, query, caller);
  }

  std::vector<std::string> Upids(const Answer& s) {
    std::vector<std::string> v;
    for (const auto& e : s.body["data"]) v.push_back(e["upid"]);
    return v;
  }
};

const api::Caller kRoot{"root@pam", ""};
const api::Caller kAlice{"alice@pve", ""};
const api::Caller kAliceToken{"alice@pve", "ci"};
const api::Caller kBob{"bob@pve", ""};

TEST_F(TaskRoutesTest, ListShowsOwnTasksAndTokensSplit) {
  std::string r = AddTask(100, "vzdump", "c1", "root@pam", "OK");
  std::string a = AddTask(200, "vzdump", "c2", "alice@pve", "OK");
  std::string t = AddTask(300, "imgdel", "c2@local", "alice@pve!ci", "OK");
  std::string b = AddTask(400, "vzrestore", "c3", "bob@pve", "OK");
  // Newest first; a user owns its tokens' tasks, a token only its own.
  EXPECT_EQ(Upids(Call("GET", "/nodes/n1/tasks", "", kAlice)), (std::vector{t, a}));
  EXPECT_EQ(Call("GET", "/nodes/n1/tasks", "", kAlice).body["total"], 2);
  EXPECT_EQ(Upids(Call("GET", "/nodes/n1/tasks", "", kAliceToken)), (std::vector{t}));
  EXPECT_EQ(Upids(Call("GET", "/nodes/localhost/tasks", "", kRoot)), (std::vector{b, t, a, r}));
  EXPECT_TRUE(Upids(Call("GET", "/nodes/n1/tasks", "", kBob)) == (std::vector{b}));
  grants_.insert("bob@pve /nodes/n1 Sys.Audit");
  Answer all = Call("GET", "/nodes/n1/tasks", "", kBob);
  EXPECT_EQ(all.body["total"], 4);
  const json& token_task = all.body["data"][1];
  EXPECT_EQ(token_task["user"], "alice@pve");
  EXPECT_EQ(token_task["tokenid"], "ci");
  EXPECT_EQ(token_task["id"], "c2@local");
  EXPECT_EQ(token_task["type"], "imgdel");
  EXPECT_EQ(token_task["node"], "n1");
  EXPECT_EQ(token_task["starttime"], 300);
  EXPECT_EQ(token_task["endtime"], 310);
  EXPECT_EQ(token_task["pstart"], 123456789);
  EXPECT_EQ(token_task["status"], "OK");
  EXPECT_FALSE(all.body["data"][0].contains("tokenid"));
}

TEST_F(TaskRoutesTest, ListFiltersAndWindow) {
  std::string t1 = AddTask(100, "vzdump", "c1", "root@pam", "OK");
  std::string t2 = AddTask(200, "vzdump", "c2", "root@pam", "job errors");
  std::string t3 = AddTask(300, "imgdel", "c1@local", "alice@pve", "WARNINGS: 2");
  std::string t4 = AddTask(400, "vzdump", "c1", "alice@pve!ci", "unexpected status");
  struct Case {
    std::string query;
    std::vector<std::string> upids;
    int total;
  };
  for (const Case& c : std::vector<Case>{
           {"", {t4, t3, t2, t1}, 4},
           {"typefilter=vzdump", {t4, t2, t1}, 3},
           {"vmid=c1", {t4, t1}, 2},
           {"errors=1", {t4, t3, t2}, 3},
           {"userfilter=ALICE", {t4, t3}, 2},
           {"statusfilter=ok,warning", {t3, t1}, 2},
           {"statusfilter=error", {t2}, 1},
           {"statusfilter=unknown", {t4}, 1},
           {"since=200&until=300", {t3, t2}, 2},
           {"start=1&limit=2", {t3, t2}, 4},
           {"limit=0", {}, 4},
           {"source=active", {}, 0},
           {"source=all&typefilter=imgdel", {t3}, 1},
       }) {
    Answer s = Call("GET", "/nodes/n1/tasks", c.query, kRoot);
    ASSERT_EQ(s.status, 200) << c.query << " " << s.body.dump();
    EXPECT_EQ(Upids(s), c.upids) << c.query;
    EXPECT_EQ(s.body["total"], c.total) << c.query;
  }
  Answer bad = Call("GET", "/nodes/n1/tasks", "source=nope", kRoot);
  EXPECT_EQ(bad.status, 400);
}

TEST_F(TaskRoutesTest, StatusIndexAndPveErrors) {
  std::string a =
      AddTask(200, "vzdump", "c2", "alice@pve", "job errors", "INFO: x\nTASK ERROR: job errors\n");
  Answer s = Call("GET", "/nodes/n1/tasks/" + a + "/status", "", kAlice);
  ASSERT_EQ(s.status, 200) << s.body.dump();
  EXPECT_EQ(s.body["data"]["status"], "stopped");
  EXPECT_EQ(s.body["data"]["exitstatus"], "job errors");
  EXPECT_EQ(s.body["data"]["upid"], a);
  EXPECT_EQ(s.body["data"]["user"], "alice@pve");
  Answer index = Call("GET", "/nodes/n1/tasks/" + a, "", kAliceToken);
  EXPECT_EQ(index.status, 403);  // a token does not own its user's tasks
  index = Call("GET", "/nodes/n1/tasks/" + a, "", kAlice);
  EXPECT_EQ(index.body["data"], json::parse(R"([{"name":"log"},{"name":"status"}])"));

  Answer denied = Call("GET", "/nodes/n1/tasks/" + a + "/status", "", kBob);
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.reason, "Permission check failed (/nodes/n1, Sys.Audit)");
  grants_.insert("bob@pve /nodes/n1 Sys.Audit");
  EXPECT_EQ(Call("GET", "/nodes/n1/tasks/" + a + "/status", "", kBob).status, 200);

  Answer bad = Call("GET", "/nodes/n1/tasks/UPID:nope/status", "", kRoot);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body["errors"]["upid"], "unable to parse worker upid");
  EXPECT_EQ(Call("GET", "/nodes/n1/tasks/UPID:n1:" + std::string(300, 'A') + "/status", "", kRoot)
                .body["errors"]["upid"],
            "unable to parse worker upid");
  std::string unknown = "UPID:n1:00000001:00000002:00000003:vzdump:c1:root@pam:";
  Answer none = Call("GET", "/nodes/n1/tasks/" + unknown + "/log", "", kRoot);
  EXPECT_EQ(none.status, 400);
  EXPECT_EQ(none.body["errors"]["upid"], "no such task");
  std::string other = a;
  other.replace(5, 2, "n2");  // another node's UPID
  EXPECT_EQ(Call("GET", "/nodes/n1/tasks/" + other + "/status", "", kRoot).status, 400);
}

TEST_F(TaskRoutesTest, LogPagesAndDownloads) {
  std::string log;
  for (int i = 1; i <= 120; ++i) log += "line " + std::to_string(i) + "\n";
  log += "TASK OK\n";
  std::string a = AddTask(200, "vzdump", "c2", "alice@pve", "OK", log);
  std::string path = "/nodes/n1/tasks/" + a + "/log";
  Answer first = Call("GET", path, "", kAlice);
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.body["total"], 121);
  ASSERT_EQ(first.body["data"].size(), 50u);  // PVE's default limit
  EXPECT_EQ(first.body["data"][0], json::parse(R"({"n":1,"t":"line 1"})"));
  Answer page = Call("GET", path, "start=119&limit=5", kAlice);
  EXPECT_EQ(page.body["data"],
            json::parse(R"([{"n":120,"t":"line 120"},{"n":121,"t":"TASK OK"}])"));
  EXPECT_EQ(Call("GET", path, "limit=0", kAlice).body["data"].size(), 121u);
  Answer download = Call("GET", path, "download=1", kAlice);
  EXPECT_EQ(download.head.content_type, "text/plain");
  EXPECT_EQ(download.bytes, log);
  EXPECT_TRUE(download.end.ok());
  EXPECT_EQ(Call("GET", path, "download=1", kBob).status, 403);

  std::string empty = AddTask(300, "vzdump", "c2", "alice@pve", "OK");
  Answer e = Call("GET", "/nodes/n1/tasks/" + empty + "/log", "", kAlice);
  EXPECT_EQ(e.body["data"], json::parse(R"([{"n":1,"t":"no content"}])"));
  EXPECT_EQ(e.body["total"], 1);
}

TEST_F(TaskRoutesTest, AbortNeedsOwnerOrSysModify) {
  std::string a = AddTask(200, "vzdump", "c2", "alice@pve!ci", "OK");
  std::string path = "/nodes/n1/tasks/" + a;
  grants_.insert("bob@pve /nodes/n1 Sys.Audit");
  Answer denied = Call("DELETE", path, "", kBob);
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.reason, "Permission check failed (/nodes/n1, Sys.Modify)");
  // A stopped task is left alone; the answer is null.
  Answer owner = Call("DELETE", path, "", kAlice);
  EXPECT_EQ(owner.status, 200);
  EXPECT_TRUE(owner.body["data"].is_null());
  grants_.insert("bob@pve /nodes/n1 Sys.Modify");
  EXPECT_EQ(Call("DELETE", path, "", kBob).status, 200);
  EXPECT_EQ(Call("DELETE", "/nodes/n1/tasks/UPID:x", "", kRoot).status, 400);
}

}  // namespace
}  // namespace ctdump::server
