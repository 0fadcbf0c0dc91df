// libFuzzer target for what extraction does with untrusted bytes before
// anything touches a file system.
//
// The first input byte picks the mode, the rest is the payload:
//   0: an archive in memory, read by libarchive exactly as the extraction
//      child reads it (SupportTarInput); every member name and hardlink
//      target goes through the name rules, every member through PVE's
//      untrusted check, ACL xattrs through the filter, data is read;
//   1: lines as member names (the rules alone, faster to explore);
//   2: bytes as the child's report stream (ReportCollector);
//   3: bytes as a system.posix_acl_access value;
//   4: bytes as an /etc/passwd text, then ACL name resolution.
// Invariants: a normalised name is "." or starts with "./", never has an
// empty, "." or ".." component, and normalising it again gives itself; a
// filtered ACL value is a valid, not longer ACL value, unchanged when no id
// fell back, and filtering it again changes nothing.
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "extract/entry_check.h"
#include "extract/report.h"
#include "extract/tar_reader.h"

namespace {

using ctdump::IdMap;
namespace ex = ctdump::extract;

const IdMap& TestMap() {
  static const IdMap map = *IdMap::Parse({"u 0 100000 65536", "g 0 100000 65536"}, true);
  return map;
}

void CheckNormalized(const std::string& n) {
  if (n == ".") return;
  if (!n.starts_with("./") || n.size() < 3) __builtin_trap();
  std::string_view rest = std::string_view(n).substr(2);
  for (;;) {
    size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    if (part.empty() || part == "." || part == "..") __builtin_trap();
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  auto again = ex::NormalizeEntryName(n);
  if (!again.ok() || *again != n) __builtin_trap();
}

void CheckName(std::string_view name) {
  auto n = ex::NormalizeEntryName(name);
  if (n.ok()) CheckNormalized(*n);
  auto t = ex::NormalizeHardlinkTarget(name);
  if (t.ok() != n.ok()) __builtin_trap();
  if (n.ok()) ex::IsBelowDev(*n);
}

void CheckAcl(std::string_view value) {
  int fallen_back = 0;
  auto out = ex::FilterPosixAclXattr(value, TestMap(), 65534, 65534, &fallen_back);
  if (!out) return;
  if (out->size() > value.size() || out->size() < 4 || (out->size() - 4) % 8 != 0) __builtin_trap();
  if (fallen_back == 0 && *out != value) __builtin_trap();
  // Every id is representable now (the fallbacks too), so filtering the
  // result again changes nothing.
  int again_fallen_back = 0;
  auto again = ex::FilterPosixAclXattr(*out, TestMap(), 65534, 65534, &again_fallen_back);
  if (!again || again_fallen_back != 0 || *again != *out) __builtin_trap();
}

void FuzzArchive(const uint8_t* data, size_t size) {
  archive* a = archive_read_new();
  ex::SupportTarInput(a);
  if (archive_read_open_memory(a, data, size) != ARCHIVE_OK) {
    archive_read_free(a);
    return;
  }
  ex::UntrustedArchiveCheck check("fuzz.tar");
  archive_entry* e = nullptr;
  for (int i = 0; i < 1000 && archive_read_next_header(a, &e) >= ARCHIVE_WARN; ++i) {
    const char* path = archive_entry_pathname(e);
    const char* link = archive_entry_hardlink(e);
    CheckName(path ? path : "");
    if (link) CheckName(link);
    check.Add(path ? path : "", archive_entry_filetype(e), link != nullptr).IgnoreError();
    const char* xname;
    const void* xvalue;
    size_t xsize;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &xname, &xvalue, &xsize) == ARCHIVE_OK)
      CheckAcl(std::string_view(static_cast<const char*>(xvalue), xsize));
    const void* buf;
    size_t n;
    la_int64_t off;
    for (int b = 0; b < 64 && archive_read_data_block(a, &buf, &n, &off) == ARCHIVE_OK; ++b) {
    }
  }
  check.Finish().IgnoreError();
  archive_read_free(a);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (mode % 5) {
    case 0:
      FuzzArchive(data + 1, size - 1);
      break;
    case 1:
      for (;;) {
        size_t nl = payload.find('\n');
        CheckName(payload.substr(0, nl));
        if (nl == std::string_view::npos) break;
        payload.remove_prefix(nl + 1);
      }
      break;
    case 2: {
      ex::ReportCollector c(nullptr);
      c.Feed(payload);
      c.Finish();
      auto s = c.stats();
      if (s && s->unmapped_examples.size() > ex::kMaxUnmappedExamples) __builtin_trap();
      break;
    }
    case 3:
      CheckAcl(payload);
      break;
    case 4: {
      ex::IdDatabase db = ex::ParseIdDatabase(payload);
      for (const auto& [name, id] : db) {
        auto r = ex::ResolveAclName(name, db);
        if (!r) __builtin_trap();
      }
      break;
    }
  }
  return 0;
}
