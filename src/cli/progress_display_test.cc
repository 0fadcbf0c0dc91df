#include "cli/progress_display.h"

#include <gtest/gtest.h>

#include <vector>

namespace ctdump::cli {
namespace {

using Clock = ProgressDisplay::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint64_t kMiB = 1024 * 1024;

// A display writing into `out`, on a clock the test moves.
struct Harness {
  explicit Harness(bool terminal, size_t width = 80) {
    ProgressDisplay::Options o;
    o.terminal = terminal;
    o.write = [this](std::string_view s) { out += s; };
    o.now = [this] { return now; };
    o.width = [this] { return this->width; };
    display.emplace(std::move(o));
    this->width = width;
  }
  std::vector<std::string> Lines() const {
    std::vector<std::string> lines;
    size_t start = 0;
    for (size_t nl; (nl = out.find('\n', start)) != std::string::npos; start = nl + 1)
      lines.push_back(out.substr(start, nl - start));
    return lines;
  }
  std::string out;
  Clock::time_point now = Clock::time_point() + seconds(1000);
  size_t width = 80;
  std::optional<ProgressDisplay> display;
};

Progress Make(std::string phase, uint64_t bytes, uint64_t files,
              std::optional<uint64_t> total = std::nullopt) {
  Progress p;
  p.phase = std::move(phase);
  p.bytes = bytes;
  p.files = files;
  p.total_bytes = total;
  return p;
}

TEST(FormatElapsedTest, HoursMinutesSeconds) {
  EXPECT_EQ(FormatElapsed(0), "0:00:00");
  EXPECT_EQ(FormatElapsed(70.9), "0:01:10");
  EXPECT_EQ(FormatElapsed(3600 * 27 + 61), "27:01:01");
  EXPECT_EQ(FormatElapsed(-5), "0:00:00");
}

TEST(CutFromLeftTest, KeepsTheEnd) {
  EXPECT_EQ(CutFromLeft("/usr/lib/libc.so", 40), "/usr/lib/libc.so");
  EXPECT_EQ(CutFromLeft("/usr/lib/libc.so", 10), "...libc.so");
  EXPECT_EQ(Columns(CutFromLeft("/usr/lib/libc.so", 10)), 10u);
  // Multi-byte characters count as one column and are never split.
  std::string cut = CutFromLeft("/dätä/ünïcödé", 8);
  EXPECT_EQ(Columns(cut), 8u);
  EXPECT_EQ(cut, "...ïcödé");
  EXPECT_EQ(CutFromLeft("abcdef", 2), "..");
}

TEST(ProgressBarTest, PercentRateEtaElapsedAndPath) {
  Harness h(true);
  Progress p = Make("backup", 25 * kMiB, 1234, 100 * kMiB);
  p.current = "/usr/lib/x86_64-linux-gnu/libc.so.6";
  std::string line = h.display->BarLine(p, 10, 160);
  // 25 MiB in 10 s: 2.5 MiB/s; 75 MiB left: 30 s.
  EXPECT_EQ(line,
            "backup  25% [#######.......................] 25.0 MiB of 100.0 MiB, 1234 files, "
            "2.5 MiB/s, ETA 0:00:30, 0:00:10  /usr/lib/x86_64-linux-gnu/libc.so.6");
}

TEST(ProgressBarTest, FitsTheTerminalWidth) {
  Harness h(true);
  Progress p = Make("backup", 25 * kMiB, 1234, 100 * kMiB);
  p.current = "/very/long/path/" + std::string(200, 'x') + "/end";
  for (size_t width : {20, 40, 79, 80, 100, 200}) {
    std::string line = h.display->BarLine(p, 10, width);
    EXPECT_LE(Columns(line), width - 1) << width << ": " << line;
  }
  std::string wide = h.display->BarLine(p, 10, 200);
  EXPECT_NE(wide.find("...xxx"), std::string::npos);
  EXPECT_TRUE(wide.ends_with("/end"));
  EXPECT_NE(h.display->BarLine(p, 10, 80).find(" 25% [#####..............."), std::string::npos);
}

TEST(ProgressBarTest, PathIsEscaped) {
  Harness h(true);
  Progress p = Make("backup", 1, 1);
  p.current = "/evil\x1b[2Jname\n";
  std::string line = h.display->BarLine(p, 0, 200);
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(ProgressBarTest, WithoutTotalNoPercentNoEta) {
  Harness h(true);
  std::string line = h.display->BarLine(Make("rsync-first", 10 * kMiB, 5), 5, 120);
  EXPECT_EQ(line, "rsync-first 10.0 MiB, 5 files, 2.0 MiB/s, 0:00:05");
}

TEST(ProgressBarTest, PastTheTotalIsCappedWithoutEta) {
  Harness h(true);
  std::string line = h.display->BarLine(Make("backup", 200, 5, 100), 5, 120);
  EXPECT_NE(line.find("100% [####"), std::string::npos) << line;
  EXPECT_EQ(line.find("ETA"), std::string::npos) << line;
}

TEST(ProgressBarTest, FilesOnlyWork) {
  Harness h(true);
  Progress p = Make("remove-copy", 0, 500);
  std::string line = h.display->BarLine(p, 2, 120);
  EXPECT_EQ(line, "remove-copy 500 files, 250 files/s, 0:00:02");
  p.total_files = 1000;
  EXPECT_EQ(h.display->BarLine(p, 2, 99),
            "remove-copy  50% [##########..........] 500 of 1000 files, 250 files/s, ETA 0:00:02, "
            "0:00:02");
}

TEST(ProgressLogTest, VzdumpStyleLine) {
  Harness h(false);
  EXPECT_EQ(h.display->LogLine(Make("backup", 35 * kMiB, 1234, 100 * kMiB), 70),
            "INFO: backup: 35.0 MiB of 100.0 MiB (35%), 1234 files, 512.0 KiB/s, elapsed 0:01:10, "
            "ETA 0:02:10");
  EXPECT_EQ(h.display->LogLine(Make("", 1024, 3), 0),
            "INFO: progress: 1.0 KiB, 3 files, elapsed 0:00:00");
}

TEST(ProgressLogTest, OneLineEveryTenSeconds) {
  Harness h(false);
  for (int i = 0; i <= 35; ++i) {  // 35 s of reports, one per second
    h.display->Update(Make("backup", i * kMiB, i));
    h.now += seconds(1);
  }
  auto lines = h.Lines();
  ASSERT_EQ(lines.size(), 3u) << h.out;  // at 10, 20 and 30 s
  EXPECT_EQ(lines[0], "INFO: backup: 10.0 MiB, 10 files, 1.0 MiB/s, elapsed 0:00:10");
  EXPECT_EQ(lines[2], "INFO: backup: 30.0 MiB, 30 files, 1.0 MiB/s, elapsed 0:00:30");
  h.display->Finish();
  lines = h.Lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[3], "INFO: backup finished: 35.0 MiB, 35 files in 0:00:35 (1.0 MiB/s)");
  h.display->Finish();  // idempotent
  EXPECT_EQ(h.Lines().size(), 4u);
}

TEST(ProgressLogTest, ShortPhaseWritesNothing) {
  Harness h(false);
  h.display->Update(Make("remove-copy", 0, 10));
  h.now += seconds(9);
  h.display->Update(Make("remove-copy", 0, 20));
  h.display->Finish();
  EXPECT_EQ(h.out, "");
}

TEST(ProgressLogTest, NewPhaseRestartsTheClockAndEndsTheOld) {
  Harness h(false);
  h.display->Update(Make("rsync-first", 0, 0));
  h.now += seconds(12);
  h.display->Update(Make("rsync-first", 12 * kMiB, 12));
  h.now += seconds(1);
  h.display->Update(Make("rsync-final", 0, 0));  // ends the first
  h.now += seconds(5);
  h.display->Update(Make("rsync-final", 5 * kMiB, 5));
  auto lines = h.Lines();
  ASSERT_EQ(lines.size(), 2u) << h.out;
  EXPECT_EQ(lines[0], "INFO: rsync-first: 12.0 MiB, 12 files, 1.0 MiB/s, elapsed 0:00:12");
  EXPECT_EQ(lines[1], "INFO: rsync-first finished: 12.0 MiB, 12 files in 0:00:12 (1.0 MiB/s)");
  h.now += seconds(5);
  h.display->Update(Make("rsync-final", 10 * kMiB, 10));  // 10 s after its own start
  ASSERT_EQ(h.Lines().size(), 3u) << h.out;
  EXPECT_EQ(h.Lines()[2], "INFO: rsync-final: 10.0 MiB, 10 files, 1.0 MiB/s, elapsed 0:00:10");
}

TEST(ProgressLogTest, BytesGoingDownRestart) {
  Harness h(false);
  h.display->Update(Make("backup", 0, 0));
  h.now += seconds(10);
  h.display->Update(Make("backup", 100 * kMiB, 1));  // c1 done
  h.now += seconds(1);
  h.display->Update(Make("backup", 0, 0));  // c2 starts: a new bar
  h.now += seconds(10);
  h.display->Update(Make("backup", 10 * kMiB, 1));
  auto lines = h.Lines();
  ASSERT_EQ(lines.size(), 3u) << h.out;
  EXPECT_EQ(lines[1], "INFO: backup finished: 100.0 MiB, 1 files in 0:00:10 (10.0 MiB/s)");
  EXPECT_EQ(lines[2], "INFO: backup: 10.0 MiB, 1 files, 1.0 MiB/s, elapsed 0:00:10");
}

TEST(ProgressTerminalTest, DrawsInPlaceThrottledAndClears) {
  Harness h(true, 100);
  h.display->Update(Make("restore", kMiB, 1));
  EXPECT_EQ(h.out, "\rrestore 1.0 MiB, 1 files, 0:00:00\x1b[K");
  h.now += milliseconds(50);
  h.display->Update(Make("restore", 2 * kMiB, 2));  // within 100 ms: not drawn
  EXPECT_EQ(h.out.find("2.0 MiB"), std::string::npos);
  h.now += milliseconds(60);
  h.display->Update(Make("restore", 3 * kMiB, 3));
  EXPECT_NE(h.out.find("\rrestore 3.0 MiB, 3 files"), std::string::npos);
  EXPECT_EQ(h.out.find('\n'), std::string::npos);
  h.out.clear();
  h.display->ClearBar();
  EXPECT_EQ(h.out, "\r\x1b[K");
  h.display->ClearBar();  // nothing shown: nothing written
  EXPECT_EQ(h.out, "\r\x1b[K");
  h.out.clear();
  h.display->Finish();  // short: no closing line
  EXPECT_EQ(h.out, "");
}

}  // namespace
}  // namespace ctdump::cli
