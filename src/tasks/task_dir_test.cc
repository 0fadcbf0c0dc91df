#include "tasks/task_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "sys/file.h"
#include "tasks/task_status.h"

namespace ctdump::tasks {
namespace {

// A filter with `set` applied to the defaults.
template <typename F>
TaskFilter Filter(F set) {
  TaskFilter f;
  set(f);
  return f;
}

TaskFilter Source(TaskFilter::Source source) {
  return Filter([&](TaskFilter& f) { f.source = source; });
}

class TaskDirTest : public testing::Test {
 protected:
  void SetUp() override {
    auto d = sys::MakeTempDir("/tmp/ctdump-taskdir-");
    ASSERT_TRUE(d.ok());
    tmp_ = *d;
    dir_ = std::make_unique<TaskDir>(tmp_);
    ASSERT_TRUE(dir_->Prepare().ok());
  }
  void TearDown() override { ASSERT_TRUE(sys::RemoveTree(tmp_).ok()); }

  // A task that is not running (pid above pid_max), with a log.
  Upid Ended(uint32_t start, std::string type = "vzdump", std::string id = "c1",
             std::string user = "root@pam") {
    Upid u{"node1", 0x7FFFFF00 + start % 64, 1, start, type, id, user};
    auto log = dir_->CreateLog(u);
    EXPECT_TRUE(log.ok()) << log.status().message();
    return u;
  }

  std::vector<uint32_t> Starts(const TaskFilter& f, uint64_t* total = nullptr) {
    auto l = dir_->List(f);
    EXPECT_TRUE(l.ok()) << l.status().message();
    std::vector<uint32_t> out;
    if (!l.ok()) return out;
    for (const auto& e : l->entries) out.push_back(e.upid.starttime);
    if (total) *total = l->total;
    return out;
  }

  std::string tmp_;
  std::unique_ptr<TaskDir> dir_;
};

TEST(TaskIndexTest, LineRoundTrip) {
  Upid u{"n", 1, 2, 3, "vzdump", "", "u@pve!t"};
  std::string line = FormatIndexLine(u, 0x65A1B2C3, "WARNINGS: 2");
  EXPECT_EQ(line, "UPID:n:00000001:00000002:00000003:vzdump::u@pve!t: 65A1B2C3 WARNINGS: 2");
  auto e = ParseIndexLine(line);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->upid, u);
  EXPECT_EQ(e->endtime, 0x65A1B2C3u);
  EXPECT_EQ(e->status, "WARNINGS: 2");
  for (const char* bad :
       {"", "UPID:n:00000001:00000002:00000003:t::u:",
        "UPID:n:00000001:00000002:00000003:t::u: 0000000 OK",
        "UPID:n:00000001:00000002:00000003:t::u: 0000000G OK",
        "UPID:n:00000001:00000002:00000003:t::u: 00000001 ", "garbage 00000001 OK"})
    EXPECT_FALSE(ParseIndexLine(bad).has_value()) << bad;
}

TEST(TaskIndexTest, StatusClasses) {
  EXPECT_EQ(StatusClass("OK"), "ok");
  EXPECT_EQ(StatusClass("WARNINGS: 3"), "warning");
  EXPECT_EQ(StatusClass("WARNINGS: x"), "error");
  EXPECT_EQ(StatusClass("job errors"), "error");
  EXPECT_EQ(StatusClass("unexpected status"), "unknown");
  EXPECT_EQ(StatusClass("RUNNING"), "running");
}

TEST_F(TaskDirTest, LayoutAndFinish) {
  Upid u = Ended(0x6500000A);
  EXPECT_EQ(dir_->LogPath(u), tmp_ + "/tasks/A/" + EncodeUpid(u));
  EXPECT_EQ(dir_->CreateLog(u).status().code(), Code::kAlreadyExists);
  ASSERT_TRUE(dir_->AddActive(u).ok());
  EXPECT_TRUE(sys::PathExists(dir_->ActivePath(u)));
  ASSERT_TRUE(dir_->Finish(u, 0x6500000F, "OK").ok());
  EXPECT_FALSE(sys::PathExists(dir_->ActivePath(u)));
  auto index = sys::ReadFile(tmp_ + "/tasks/index");
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(*index, EncodeUpid(u) + " 6500000F OK\n");
}

TEST_F(TaskDirTest, ListsNewestFirstWithFilters) {
  const struct {
    uint32_t start;
    const char* type;
    const char* id;
    const char* user;
    const char* status;
  } tasks[] = {
      {100, "vzdump", "c1", "root@pam", "OK"},
      {200, "vzdump", "c2", "backup@pve!ci", "WARNINGS: 1"},
      {300, "vzrestore", "c3", "root@pam", "job errors"},
      {400, "imgdel", "c1@s", "Backup@PVE", "unexpected status"},
      {500, "vzdump", "", "root@pam", "OK"},
  };
  for (const auto& t : tasks) {
    Upid u = Ended(t.start, t.type, t.id, t.user);
    ASSERT_TRUE(dir_->Finish(u, t.start + 1, t.status).ok());
  }
  using V = std::vector<uint32_t>;
  TaskFilter f;
  uint64_t total = 0;
  EXPECT_EQ(Starts(f, &total), V({500, 400, 300, 200, 100}));
  EXPECT_EQ(total, 5u);
  f.start = 1;
  f.limit = 2;
  EXPECT_EQ(Starts(f, &total), V({400, 300}));
  EXPECT_EQ(total, 5u);
  f.limit = 0;
  EXPECT_EQ(Starts(f, &total), V({}));
  EXPECT_EQ(total, 5u);

  const struct {
    TaskFilter f;
    V want;
  } cases[] = {
      {Filter([](TaskFilter& f) { f.userfilter = "backup@"; }),
       {400, 200}},  // case-insensitive substring
      {Filter([](TaskFilter& f) { f.userfilter = "!ci"; }), {200}},
      {Filter([](TaskFilter& f) { f.typefilter = "vzdump"; }), {500, 200, 100}},
      {Filter([](TaskFilter& f) { f.vmid = "c1"; }), {100}},
      {Filter([](TaskFilter& f) { f.errors = true; }), {400, 300, 200}},
      {Filter([](TaskFilter& f) {
         f.since = 200;
         f.until = 400;
       }),
       {400, 300, 200}},
      {Filter([](TaskFilter& f) { f.statusfilter = {"ok"}; }), {500, 100}},
      {Filter([](TaskFilter& f) {
         f.statusfilter = {"warning", "unknown"};
       }),
       {400, 200}},
      {Filter([](TaskFilter& f) { f.statusfilter = {"error"}; }), {300}},
      {Source(TaskFilter::Source::kActive), {}},
      {Filter([](TaskFilter& f) {
         f.typefilter = "vzrestore";
         f.source = TaskFilter::Source::kAll;
       }),
       {300}},
  };
  for (size_t i = 0; i < std::size(cases); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(Starts(cases[i].f, &total), cases[i].want);
    EXPECT_EQ(total, cases[i].want.size());
  }
}

TEST_F(TaskDirTest, RunningTasksAreActive) {
  auto pstart = ProcessStartTime(::getpid());
  ASSERT_TRUE(pstart.ok());
  Upid me{"node1", static_cast<uint32_t>(::getpid()), *pstart, 700, "vzdump", "c9", "root@pam"};
  ASSERT_TRUE(dir_->CreateLog(me).ok());
  ASSERT_TRUE(dir_->AddActive(me).ok());
  Upid old = Ended(100);
  ASSERT_TRUE(dir_->Finish(old, 101, "OK").ok());
  using V = std::vector<uint32_t>;
  EXPECT_EQ(Starts({}), V({100}));
  EXPECT_EQ(Starts(Source(TaskFilter::Source::kActive)), V({700}));
  EXPECT_EQ(Starts(Source(TaskFilter::Source::kAll)), V({700, 100}));
  auto l = dir_->List(Source(TaskFilter::Source::kActive));
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->entries.size(), 1u);
  EXPECT_EQ(l->entries[0].status, "RUNNING");
  EXPECT_FALSE(l->entries[0].endtime.has_value());
  EXPECT_TRUE(sys::PathExists(dir_->ActivePath(me)));  // not moved
  EXPECT_EQ(Starts(Filter([](TaskFilter& f) {
              f.source = TaskFilter::Source::kAll;
              f.statusfilter = {"ok"};
            })),
            V({100}));
}

