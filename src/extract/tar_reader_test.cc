// Unit tests (label unit): TarStream reads GNU tar's and ctdump's archives
// as GNU tar reads them (pre-1970 times, xattr names).
#include "extract/tar_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "archive/tree_writer.h"
#include "sys/subprocess.h"
#include "sys/unique_fd.h"

namespace ctdump::extract {
namespace {

struct Member {
  int64_t mtime_sec = 0;
  long mtime_nsec = 0;
  std::set<std::string> xattrs;
  int64_t size = 0;
};

class NullObserver : public Observer {
 public:
  void Log(LogLevel, std::string_view) noexcept override {}
  void OnProgress(const ctdump::Progress&) noexcept override {}
};

class TarStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ctdump-tarstream-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    src_ = base_ + "/src";
    ASSERT_EQ(::mkdir(src_.c_str(), 0755), 0);
  }
  void TearDown() override { std::system(("rm -rf '" + base_ + "'").c_str()); }

  std::string P(const std::string& rel) const { return src_ + "/" + rel; }

  void File(const std::string& rel, const std::string& data, time_t sec, long nsec) {
    std::ofstream(P(rel), std::ios::binary) << data;
    struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
    ASSERT_EQ(::utimensat(AT_FDCWD, P(rel).c_str(), ts, 0), 0);
  }

  // A tree with a large file first (its data passes the window), then the
  // tricky times and names, one of them behind a long path.
  void MakeTree() {
    std::string big(TarStream::kWindow + (3 << 20), '\0');
    std::mt19937 rng(7);
    for (auto& c : big) c = static_cast<char>(rng());
    File("a-big", big, 1700000000, 1);
    File("early", "e", -1, 250000000);          // -0.75 s
    File("y1950", "y", -631152000, 750000000);  // 1950-01-01 00:00:00.75
    File("late", "l", 1700000000, 123456789);
    std::string deep = std::string(150, 'd');
    ASSERT_EQ(::mkdir(P(deep).c_str(), 0755), 0);
    File(deep + "/early2", "x", -86400 * 365 - 1, 1);
    File("names", "n", 1700000000, 0);
    for (const char* name : {"user.name with space", "user.pct%41", "user.eq=x", "user.plain"})
      ASSERT_EQ(::lsetxattr(P("names").c_str(), name, "v", 1, 0), 0) << name;
  }

  void ShOk(const std::string& cmd) {
    sys::SpawnOptions o;
    o.argv = {"/bin/sh", "-c", cmd};
    auto r = sys::RunCommand(o);
    ASSERT_TRUE(r.ok() && sys::ExitedOk(r->wait_status)) << cmd << (r.ok() ? r->output : "");
  }

  // Every member of `path` as TarStream reads it; `fix` false: as
  // libarchive alone reads it.
  std::map<std::string, Member> Read(const std::string& path, bool fix = true) {
    std::map<std::string, Member> out;
    sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_TRUE(fd.valid());
    TarStream in;
    EXPECT_TRUE(in);
    EXPECT_EQ(in.Open(fd.get(), 64 << 10), ARCHIVE_OK) << archive_error_string(in.get());
    for (;;) {
      archive_entry* e = nullptr;
      int r = archive_read_next_header(in.get(), &e);
      if (r == ARCHIVE_EOF) break;
      EXPECT_EQ(r, ARCHIVE_OK) << archive_error_string(in.get());
      if (r != ARCHIVE_OK) break;
      if (fix) in.FixEntry(e);
      Member m;
      m.mtime_sec = archive_entry_mtime(e);
      m.mtime_nsec = archive_entry_mtime_nsec(e);
      m.size = archive_entry_size(e);
      archive_entry_xattr_reset(e);
      const char* name;
      const void* value;
      size_t size;
      while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) m.xattrs.insert(name);
      out[archive_entry_pathname(e)] = m;
      // Read the data, as extraction does.
      const void* buf;
      la_int64_t off;
      while (archive_read_data_block(in.get(), &buf, &size, &off) == ARCHIVE_OK) {
      }
    }
    return out;
  }

  void ExpectAsTheTree(const std::map<std::string, Member>& members) {
    for (const char* f : {"early", "y1950", "late", "a-big"}) {
      struct stat st;
      ASSERT_EQ(::lstat(P(f).c_str(), &st), 0);
      auto it = members.find(std::string("./") + f);
      ASSERT_NE(it, members.end()) << f;
      EXPECT_EQ(it->second.mtime_sec, st.st_mtim.tv_sec) << f;
      EXPECT_EQ(it->second.mtime_nsec, st.st_mtim.tv_nsec) << f;
    }
    auto deep = members.find("./" + std::string(150, 'd') + "/early2");
    ASSERT_NE(deep, members.end());
    EXPECT_EQ(deep->second.mtime_sec, -86400 * 365 - 1);
    EXPECT_EQ(deep->second.mtime_nsec, 1);
    ASSERT_TRUE(members.count("./names"));
    EXPECT_EQ(
        members.at("./names").xattrs,
        (std::set<std::string>{"user.eq=x", "user.name with space", "user.pct%41", "user.plain"}));
  }

  std::string base_, src_;
};

