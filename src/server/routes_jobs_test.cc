// The job and notification routes through a real api::Router with a
// recording sink: /cluster/backup CRUD keeping jobs.cfg's comments, next-run,
// PVE's errors, permission denials, /ctdump/jobs, notification targets and a
// test send to an unknown target.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "api/router.h"
#include "server/route_test_util.h"
#include "server/routes.h"
#include "sys/file.h"

namespace ctdump::server {
namespace {

using nlohmann::json;

using testing::Answer;

const api::Caller kRoot{"root@pam", ""};
const api::Caller kOperator{"op@pam", ""};

constexpr char kJobsCfg[] =
    "# managed by hand too\n"
    "vzdump: nightly\n"
    "\tschedule 02:00\n"
    "\t# only the web server\n"
    "\tvmid web\n"
    "\tstorage local\n"
    "\tprune-backups keep-last=3\n"
    "\n"
    "verify: weekly\n"
    "\tstorage store\n"
    "\tschedule sat 04:00\n";

class JobRoutesTest : public testing::RouteTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(MakeRoot("/tmp/ctdump-routes-jobs-"));
    for (const char* sub : {"/log", "/etc", "/lxc", "/run", "/state"})
      ASSERT_TRUE(sys::MakeDirs(root_ + sub, 0700).ok());
    ASSERT_TRUE(sys::WriteFileAtomic(Cfg(), kJobsCfg).ok());
    ctx_.node = "localhost";
    ASSERT_NO_FATAL_FAILURE(MakeRouter(JobRoutes(ctx_)));
  }
  std::string Cfg() const { return root_ + "/etc/jobs.cfg"; }
  std::string Text() const {
    auto t = sys::ReadFile(Cfg());
    return t.ok() ? *t : "";
  }

  // As the dispatcher, the route's privileges (kPrivs) included.
  Answer Call(const char* method, const std::string& path, const std::string& body = "",
              const api::Caller& caller = kRoot) {
    return testing::CallRoute(*router_, method, path, body, caller, &ctx_.allowed);
  }
};

TEST_F(JobRoutesTest, ListHasPveShapeAndNextRun) {
  Answer s = Call("GET", "/cluster/backup");
  ASSERT_EQ(s.status, 200) << s.body.dump();
  ASSERT_EQ(s.body["data"].size(), 1u) << s.body.dump();  // vzdump jobs only
  const json& j = s.body["data"][0];
  EXPECT_EQ(j["id"], "nightly");
  EXPECT_EQ(j["type"], "vzdump");
  EXPECT_EQ(j["schedule"], "02:00");
  EXPECT_EQ(j["enabled"], 1);
  EXPECT_EQ(j["vmid"], "web");
  EXPECT_EQ(j["prune-backups"], json({{"keep-last", "3"}}));
  ASSERT_TRUE(j["next-run"].is_number_integer());
  EXPECT_GT(j["next-run"].get<int64_t>(), ::time(nullptr));
  EXPECT_LE(j["next-run"].get<int64_t>(), ::time(nullptr) + 86400 + 3600);

  Answer one = Call("GET", "/cluster/backup/nightly");
  ASSERT_EQ(one.status, 200);
  EXPECT_FALSE(one.body["data"].contains("next-run"));
  EXPECT_EQ(one.body["data"]["storage"], "local");
}

TEST_F(JobRoutesTest, CreateUpdateDeleteKeepComments) {
  Answer c = Call("POST", "/cluster/backup",
                  "id=web2&schedule=21%3A00&all=1&exclude=db&mode=stop&protected=1"
                  "&storage=local&comment=all+but+db");
  ASSERT_EQ(c.status, 200) << c.body.dump();
  EXPECT_TRUE(c.body["data"].is_null());
  std::string text = Text();
  EXPECT_EQ(text.substr(0, sizeof(kJobsCfg) - 1), kJobsCfg);
  EXPECT_NE(text.find("\nvzdump: web2\n\tschedule 21:00\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\tprotected 1\n"), std::string::npos) << text;

  // vmid replaces all and exclude; delete removes a key.
  Answer u = Call("PUT", "/cluster/backup/web2", "vmid=web&delete=comment,protected");
  ASSERT_EQ(u.status, 200) << u.body.dump();
  Answer g = Call("GET", "/cluster/backup/web2");
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(g.body["data"]["vmid"], "web");
  for (const char* gone : {"all", "exclude", "comment", "protected"})
    EXPECT_FALSE(g.body["data"].contains(gone)) << gone;
  EXPECT_EQ(g.body["data"]["mode"], "stop");

  // Editing another job keeps the comment inside it.
  ASSERT_EQ(Call("PUT", "/cluster/backup/nightly", "schedule=03%3A00").status, 200);
  EXPECT_NE(Text().find("\tschedule 03:00\n\t# only the web server\n\tvmid web\n"),
            std::string::npos)
      << Text();

  ASSERT_EQ(Call("DELETE", "/cluster/backup/web2").status, 200);
  std::string after = Text();
  EXPECT_EQ(after, std::string(kJobsCfg).replace(std::string(kJobsCfg).find("02:00"), 5, "03:00"));
}

