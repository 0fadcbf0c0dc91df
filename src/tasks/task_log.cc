#include "tasks/task_log.h"

#include "sys/file.h"

namespace ctdump::tasks {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Length of the valid UTF-8 sequence at the start of `s`, 0 if invalid
// (Unicode's table 3-7 of well-formed byte sequences).
size_t ValidSequence(std::string_view s) {
  auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (size_t i = 2; i < len; ++i)
    if (b(i) < 0x80 || b(i) > 0xBF) return 0;
  return len;
}

}  // namespace

std::string ToValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_bad = false;
  while (!text.empty()) {
    size_t n = ValidSequence(text);
    if (n == 0) {
      // One U+FFFD per run of bad bytes keeps a binary line readable.
      if (!in_bad) out += kReplacement;
      in_bad = true;
      text.remove_prefix(1);
      continue;
    }
    in_bad = false;
    out.append(text.substr(0, n));
    text.remove_prefix(n);
  }
  return out;
}

LogPage PageLog(std::string_view content, uint64_t start, uint64_t limit) {
  LogPage page;
  if (content.empty()) {
    page.lines.push_back({1, "no content"});
    page.total = 1;
    return page;
  }
  uint64_t n = 0;
  while (!content.empty()) {
    size_t nl = content.find('\n');
    std::string_view line = content.substr(0, nl);
    content.remove_prefix(nl == std::string_view::npos ? content.size() : nl + 1);
    if (n >= start && (limit == 0 || n - start < limit))
      page.lines.push_back({n + 1, ToValidUtf8(line)});
    ++n;
  }
  page.total = n;
  return page;
}

Result<LogPage> ReadTaskLog(const std::string& path, uint64_t start, uint64_t limit) {
  auto content = sys::ReadFile(path);
  if (!content.ok()) {
    if (content.status().code() == Code::kNotFound) return NotFoundError("no such task");
    return content.status();
  }
  return PageLog(*content, start, limit);
}

}  // namespace ctdump::tasks
