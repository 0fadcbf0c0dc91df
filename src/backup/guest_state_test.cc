#include "backup/guest_state.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "sys/file.h"

namespace ctdump::backup {
namespace {

class GuestStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = sys::MakeTempDir("/tmp/guest-state-test.");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
  }
  void TearDown() override { ASSERT_TRUE(sys::RemoveTree(dir_).ok()); }
  void WriteRaw(const std::string& vmid, const std::string& text) {
    ASSERT_TRUE(sys::MakeDirs(dir_ + "/guests").ok());
    std::ofstream(dir_ + "/guests/" + vmid + ".json") << text;
  }
  static GuestRecord Sample(const std::string& vmid) {
    GuestRecord r;
    r.vmid = vmid;
    r.time = 1764145379;
    r.storage = "local";
    r.job_id = "nightly";
    r.result = GuestOutcome::kOk;
    r.archive = "ct/web/2025-11-26T08_22_59Z";
    r.size = 123456789;
    r.logical_bytes = 987654321;
    r.seconds = 42;
    return r;
  }
  std::string dir_;
};

TEST_F(GuestStateTest, RoundTrip) {
  GuestRecord ok = Sample("web");
  GuestRecord failed = Sample("db");
  failed.result = GuestOutcome::kError;
  failed.message = "could not get storage information for 'x': \"quoted\"\nsecond line";
  failed.size.reset();
  failed.logical_bytes.reset();
  failed.archive.clear();
  failed.job_id.clear();
  failed.storage.clear();
  failed.dumpdir = "/srv/dumps";
  GuestRecord warned = Sample("app.1");
  warned.result = GuestOutcome::kWarning;
  warned.warnings = 3;
  for (const auto& r : {ok, failed, warned}) {
    ASSERT_TRUE(WriteGuestRecord(dir_, r).ok());
    auto back = ReadGuestRecord(dir_, r.vmid);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, r);
  }
  // Replaced, not appended.
  ok.result = GuestOutcome::kError;
  ok.message = "boom";
  ASSERT_TRUE(WriteGuestRecord(dir_, ok).ok());
  EXPECT_EQ(*ReadGuestRecord(dir_, "web"), ok);
  std::vector<std::string> problems;
  auto all = ReadGuestRecords(dir_, &problems);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(problems.empty());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].vmid, "app.1");
  EXPECT_EQ((*all)[1].vmid, "db");
  EXPECT_EQ((*all)[2].vmid, "web");
  // Nothing else is left in the directory (no temporaries).
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_ + "/guests"))
    ++files;
  EXPECT_EQ(files, 3u);
}

TEST_F(GuestStateTest, MissingIsNotFoundAndNoDirectoryIsNoRecords) {
  EXPECT_EQ(ReadGuestRecord(dir_, "web").status().code(), Code::kNotFound);
  std::vector<std::string> problems;
  auto all = ReadGuestRecords(dir_ + "/nothing-here", &problems);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
}

TEST_F(GuestStateTest, CorruptRecordsAreProblemsNamingTheFile) {
  ASSERT_TRUE(WriteGuestRecord(dir_, Sample("good")).ok());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"trunc", R"({"vmid":"trunc","time":1,"res)"},
      {"array", "[1,2,3]"},
      {"notime", R"({"vmid":"notime","result":"ok"})"},
      {"result", R"({"vmid":"result","time":1,"result":"great"})"},
      {"other", R"({"vmid":"someone-else","time":1,"result":"ok"})"},
      {"types", R"({"vmid":"types","time":1,"result":"ok","message":5})"},
      {"empty", ""},
  };
  for (const auto& [vmid, text] : bad) {
    WriteRaw(vmid, text);
    auto r = ReadGuestRecord(dir_, vmid);
    ASSERT_FALSE(r.ok()) << vmid;
    EXPECT_EQ(r.status().code(), Code::kDataLoss) << vmid;
    EXPECT_NE(r.status().message().find(dir_ + "/guests/" + vmid + ".json"), std::string::npos)
        << r.status().message();
  }
  // A directory, a FIFO and an oversized file in a record's place.
  ASSERT_TRUE(sys::MakeDirs(dir_ + "/guests/dir.json").ok());
  ASSERT_EQ(::mkfifo((dir_ + "/guests/fifo.json").c_str(), 0600), 0);
  WriteRaw("huge", std::string(kMaxGuestRecordSize + 1, ' '));
  for (const char* vmid : {"dir", "fifo", "huge"})
    EXPECT_EQ(ReadGuestRecord(dir_, vmid).status().code(), Code::kDataLoss) << vmid;
  std::vector<std::string> problems;
  auto all = ReadGuestRecords(dir_, &problems);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].vmid, "good");
  EXPECT_EQ(problems.size(), bad.size() + 3);
}

