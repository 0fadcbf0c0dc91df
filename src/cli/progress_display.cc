#include "cli/progress_display.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "backup/task_log.h"
#include "ctdump/units.h"

namespace ctdump::cli {
namespace {

constexpr double kMinSecondsForRate = 1.0;
constexpr size_t kMinPathColumns = 12;

std::string Label(const Progress& p) { return p.phase.empty() ? "progress" : p.phase; }

// 0..100 where a total is known.
std::optional<double> Percent(const Progress& p) {
  if (p.total_bytes && *p.total_bytes > 0)
    return std::min(100.0, 100.0 * static_cast<double>(p.bytes) / *p.total_bytes);
  if (!p.total_bytes && p.total_files && *p.total_files > 0)
    return std::min(100.0, 100.0 * static_cast<double>(p.files) / *p.total_files);
  return std::nullopt;
}

// Bytes/s, or files/s for work that counts no bytes.
std::string Rate(const Progress& p, double elapsed) {
  if (elapsed < kMinSecondsForRate) return "";
  if (p.bytes > 0 || p.total_bytes)
    return HumanBytes(static_cast<uint64_t>(p.bytes / elapsed)) + "/s";
  return fmt::format("{:.0f} files/s", p.files / elapsed);
}

std::optional<double> Eta(const Progress& p, double elapsed) {
  if (elapsed < kMinSecondsForRate) return std::nullopt;
  double done, total;
  if (p.total_bytes && *p.total_bytes > 0) {
    done = static_cast<double>(p.bytes);
    total = static_cast<double>(*p.total_bytes);
  } else if (p.total_files && *p.total_files > 0) {
    done = static_cast<double>(p.files);
    total = static_cast<double>(*p.total_files);
  } else {
    return std::nullopt;
  }
  // Past the total (the previous backup was smaller): no honest estimate.
  if (done <= 0 || done >= total) return std::nullopt;
  return (total - done) * elapsed / done;
}

// "1.2 GiB of 3.4 GiB, 1234 files" (bytes left out for work that counts none).
std::string Amounts(const Progress& p) {
  std::string out;
  if (p.bytes > 0 || p.total_bytes) {
    out = HumanBytes(p.bytes);
    if (p.total_bytes) out += " of " + HumanBytes(*p.total_bytes);
    out += ", ";
  }
  out += fmt::format("{}", p.files);
  if (p.total_files) out += fmt::format(" of {}", *p.total_files);
  out += " files";
  return out;
}

// Keeps the front of `text`, at most `width` columns.
std::string CutRight(std::string_view text, size_t width) {
  size_t cols = 0, i = 0;
  for (; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      if (cols == width) break;
      ++cols;
    }
  }
  return std::string(text.substr(0, i));
}

}  // namespace

std::string FormatElapsed(double seconds) {
  auto s = static_cast<uint64_t>(std::max(0.0, seconds));
  return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
}