TEST_F(JobRoutesTest, GeneratedId) {
  Answer c = Call("POST", "/cluster/backup", "schedule=daily&vmid=web");
  ASSERT_EQ(c.status, 200) << c.body.dump();
  Answer l = Call("GET", "/cluster/backup");
  ASSERT_EQ(l.body["data"].size(), 2u);
  std::string id = l.body["data"][1]["id"];
  ASSERT_EQ(id.size(), std::string("backup-01234567-89ab").size()) << id;
  EXPECT_TRUE(id.starts_with("backup-"));
  EXPECT_EQ(id[15], '-');
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 7), 15u);
}

TEST_F(JobRoutesTest, ErrorsAsPve) {
  struct Case {
    const char* method;
    std::string path, body, param, message;
  };
  for (const Case& c : std::vector<Case>{
           {"GET", "/cluster/backup/nope", "", "id", "No such job 'nope'"},
           {"PUT", "/cluster/backup/nope", "schedule=1%3A00", "id", "No such job 'nope'"},
           {"DELETE", "/cluster/backup/nope", "", "id", "No such job 'nope'"},
           {"DELETE", "/cluster/backup/weekly", "", "id", "No such job 'weekly'"},  // not vzdump
           {"POST", "/cluster/backup", "id=nightly&schedule=1%3A00&all=1", "id",
            "Job 'nightly' already exists"},
           {"POST", "/cluster/backup", "id=weekly&schedule=1%3A00&all=1", "id",
            "Job 'weekly' already exists"},
           {"POST", "/cluster/backup", "schedule=1%3A00", "vmid",
            "property is missing and it is not optional"},
           {"POST", "/cluster/backup", "schedule=1%3A00&vmid=a&all=1", "all",
            "option conflicts with option 'vmid'"},
           {"POST", "/cluster/backup", "schedule=soon&all=1", "schedule", ""},
           {"PUT", "/cluster/backup/nightly", "delete=schedule", "id", "no schedule given"},
           {"PUT", "/cluster/backup/nightly", "delete=mode&mode=stop", "delete",
            "cannot set and delete property 'mode' at the same time"},
           {"PUT", "/cluster/backup/nightly", "delete=bogus", "delete", "unknown option 'bogus'"},
       }) {
    Answer s = Call(c.method, c.path, c.body);
    EXPECT_EQ(s.status, 400) << c.method << " " << c.path << " " << c.body << ": " << s.body.dump();
    ASSERT_TRUE(s.body["errors"].contains(c.param)) << c.body << ": " << s.body.dump();
    EXPECT_NE(s.body["errors"][c.param].get<std::string>().find(c.message), std::string::npos)
        << c.body << ": " << s.body.dump();
  }
  EXPECT_EQ(Text(), kJobsCfg);
}

