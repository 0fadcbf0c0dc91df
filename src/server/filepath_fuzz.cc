// Fuzz target: ParseFilepath must never crash; a path it accepts has no
// "..", ".", empty or leading components and no NUL, and encodes back to a
// `filepath` that parses to the same path. ContentDisposition of any bytes
// is printable ASCII (no CR, LF or other byte that could split a header).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "server/file_path.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ctdump::server::SnapshotPath;
  std::string_view text(reinterpret_cast<const char*>(data), size);

  for (unsigned char c : ctdump::server::ContentDisposition(text)) Check(c >= 0x20 && c < 0x7f);

  auto parsed = ctdump::server::ParseFilepath(text);
  const auto* path = std::get_if<SnapshotPath>(&parsed);
  if (path == nullptr || path->archives) return 0;
  const std::string& p = path->path;
  Check(p.find('\0') == std::string::npos);
  Check(p.size() <= ctdump::server::kMaxFilepathBytes);
  if (!p.empty()) {
    size_t pos = 0;
    while (pos <= p.size()) {
      size_t end = p.find('/', pos);
      if (end == std::string::npos) end = p.size();
      std::string_view c(p.data() + pos, end - pos);
      Check(!c.empty() && c != "." && c != "..");
      pos = end + 1;
    }
  }
  auto again = ctdump::server::ParseFilepath(ctdump::server::EncodeFilepath(p));
  const auto* path2 = std::get_if<SnapshotPath>(&again);
  Check(path2 != nullptr && !path2->archives && path2->path == p);
  return 0;
}
