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
  std::vector<std::pair<LogLevel, std::string>> lines;
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

}  // namespace
}  // namespace ctdump::userns
