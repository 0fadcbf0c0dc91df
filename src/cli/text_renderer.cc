// The text renderer: vzdump-style log lines on stderr, a progress bar on a
// terminal, a progress line every 10 s otherwise (progress_display.h), the
// summary table.
#include <fmt/format.h>
#include <sys/ioctl.h>

#include <cstdio>

#include "backup/task_log.h"
#include "cli/progress_display.h"
#include "cli/renderer.h"

namespace ctdump::cli {
namespace {

void WriteErr(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

size_t TerminalWidth() {
  struct winsize ws {};
  if (::ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

ProgressDisplay::Options DisplayOptions(bool terminal) {
  ProgressDisplay::Options o;
  o.terminal = terminal;
  o.write = WriteErr;
  o.width = TerminalWidth;
  return o;
}

class TextRenderer : public Renderer {
 public:
  explicit TextRenderer(bool terminal) : progress_(DisplayOptions(terminal)) {}
  ~TextRenderer() override {
    try {
      if (!quiet_) progress_.Finish();
    } catch (...) {
    }
  }

  void SetQuiet(bool quiet) override { quiet_ = quiet; }

  void Log(LogLevel level, std::string_view message) noexcept override {
    if (quiet_ && level == LogLevel::kInfo) return;
    try {
      progress_.ClearBar();
      WriteErr(fmt::format("{}: {}\n", backup::LevelPrefix(level), backup::EscapeControl(message)));
    } catch (...) {
      // stderr is gone (a closed terminal): keep going, the cleanup matters more.
    }
  }

  void OnProgress(const Progress& p) noexcept override {
    if (quiet_) return;
    try {
      progress_.Update(p);
    } catch (...) {
    }
  }

  void JobEnd(const backup::JobResult& r) override {
    if (!quiet_) progress_.Finish();
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
  bool quiet_ = false;
  ProgressDisplay progress_;
};

}  // namespace

std::unique_ptr<Renderer> MakeTextRenderer(bool terminal) {
  return std::make_unique<TextRenderer>(terminal);
}

}  // namespace ctdump::cli