size_t Columns(std::string_view text) {
  return std::count_if(text.begin(), text.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

std::string CutFromLeft(std::string_view text, size_t width) {
  size_t cols = Columns(text);
  if (cols <= width) return std::string(text);
  if (width <= 3) return std::string(width, '.');
  size_t skip = cols - (width - 3), i = 0;
  for (size_t seen = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && seen++ == skip) break;
  }
  return "..." + std::string(text.substr(i));
}

ProgressDisplay::ProgressDisplay(Options options) : o_(std::move(options)) {}

double ProgressDisplay::Elapsed(Clock::time_point now) const {
  return std::chrono::duration<double>(now - start_).count();
}

void ProgressDisplay::BeginIfNew(const Progress& p, Clock::time_point now) {
  if (active_ && p.phase == last_.phase && p.bytes >= last_.bytes) return;
  Finish();
  active_ = true;
  start_ = last_line_ = now;
  last_draw_ = Clock::time_point();
}

void ProgressDisplay::Update(const Progress& p) {
  auto now = o_.now();
  BeginIfNew(p, now);
  last_ = p;
  last_update_ = now;
  double elapsed = Elapsed(now);
  if (o_.terminal) {
    if (last_draw_ != Clock::time_point() && now - last_draw_ < o_.redraw_interval) return;
    last_draw_ = now;
    o_.write("\r" + BarLine(p, elapsed, o_.width()) + "\x1b[K");
    bar_shown_ = true;
  } else {
    if (now - last_line_ < o_.line_interval) return;
    last_line_ = now;
    o_.write(LogLine(p, elapsed) + "\n");
  }
}

void ProgressDisplay::ClearBar() {
  if (!bar_shown_) return;
  o_.write("\r\x1b[K");
  bar_shown_ = false;
  last_draw_ = Clock::time_point();  // redraw with the next update
}

void ProgressDisplay::Finish() {
  ClearBar();
  if (!active_) return;
  active_ = false;
  double elapsed = std::chrono::duration<double>(last_update_ - start_).count();
  if (elapsed >= std::chrono::duration<double>(o_.line_interval).count())
    o_.write(EndLine(last_, elapsed) + "\n");
}

std::string ProgressDisplay::BarLine(const Progress& p, double elapsed, size_t width) const {
  if (width < 20) width = 20;
  std::string line = Label(p);
  if (auto pct = Percent(p)) {
    size_t bar = width >= 100 ? 30 : width >= 80 ? 20 : 10;
    size_t fill = static_cast<size_t>(*pct / 100.0 * bar);
    line += fmt::format(" {:3.0f}% [{}{}]", std::floor(*pct), std::string(fill, '#'),
                        std::string(bar - fill, '.'));
  }
  line += " " + Amounts(p);
  if (std::string rate = Rate(p, elapsed); !rate.empty()) line += ", " + rate;
  if (auto eta = Eta(p, elapsed)) line += ", ETA " + FormatElapsed(*eta);
  line += ", " + FormatElapsed(elapsed);
  // One column stays free: writing the last one wraps on some terminals.
  size_t room = width - 1;
  if (Columns(line) >= room) return CutRight(line, room);
  size_t left = room - Columns(line);
  if (!p.current.empty() && left >= kMinPathColumns + 2)
    line += "  " + CutFromLeft(backup::EscapeControl(p.current), left - 2);
  return line;
}

std::string ProgressDisplay::LogLine(const Progress& p, double elapsed) const {
  std::string line = "INFO: " + Label(p) + ": ";
  if (p.bytes > 0 || p.total_bytes) {
    line += HumanBytes(p.bytes);
    if (p.total_bytes) line += " of " + HumanBytes(*p.total_bytes);
    if (auto pct = Percent(p); pct && p.total_bytes) line += fmt::format(" ({:.0f}%)", *pct);
    line += ", ";
  }
  line += fmt::format("{}", p.files);
  if (p.total_files) {
    line += fmt::format(" of {}", *p.total_files);
    if (auto pct = Percent(p); pct && !p.total_bytes) line += fmt::format(" ({:.0f}%)", *pct);
  }
  line += " files";
  if (std::string rate = Rate(p, elapsed); !rate.empty()) line += ", " + rate;
  line += ", elapsed " + FormatElapsed(elapsed);
  if (auto eta = Eta(p, elapsed)) line += ", ETA " + FormatElapsed(*eta);
  return line;
}

std::string ProgressDisplay::EndLine(const Progress& p, double elapsed) const {
  std::string line = "INFO: " + Label(p) + " finished: ";
  if (p.bytes > 0) line += HumanBytes(p.bytes) + ", ";
  line += fmt::format("{} files in {}", p.files, FormatElapsed(elapsed));
  if (std::string rate = Rate(p, elapsed); !rate.empty()) line += " (" + rate + ")";
  return line;
}

}  // namespace ctdump::cli