TEST_F(TaskDirTest, StaleActiveEntriesMoveToTheIndex) {
  Upid killed = Ended(100);  // a SIGKILLed worker: no final line
  ASSERT_TRUE(dir_->AddActive(killed).ok());
  Upid ended = Ended(200);  // died after its final line, before its index line
  ASSERT_TRUE(dir_->AddActive(ended).ok());
  ASSERT_TRUE(sys::WriteFileAtomic(dir_->LogPath(ended), "INFO: x\nTASK ERROR: boom\n", 0640).ok());
  Upid both = Ended(300);  // died between its index line and removing active/
  ASSERT_TRUE(dir_->Finish(both, 301, "OK").ok());
  ASSERT_TRUE(dir_->AddActive(both).ok());

  auto l = dir_->List(Source(TaskFilter::Source::kAll));
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->total, 3u);
  EXPECT_EQ(l->entries[0].upid, ended);
  EXPECT_EQ(l->entries[0].status, "boom");
  EXPECT_EQ(l->entries[1].upid, killed);
  EXPECT_EQ(l->entries[1].status, "unexpected status");
  EXPECT_TRUE(l->entries[1].endtime.has_value());
  EXPECT_EQ(l->entries[2].upid, both);
  for (const Upid& u : {killed, ended, both}) EXPECT_FALSE(sys::PathExists(dir_->ActivePath(u)));
  // A second listing finds nothing more to move (no duplicates).
  auto again = dir_->List({});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->total, 3u);
}

TEST_F(TaskDirTest, RotatesTheIndex) {
  // First generation: these end up in index.1, then are dropped with it.
  std::vector<Upid> first;
  for (uint32_t i = 0; i <= kIndexMaxLines; ++i) {
    first.push_back(Ended(10000 + i));
    ASSERT_TRUE(dir_->Finish(first.back(), 1, "OK").ok());
  }
  EXPECT_FALSE(sys::PathExists(tmp_ + "/tasks/index"));
  EXPECT_TRUE(sys::PathExists(tmp_ + "/tasks/index.1"));
  for (const auto& u : first) EXPECT_TRUE(sys::PathExists(dir_->LogPath(u)));
  uint64_t total = 0;
  Starts({}, &total);
  EXPECT_EQ(total, kIndexMaxLines + 1);

  std::vector<Upid> second;
  for (uint32_t i = 0; i <= kIndexMaxLines; ++i) {
    second.push_back(Ended(20000 + i));
    ASSERT_TRUE(dir_->Finish(second.back(), 1, "OK").ok());
  }
  for (const auto& u : first) ASSERT_FALSE(sys::PathExists(dir_->LogPath(u))) << EncodeUpid(u);
  for (const auto& u : second) ASSERT_TRUE(sys::PathExists(dir_->LogPath(u)));
  auto l = dir_->List(Filter([](TaskFilter& f) { f.limit = 1; }));
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->total, kIndexMaxLines + 1);
  EXPECT_EQ(l->entries[0].upid, second.back());
}

}  // namespace
}  // namespace ctdump::tasks