TEST_F(TarStreamTest, GnuTarArchivesReadAsGnuTarReadsThem) {
  MakeTree();
  std::string tar = base_ + "/gnu.tar.zst";
  ShOk(
      "tar --format=pax --xattrs --xattrs-include='user.*' --acls --numeric-owner --sparse "
      "-C '" +
      src_ + "' -cf - . | zstd -q -o '" + tar + "'");
  ExpectAsTheTree(Read(tar));
  // libarchive alone gets them wrong (what FixEntry is for).
  auto raw = Read(tar, false);
  EXPECT_EQ(raw["./early"].mtime_sec, 0);
  EXPECT_TRUE(raw["./names"].xattrs.count("user.pct%2541"));
}

TEST_F(TarStreamTest, CtdumpArchivesRoundTrip) {
  MakeTree();
  for (auto c : {archive::Compression::kZstd, archive::Compression::kNone}) {
    std::string tar = base_ + "/ct" + archive::ArchiveSuffix(c);
    sys::UniqueFd fd(::open(tar.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd.valid());
    archive::TreeWriterOptions o;
    o.compression = c;
    NullObserver obs;
    auto st = archive::WriteTree(src_, {"./"}, o, fd.get(), &obs);
    ASSERT_TRUE(st.ok()) << st.status().message();
    ExpectAsTheTree(Read(tar));
  }
}

TEST_F(TarStreamTest, DamagedAndForeignInputFailsWithTheReason) {
  MakeTree();
  std::string tar = base_ + "/gnu.tar.zst";
  ShOk("tar --format=pax -C '" + src_ + "' -cf - . | zstd -q -o '" + tar + "'");
  ASSERT_EQ(::truncate(tar.c_str(), 100000), 0);
  sys::UniqueFd fd(::open(tar.c_str(), O_RDONLY | O_CLOEXEC));
  TarStream in;
  // At Open or later (where the cut is), never a clean end.
  int r = in.Open(fd.get(), 64 << 10);
  archive_entry* e = nullptr;
  while (r == ARCHIVE_OK) {
    r = archive_read_next_header(in.get(), &e);
    if (r == ARCHIVE_OK) {
      const void* buf;
      size_t size;
      la_int64_t off;
      do {
        r = archive_read_data_block(in.get(), &buf, &size, &off);
      } while (r == ARCHIVE_OK);
      if (r == ARCHIVE_EOF) r = ARCHIVE_OK;
    }
  }
  EXPECT_LT(r, ARCHIVE_WARN);
  ASSERT_NE(archive_error_string(in.get()), nullptr);
  EXPECT_NE(std::string(archive_error_string(in.get())).find("runcated"), std::string::npos)
      << archive_error_string(in.get());

  std::string junk = base_ + "/junk";
  std::ofstream(junk) << std::string(4096, 'j');
  sys::UniqueFd jfd(::open(junk.c_str(), O_RDONLY | O_CLOEXEC));
  TarStream j;
  int jr = j.Open(jfd.get(), 64 << 10);
  if (jr == ARCHIVE_OK) jr = archive_read_next_header(j.get(), &e);
  EXPECT_EQ(jr, ARCHIVE_FATAL);
  ASSERT_NE(archive_error_string(j.get()), nullptr);
  EXPECT_NE(std::string(archive_error_string(j.get())).find("nrecognized"), std::string::npos)
      << archive_error_string(j.get());
}

}  // namespace
}  // namespace ctdump::extract
