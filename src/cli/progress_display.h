// How the text renderer shows Progress (ctdump/observer.h): on a terminal a
// one-line bar redrawn in place, in a log a line every 10 s, and a closing
// line for a phase that ran longer than 10 s.
//
// Terminal:  "backup  35% [#####..........] 1.2 GiB of 3.4 GiB, 1234 files, 56 MiB/s,
//             ETA 0:02:10, 0:01:10  /usr/lib/x86_64-linux-gnu/libc.so.6"
//            (cut to the terminal's width; the path is escaped and cut from the left)
// Log:       "INFO: backup: 1.2 GiB of 3.4 GiB (35%), 1234 files, 56 MiB/s, elapsed 0:01:10,
//             ETA 0:02:10"
// End:       "INFO: backup finished: 3.4 GiB, 2345 files in 0:02:10 (56 MiB/s)"
//
// A phase begins when the phase name changes or the bytes go down (a new
// operation of the same name); it restarts the rate, ETA and elapsed time.
// A phase ends when the next one begins or Finish() is called.
// Not thread-safe: the renderer calls it under its own discipline.
#ifndef CTDUMP_CLI_PROGRESS_DISPLAY_H_
#define CTDUMP_CLI_PROGRESS_DISPLAY_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ctdump/observer.h"

namespace ctdump::cli {

// "0:01:10" (hours unbounded).
std::string FormatElapsed(double seconds);

// Cuts `text` (UTF-8) to at most `width` columns, keeping its end and
// marking the cut with "..." at the front. A column is a code point.
std::string CutFromLeft(std::string_view text, size_t width);

// Columns of UTF-8 text (code points).
size_t Columns(std::string_view text);

class ProgressDisplay {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    bool terminal = false;
    // Where output goes (stderr in ctdump).
    std::function<void(std::string_view)> write;
    // Now; a test injects its own.
    std::function<Clock::time_point()> now = [] { return Clock::now(); };
    // The terminal's width in columns (read on every redraw: it can change).
    std::function<size_t()> width = [] { return size_t{80}; };
    std::chrono::milliseconds line_interval{10000};  // log lines
    std::chrono::milliseconds redraw_interval{100};  // the bar
  };

  explicit ProgressDisplay(Options options);

  void Update(const Progress& p);
  // Before a log line is written: removes the bar (it is redrawn with the
  // next update).
  void ClearBar();
  // The current phase ended: the bar is removed, the closing line written
  // if it ran long enough.
  void Finish();

  // The texts, for tests and for the renderer.
  std::string BarLine(const Progress& p, double elapsed, size_t width) const;
  std::string LogLine(const Progress& p, double elapsed) const;
  std::string EndLine(const Progress& p, double elapsed) const;

 private:
  void BeginIfNew(const Progress& p, Clock::time_point now);
  double Elapsed(Clock::time_point now) const;

  Options o_;
  bool active_ = false;  // a phase is running
  Progress last_;
  Clock::time_point start_{}, last_update_{}, last_line_{}, last_draw_{};
  bool bar_shown_ = false;
};

}  // namespace ctdump::cli

#endif  // CTDUMP_CLI_PROGRESS_DISPLAY_H_
