// libFuzzer target for ExcludeMatcher.
//
// Input: newline-separated lines; every line but the last is a pattern, the
// last is a path (a '/' is prepended when missing). Checks that compiling
// never crashes, that matching never crashes or hangs, and the subtree
// invariant: an excluded directory's children are excluded too.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/exclude.h"

namespace {

std::vector<std::string> SplitLines(std::string_view data) {
  std::vector<std::string> lines;
  for (;;) {
    size_t nl = data.find('\n');
    lines.emplace_back(data.substr(0, nl));
    if (nl == std::string_view::npos) return lines;
    data.remove_prefix(nl + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> lines =
      SplitLines(std::string_view(reinterpret_cast<const char*>(data), size));
  std::string path = lines.back();
  lines.pop_back();
  if (!path.starts_with("/")) path.insert(0, "/");

  ctdump::Result<ctdump::ExcludeMatcher> m = ctdump::ExcludeMatcher::Create(lines);
  if (!m.ok()) {
    if (m.status().code() != ctdump::Code::kInvalidArgument) __builtin_trap();
    return 0;
  }
  bool as_file = m->Matches(path, false);
  bool as_dir = m->Matches(path, true);
  // Directory-only patterns can only add matches.
  if (as_file && !as_dir) __builtin_trap();
  if (as_dir && path.find_first_not_of('/') != std::string::npos &&
      !m->Matches(path + "/x", false)) {
    __builtin_trap();
  }
  return 0;
}
