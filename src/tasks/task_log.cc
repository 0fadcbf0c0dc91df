#include "tasks/task_log.h"

#include "base/utf8.h"
#include "sys/file.h"

namespace ctdump::tasks {
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
