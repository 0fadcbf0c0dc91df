// The text renderer: vzdump-style log lines on stderr, a progress bar on a
// terminal, a progress line every 10 s otherwise, the summary table.
#include <fmt/format.h>
#include <time.h>

#include <cstdio>

#include "backup/task_log.h"
#include "cli/renderer.h"

namespace ctdump::cli {
namespace {

using Clock = std::chrono::steady_clock;

class TextRenderer : public Renderer {
 public:
  explicit TextRenderer(bool terminal) : terminal_(terminal) {}

  void SetQuiet(bool quiet) override { quiet_ = quiet; }

  void Log(LogLevel level, std::string_view message) noexcept override {
    if (quiet_ && level == LogLevel::kInfo) return;
    try {
      ClearBar();
      fmt::print(stderr, "{}: {}\n", backup::LevelPrefix(level), backup::EscapeControl(message));
      std::fflush(stderr);
    } catch (...) {
      // stderr is gone (a closed terminal): keep going, the cleanup matters more.
    }
  }

  void OnProgress(const Progress& p) noexcept override {
    if (quiet_) return;
    try {
      Draw(p);
    } catch (...) {
    }
  }

  void Draw(const Progress& p) {
    auto now = Clock::now();
    if (p.bytes < last_bytes_) start_ = now;  // a new operation began
    if (start_ == Clock::time_point()) start_ = now;
    last_bytes_ = p.bytes;
    double secs = std::chrono::duration<double>(now - start_).count();
    double rate = secs > 0.5 ? p.bytes / secs : 0;
    if (terminal_) {
      if (now - last_draw_ < std::chrono::milliseconds(100)) return;
      last_draw_ = now;
      std::string bar;
      if (p.total_bytes && *p.total_bytes > 0) {
        double f = std::min(1.0, static_cast<double>(p.bytes) / *p.total_bytes);
        int fill = static_cast<int>(f * 30);
        bar = fmt::format("[{}{}] {:3.0f}% ", std::string(fill, '#'), std::string(30 - fill, '.'),
                          f * 100);
      }
      fmt::print(stderr, "\r{}{} {} files {}/s\x1b[K", bar, HumanBytes(p.bytes), p.files,
                 HumanBytes(static_cast<uint64_t>(rate)));
      bar_shown_ = true;
    } else {
      if (now - last_draw_ < std::chrono::seconds(10)) return;
      last_draw_ = now;
      fmt::print(stderr, "INFO: progress: {}, {} files, {}/s\n", HumanBytes(p.bytes), p.files,
                 HumanBytes(static_cast<uint64_t>(rate)));
    }
    std::fflush(stderr);
  }

  void JobEnd(const backup::JobResult& r) override {
    ClearBar();
    if (r.guests.empty() || quiet_) return;
    fmt::print(stderr, "\n{:<20} {:<8} {:>9} {:>12}  {}\n", "VMID", "STATUS", "TIME", "SIZE",
               "ARCHIVE");
    for (const auto& g : r.guests) {
      fmt::print(stderr, "{:<20} {:<8} {:>9} {:>12}  {}\n", backup::EscapeControl(g.vmid),
                 g.status.ok() ? "ok" : "err", fmt::format("{}s", g.seconds),
                 g.size ? HumanBytes(*g.size) : "-",
                 g.archive.empty() ? "-" : backup::EscapeControl(g.archive));
    }
  }

 private:
  void ClearBar() {
    if (bar_shown_) fmt::print(stderr, "\r\x1b[K");
    bar_shown_ = false;
  }
  bool terminal_;
  bool quiet_ = false;
  bool bar_shown_ = false;
  Clock::time_point start_{}, last_draw_{};
  uint64_t last_bytes_ = 0;
};

}  // namespace

std::unique_ptr<Renderer> MakeTextRenderer(bool terminal) {
  return std::make_unique<TextRenderer>(terminal);
}

}  // namespace ctdump::cli