TEST_F(JobRoutesTest, Permissions) {
  // Reading needs Sys.Audit on /.
  EXPECT_EQ(Call("GET", "/cluster/backup", "", kOperator).status, 403);
  grants_.insert("op@pam / Sys.Audit");
  EXPECT_EQ(Call("GET", "/cluster/backup", "", kOperator).status, 200);
  EXPECT_EQ(Call("GET", "/ctdump/jobs", "", kOperator).status, 200);
  // Writing: Sys.Modify on /, then Datastore.Allocate on the job's storage.
  const std::string body = "id=xx&schedule=1%3A00&all=1&storage=local";
  EXPECT_EQ(Call("POST", "/cluster/backup", body, kOperator).status, 403);
  EXPECT_EQ(Call("DELETE", "/cluster/backup/nightly", "", kOperator).status, 403);
  grants_.insert("op@pam / Sys.Modify");
  Answer s = Call("POST", "/cluster/backup", body, kOperator);
  EXPECT_EQ(s.status, 403);
  EXPECT_NE(s.body["message"].get<std::string>().find("/storage/local"), std::string::npos);
  EXPECT_EQ(Call("DELETE", "/cluster/backup/nightly", "", kOperator).status, 403);
  grants_.insert("op@pam /storage/local Datastore.Allocate");
  EXPECT_EQ(Call("POST", "/cluster/backup", body, kOperator).status, 200);
  // script, dumpdir, tmpdir: root only.
  EXPECT_EQ(Call("PUT", "/cluster/backup/xx", "script=%2Fbin%2Ftrue", kOperator).status, 400);
  EXPECT_EQ(Call("DELETE", "/cluster/backup/nightly", "", kOperator).status, 200);
}

TEST_F(JobRoutesTest, AllJobsWithState) {
  ASSERT_TRUE(sys::MakeDirs(root_ + "/state/jobs", 0700).ok());
  ASSERT_TRUE(sys::WriteFileAtomic(root_ + "/state/jobs/verify-weekly.json",
                                   R"({"last-start":1700000000,"last-end":1700000100,)"
                                   R"("result":"ok"})")
                  .ok());
  Answer s = Call("GET", "/ctdump/jobs");
  ASSERT_EQ(s.status, 200) << s.body.dump();
  ASSERT_EQ(s.body["data"].size(), 2u);
  const json& v = s.body["data"][1];
  EXPECT_EQ(v["type"], "verify");
  EXPECT_EQ(v["id"], "weekly");
  EXPECT_TRUE(v.contains("next-run"));
  EXPECT_EQ(v["result"], "ok") << v.dump();
  EXPECT_EQ(s.body["data"][0]["result"], "-");
}

TEST_F(JobRoutesTest, IndexesAndTargets) {
  Answer c = Call("GET", "/cluster");
  ASSERT_EQ(c.status, 200);
  EXPECT_EQ(c.body["data"], json::parse(R"([{"subdir":"backup"},{"subdir":"notifications"}])"));
  ASSERT_TRUE(sys::WriteFileAtomic(root_ + "/etc/notifications.cfg",
                                   "webhook: hook\n\turl http://127.0.0.1:9/x\n\tmethod post\n"
                                   "\tcomment the hook\n\n"
                                   "sendmail: mail\n\tmailto root@example.com\n\tdisable 1\n")
                  .ok());
  ASSERT_TRUE(sys::MakeDirs(root_ + "/etc/priv", 0700).ok());
  ASSERT_TRUE(sys::WriteFileAtomic(root_ + "/etc/priv/notifications.cfg",
                                   "webhook: hook\n\tsecret name=token,value=c2VjcmV0\n")
                  .ok());
  Answer t = Call("GET", "/cluster/notifications/targets");
  ASSERT_EQ(t.status, 200) << t.body.dump();
  EXPECT_EQ(t.body["data"], json::parse(R"([
      {"name":"hook","type":"webhook","comment":"the hook","disable":0,"origin":"user-created"},
      {"name":"mail","type":"sendmail","disable":1,"origin":"user-created"}])"));
  EXPECT_EQ(t.body.dump().find("c2VjcmV0"), std::string::npos);
  Answer u = Call("POST", "/cluster/notifications/targets/nope/test");
  EXPECT_EQ(u.status, 400);
  EXPECT_TRUE(u.body["errors"].contains("name")) << u.body.dump();
  // Mapping.Audit on /mapping/notifications lists, Mapping.Use tests.
  EXPECT_EQ(Call("GET", "/cluster/notifications/targets", "", kOperator).status, 403);
  grants_.insert("op@pam /mapping/notifications Mapping.Audit");
  EXPECT_EQ(Call("GET", "/cluster/notifications/targets", "", kOperator).status, 200);
  EXPECT_EQ(Call("POST", "/cluster/notifications/targets/nope/test", "", kOperator).status, 403);
  grants_.insert("op@pam /mapping/notifications Mapping.Use");
  EXPECT_EQ(Call("POST", "/cluster/notifications/targets/nope/test", "", kOperator).status, 400);
}

}  // namespace
}  // namespace ctdump::server