TEST_F(GuestStateTest, RemoveForgetsOneContainer) {
  ASSERT_TRUE(WriteGuestRecord(dir_, Sample("web")).ok());
  ASSERT_TRUE(WriteGuestRecord(dir_, Sample("wbe")).ok());
  ASSERT_TRUE(RemoveGuestRecord(dir_, "wbe").ok());
  EXPECT_EQ(ReadGuestRecord(dir_, "wbe").status().code(), Code::kNotFound);
  std::vector<std::string> problems;
  auto all = ReadGuestRecords(dir_, &problems);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].vmid, "web");
  Status again = RemoveGuestRecord(dir_, "wbe");
  EXPECT_EQ(again.code(), Code::kNotFound);
  EXPECT_NE(again.message().find(dir_ + "/guests/wbe.json"), std::string::npos) << again.message();
  EXPECT_EQ(RemoveGuestRecord(dir_, "../web").code(), Code::kInvalidArgument);
  EXPECT_TRUE(ReadGuestRecord(dir_, "web").ok());
}

TEST_F(GuestStateTest, NamesThatCannotBeFilesAreRefused) {
  for (const char* vmid : {"", ".hidden", "a/b", ".."}) {
    GuestRecord r = Sample(vmid);
    EXPECT_EQ(WriteGuestRecord(dir_, r).code(), Code::kInvalidArgument) << vmid;
  }
}

TEST_F(GuestStateTest, UnwritableDirectoryIsAnError) {
  std::ofstream(dir_ + "/file") << "x";
  EXPECT_FALSE(WriteGuestRecord(dir_ + "/file", Sample("web")).ok());
}

TEST(GuestRecordsOfTest, OneRecordPerSelectedContainer) {
  ResolvedJobOptions o;
  o.vmids = {"a", "b", "c"};
  o.storage = "pbs";
  o.job_id = "j1";
  JobResult r;
  GuestResult a;
  a.vmid = "a";
  a.archive = "ct/a/x";
  a.size = 10;
  a.seconds = 5;
  GuestResult b;
  b.vmid = "b";
  b.status = IOError("disk full");
  b.warnings = 1;
  r.guests = {a, b};
  r.status = CancelledError("interrupted by signal");
  auto recs = GuestRecordsOf(o, r, 1000);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].result, GuestOutcome::kOk);
  EXPECT_EQ(recs[0].archive, "ct/a/x");
  EXPECT_EQ(recs[0].size, 10u);
  EXPECT_EQ(recs[0].seconds, 5);
  EXPECT_EQ(recs[0].job_id, "j1");
  EXPECT_EQ(recs[0].storage, "pbs");
  EXPECT_EQ(recs[0].time, 1000);
  EXPECT_EQ(recs[1].result, GuestOutcome::kError);
  EXPECT_EQ(recs[1].message, "disk full");
  EXPECT_EQ(recs[2].result, GuestOutcome::kError);
  EXPECT_EQ(recs[2].message,
            "the backup job failed before this container's backup: interrupted by signal");
  // Warnings without an error.
  r.guests[1].status = Status::OK();
  EXPECT_EQ(GuestRecordsOf(o, r, 1000)[1].result, GuestOutcome::kWarning);
}

TEST_F(GuestStateTest, JobFailureBeforeTheJobRecordsEachNamedContainer) {
  RecordJobFailure(dir_, {"web,db", "app"}, "pbs", "nightly",
                   InvalidArgumentError("compress: 'zip' is not a compression"), nullptr);
  for (const char* vmid : {"web", "db", "app"}) {
    auto r = ReadGuestRecord(dir_, vmid);
    ASSERT_TRUE(r.ok()) << vmid;
    EXPECT_EQ(r->result, GuestOutcome::kError);
    EXPECT_EQ(r->storage, "pbs");
    EXPECT_EQ(r->job_id, "nightly");
    EXPECT_EQ(r->message,
              "the backup job failed before it started: compress: 'zip' is not a compression");
  }
  // A name that cannot be a file is a warning, the others are written.
  struct Warnings : Observer {
    std::vector<std::string> lines;
    void Log(LogLevel, std::string_view m) noexcept override { lines.emplace_back(m); }
  } log;
  RecordJobFailure(dir_, {"../x", "ok1"}, "", "", InternalError("x"), &log);
  EXPECT_TRUE(ReadGuestRecord(dir_, "ok1").ok());
  ASSERT_EQ(log.lines.size(), 1u);
  EXPECT_EQ(log.lines[0].rfind("could not record the result of container '../x'", 0), 0u)
      << log.lines[0];
}

}  // namespace
}  // namespace ctdump::backup
