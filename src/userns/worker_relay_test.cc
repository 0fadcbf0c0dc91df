#include "userns/worker_relay.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace ctdump::userns {
namespace {

struct Recorder : public Observer {
  void Log(LogLevel level, std::string_view message) noexcept override {
    lines.emplace_back(level, std::string(message));
  }
  void OnProgress(const Progress& p) noexcept override { progress.push_back(p); }
  std::vector<std::pair<LogLevel, std::string>> lines;
  std::vector<Progress> progress;
};

// Runs `fn` as a forked worker writing the line protocol to fd 2.
Status Relay(const std::function<int()>& fn, Recorder* observer) {
  sys::SpawnOptions o;
  o.argv = {"test worker"};
  o.pipe_stdout = o.pipe_stderr = true;
  sys::SpawnHooks hooks;
  hooks.run = fn;
  auto proc = sys::Spawn(o, &hooks);
  if (!proc.ok()) return proc.status();
  return RelayWorker(*proc, "test worker", observer,
                     [](const char*, size_t) { return Status::OK(); });
}

// A file name may hold newlines and backslashes: a worker's warning naming
// it stays one message, exactly as sent (the renderer escapes it for show).
TEST(WorkerRelayTest, AMessageWithNewlinesStaysOneMessage) {
  const std::string name =
      "unable to read '/srv/a\x1b[2J\nINFO: cleared\\n\\\\x': Permission denied";
  Recorder r;
  Status s = Relay(
      [&name] {
        LineObserver obs(2);
        obs.Log(LogLevel::kWarn, name);
        obs.Log(LogLevel::kInfo, "second");
        return 0;
      },
      &r);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[0].first, LogLevel::kWarn);
  EXPECT_EQ(r.lines[0].second, name);
  EXPECT_EQ(r.lines[1].second, "second");
}

TEST(WorkerRelayTest, AnErrorWithNewlinesArrivesWhole) {
  Recorder r;
  Status s = Relay(
      [] {
        LineObserver obs(2);
        obs.SendError(DataLossError("bad\nname"));
        return 1;
      },
      &r);
  EXPECT_EQ(s.code(), Code::kDataLoss);
  EXPECT_EQ(s.message(), "bad\nname");
}

// Phase, totals and the current path (with spaces and newlines) cross the
// worker boundary unchanged.
TEST(WorkerRelayTest, ProgressArrivesWhole) {
  Progress sent;
  sent.bytes = 1234567;
  sent.files = 42;
  sent.total_bytes = 9999999;
  sent.phase = "rsync-final";
  sent.current = "/srv/a b\nc\n\\d";
  Progress bare;
  bare.bytes = 1;
  bare.total_files = 7;
  Recorder r;
  Status s = Relay(
      [&] {
        LineObserver obs(2);
        obs.OnProgress(sent);
        obs.OnProgress(bare);
        return 0;
      },
      &r);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(r.progress.size(), 2u);
  EXPECT_EQ(r.progress[0].bytes, sent.bytes);
  EXPECT_EQ(r.progress[0].files, sent.files);
  EXPECT_EQ(r.progress[0].total_bytes, sent.total_bytes);
  EXPECT_EQ(r.progress[0].total_files, std::nullopt);
  EXPECT_EQ(r.progress[0].phase, sent.phase);
  EXPECT_EQ(r.progress[0].current, sent.current);
  EXPECT_EQ(r.progress[1].bytes, 1u);
  EXPECT_EQ(r.progress[1].total_bytes, std::nullopt);
  EXPECT_EQ(r.progress[1].total_files, 7u);
  EXPECT_EQ(r.progress[1].phase, "");
  EXPECT_EQ(r.progress[1].current, "");
}

TEST(ProgressLineTest, ParsesShortAndFullFormsRejectsGarbage) {
  auto p = ParseProgress("10 2");  // what older workers send
  ASSERT_TRUE(p);
  EXPECT_EQ(p->bytes, 10u);
  EXPECT_EQ(p->files, 2u);
  p = ParseProgress("10 2 100 - backup /usr/lib/a file");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->total_bytes, 100u);
  EXPECT_EQ(p->phase, "backup");
  EXPECT_EQ(p->current, "/usr/lib/a file");
  for (const char* bad : {"", "x 2", "10", "10 2x", "10 2 x - backup", "10 2 - -", "-1 2",
                          "99999999999999999999999 1"})
    EXPECT_FALSE(ParseProgress(bad)) << bad;
  Progress q;
  q.phase = "has space";
  EXPECT_EQ(FormatProgress(q), "0 0 - - -");
}

}  // namespace
}  // namespace ctdump::userns
