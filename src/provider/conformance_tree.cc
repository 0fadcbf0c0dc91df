#include "provider/conformance_tree.h"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <clocale>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include "sys/file.h"

namespace ctdump::provider::conformance {
namespace {

::testing::AssertionResult IsOk(const Status& s) {
  if (s.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << s.ToString();
}

std::string FileText(const std::string& data) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : data) h = (h ^ c) * 1099511628211ull;
  return fmt::format("file size={} fnv={:016x}", data.size(), h);
}

std::string EntryText(const std::string& what, mode_t perm, int64_t uid, int64_t gid,
                      std::optional<int64_t> mtime) {
  return fmt::format("{} mode={:04o} owner={}:{}{}", what, perm & 07777, uid, gid,
                     mtime ? fmt::format(" mtime={}", *mtime) : "");
}

// "./a/b/" -> "a/b", "./" -> ".".
std::string MemberName(std::string name) {
  while (name.rfind("./", 0) == 0) name.erase(0, 2);
  while (!name.empty() && name.back() == '/') name.pop_back();
  return name.empty() || name == "." ? "." : name;
}

struct ArchiveDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};

}  // namespace

// The tree below `root` as the host sees it, owners less `id_base`.
void ScanDirectory(const std::string& root, Tree* out, uint32_t id_base) {
  std::map<ino_t, std::set<std::string>> names;
  auto add = [&](const std::string& path, const std::string& rel) {
    struct stat st;
    ASSERT_EQ(::lstat(path.c_str(), &st), 0) << path << ": " << std::strerror(errno);
    std::string what;
    if (S_ISREG(st.st_mode)) {
      auto data = sys::ReadFile(path);
      ASSERT_TRUE(IsOk(data.status()));
      what = FileText(*data);
      names[st.st_ino].insert(rel);
    } else if (S_ISDIR(st.st_mode)) {
      what = "dir";
    } else if (S_ISLNK(st.st_mode)) {
      std::error_code ec;
      what = "symlink -> " + std::filesystem::read_symlink(path, ec).string();
    } else {
      what = fmt::format("type {:o}", st.st_mode & S_IFMT);
    }
    out->entries[rel] =
        EntryText(what, st.st_mode, int64_t{st.st_uid} - id_base, int64_t{st.st_gid} - id_base,
                  S_ISLNK(st.st_mode) ? std::nullopt : std::optional<int64_t>(st.st_mtime));
  };
  ASSERT_NO_FATAL_FAILURE(add(root, "."));
  std::error_code ec;
  std::filesystem::recursive_directory_iterator it(root, ec), end;
  for (; !ec && it != end; it.increment(ec))
    ASSERT_NO_FATAL_FAILURE(add(it->path().string(), it->path().lexically_relative(root).string()));
  ASSERT_FALSE(ec) << "walking \"" << root << "\": " << ec.message();
  for (auto& [ino, group] : names)
    if (group.size() > 1) out->hardlinks.insert(group);
}

// The tree a tar stream holds, read by libarchive (any compression it knows).
// `open` opens `a` on the source.
void ReadTar(const std::string& what, const std::function<int(struct archive*)>& open, Tree* out) {
  // Names are UTF-8 (pax); libarchive converts them to the locale's
  // character set (as extract_child.cc, which sets C.UTF-8 too).
  struct Utf8Locale {
    std::string old = std::setlocale(LC_CTYPE, nullptr);
    const char* set = std::setlocale(LC_CTYPE, "C.UTF-8");
    ~Utf8Locale() { std::setlocale(LC_CTYPE, old.c_str()); }
  } utf8_locale;
  ASSERT_NE(utf8_locale.set, nullptr) << "no C.UTF-8 locale";
  std::unique_ptr<struct archive, ArchiveDeleter> a(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  ASSERT_EQ(open(a.get()), ARCHIVE_OK) << what << ": " << archive_error_string(a.get());
  std::map<std::string, std::string> links;  // name -> the name it is a hardlink of
  archive_entry* e;
  int r;
  while ((r = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
    const char* raw = archive_entry_pathname_utf8(e);
    if (!raw) raw = archive_entry_pathname(e);
    ASSERT_NE(raw, nullptr) << what << ": a member without a name";
    std::string name = MemberName(raw);
    if (const char* target = archive_entry_hardlink(e)) {
      links[name] = MemberName(target);
      continue;
    }
    std::string text;
    mode_t type = archive_entry_filetype(e);
    if (type == AE_IFREG) {
      std::string data;
      char buf[65536];
      la_ssize_t n;
      while ((n = archive_read_data(a.get(), buf, sizeof(buf))) > 0) data.append(buf, n);
      ASSERT_EQ(n, 0) << what << ": reading " << name << ": " << archive_error_string(a.get());
      text = FileText(data);
    } else if (type == AE_IFDIR) {
      text = "dir";
    } else if (type == AE_IFLNK) {
      text = std::string("symlink -> ") + archive_entry_symlink(e);
    } else {
      text = fmt::format("type {:o}", type);
    }
    ASSERT_FALSE(out->entries.count(name)) << what << ": member " << name << " twice";
    out->entries[name] =
        EntryText(text, archive_entry_perm(e), archive_entry_uid(e), archive_entry_gid(e),
                  type == AE_IFLNK ? std::nullopt : std::optional<int64_t>(archive_entry_mtime(e)));
  }
  ASSERT_EQ(r, ARCHIVE_EOF) << what << ": " << archive_error_string(a.get());
  std::map<std::string, std::set<std::string>> groups;
  for (const auto& [name, target] : links) {
    auto it = out->entries.find(target);
    ASSERT_NE(it, out->entries.end()) << what << ": " << name << " links to the unknown " << target;
    out->entries[name] = it->second;
    groups[target].insert({target, name});
  }
  for (auto& [target, group] : groups) out->hardlinks.insert(group);
}

}  // namespace ctdump::provider::conformance
