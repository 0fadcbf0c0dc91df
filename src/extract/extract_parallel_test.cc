// The extraction child's writer threads (file_writers.h): the tree, the
// order rules and the report are those of a serial extraction.
#include <fmt/format.h>
#include <sys/mount.h>

#include "extract/extract_test_fixture.h"

namespace ctdump::extract {
namespace {

// Parameter: ExtractOptions::secure_symlinks (restore from a store turns it
// off: the writers then create plain files without libarchive).
class ExtractParallelTest : public ExtractTest, public ::testing::WithParamInterface<bool> {
 protected:
  ExtractOptions Writers(unsigned n) {
    ExtractOptions o;
    o.writer_threads = n;
    o.secure_symlinks = GetParam();
    return o;
  }

  // Extracts `members` with one writer (serial) and with four into two
  // fresh roots; both must succeed with the same counts. Returns the stats.
  ExtractStats ExtractBoth(const std::vector<Member>& members) {
    std::string tar = dir_ + "/p.tar";
    WriteTar(tar, members);
    auto serial = ExtractTarFile(tar, serial_root(), map_, Writers(1), &log_);
    EXPECT_TRUE(serial.ok()) << serial.status().message();
    auto parallel = Extract(tar, Writers(4));
    EXPECT_TRUE(parallel.ok()) << parallel.status().message();
    if (!serial.ok() || !parallel.ok()) return {};
    EXPECT_EQ(parallel->entries, serial->entries);
    EXPECT_EQ(parallel->bytes, serial->bytes);
    EXPECT_EQ(parallel->skipped_existing, serial->skipped_existing);
    EXPECT_EQ(parallel->stripped_privileges, serial->stripped_privileges);
    return *parallel;
  }
  std::string serial_root() {
    std::string r = dir_ + "/serial";
    if (!sys::PathExists(r)) MakeRoot(r);
    return r;
  }
  // The same listing (type, mode, owner, size, mtime, link count, content)
  // under the serial and the parallel root.
  void ExpectSameTrees() {
    auto list = [](const std::string& root) {
      return "cd " + root +
             " && find . -printf '%y %m %U %G %s %T@ %n %p\\n' | sort && "
             "find . -type f -exec md5sum {} + | sort";
    };
    std::string a = dir_ + "/a.txt", b = dir_ + "/b.txt";
    ASSERT_EQ(Shell(list(serial_root()) + " > " + a), 0);
    ASSERT_EQ(Shell(list(root_) + " > " + b), 0);
    EXPECT_EQ(ReadAll(a), ReadAll(b));
    EXPECT_GT(ReadAll(b).size(), 0u);
  }
};

TEST_P(ExtractParallelTest, ManyFilesInNewDirectoriesMatchSerial) {
  std::vector<Member> m = {Dir("./")};
  for (int d = 0; d < 30; ++d) {
    std::string dir = fmt::format("./d{}", d);
    m.push_back(Dir(dir + "/"));
    // Files go into the directory created just before them.
    for (int f = 0; f < 40; ++f) {
      mode_t perm = f % 4 == 0 ? 0664 : f % 4 == 1 ? 0600 : f % 4 == 2 ? 04755 : 0444;
      m.push_back(File(fmt::format("{}/f{}", dir, f), std::string(f * 97, char('a' + f % 26)), perm,
                       f % 3, 7));
    }
    Member sub = Dir(dir + "/ro/");
    sub.perm = 0555;  // files go in before its mode is set
    m.push_back(sub);
    m.push_back(File(dir + "/ro/x", "x"));
  }
  m.push_back(File("./big", std::string(3 << 20, 'b')));  // the main thread's
  auto stats = ExtractBoth(m);
  EXPECT_EQ(stats.entries, m.size());
  ExpectSameTrees();
  // Directory times after their contents; owners shifted into the map.
  EXPECT_EQ(Lstat(root_ + "/d3").st_mtime, kMtime);
  EXPECT_EQ(Lstat(root_ + "/d3/ro").st_mode & 07777, 0555u);
  EXPECT_EQ(Lstat(root_ + "/d3/ro").st_mtime, kMtime);
  struct stat f = Lstat(root_ + "/d7/f2");
  EXPECT_EQ(f.st_mode & 07777, 04755u);
  EXPECT_EQ(f.st_uid, 100002u);
  EXPECT_EQ(f.st_gid, 100007u);
  EXPECT_EQ(f.st_mtime, kMtime);
  EXPECT_EQ(Lstat(root_ + "/d7/f4").st_mode & 07777, 0664u) << "not masked by the umask";
}

TEST_P(ExtractParallelTest, HardlinksToFilesStillBeingWritten) {
  std::vector<Member> m = {Dir("./")};
  for (int i = 0; i < 200; ++i) {
    m.push_back(File(fmt::format("./f{}", i), std::string(20000 + i, 'h')));
    m.push_back(Hardlink(fmt::format("./l{}", i), fmt::format("./f{}", i)));
  }
  ExtractBoth(m);
  ExpectSameTrees();
  for (int i = 0; i < 200; i += 37) {
    struct stat f = Lstat(fmt::format("{}/f{}", root_, i));
    struct stat l = Lstat(fmt::format("{}/l{}", root_, i));
    EXPECT_EQ(f.st_ino, l.st_ino);
    EXPECT_EQ(l.st_nlink, 2u);
    EXPECT_EQ(l.st_size, 20000 + i);
  }
}

TEST_P(ExtractParallelTest, SameNameTwiceKeepsTheFirstUnlessForce) {
  std::vector<Member> m = {
      Dir("./"),     File("./dup", "first"),  File("./dup", "second"), File("./dir", "a file"),
      Dir("./dir/"), File("./dir/x", "below")};
  std::string tar = dir_ + "/dup.tar";
  WriteTar(tar, m);
  auto kept = Extract(tar, Writers(4));
  ASSERT_FALSE(kept.ok()) << "./dir/x cannot go below a file";
  EXPECT_EQ(ReadAll(root_ + "/dup"), "first");
  EXPECT_EQ(ReadAll(root_ + "/dir"), "a file");
  ExtractOptions force = Writers(4);
  force.force = true;
  auto forced = Extract(tar, force);
  ASSERT_TRUE(forced.ok()) << forced.status().message();
  EXPECT_EQ(ReadAll(root_ + "/dup"), "second");
  EXPECT_EQ(ReadAll(root_ + "/dir/x"), "below");
}

TEST_P(ExtractParallelTest, RefusedEntryMidStreamStopsWithNothingOutside) {
  std::vector<Member> m = {Dir("./")};
  for (int i = 0; i < 300; ++i) m.push_back(File(fmt::format("./before{}", i), "b"));
  m.push_back(File("a/../../escape", "x"));
  for (int i = 0; i < 50; ++i) m.push_back(File(fmt::format("./after{}", i), "a"));
  std::string tar = dir_ + "/evil.tar";
  WriteTar(tar, m);
  auto stats = Extract(tar, Writers(4));
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.status().code(), Code::kInvalidArgument);
  EXPECT_NE(stats.status().message().find("refusing entry 'a/../../escape'"), std::string::npos)
      << stats.status().message();
  for (int i = 0; i < 300; ++i) EXPECT_EQ(ReadAll(fmt::format("{}/before{}", root_, i)), "b");
  EXPECT_FALSE(sys::PathExists(root_ + "/after0"));
  ExpectNothingOutside();
}

TEST_P(ExtractParallelTest, WriterErrorsNameTheFile) {
  // A member below a regular file fails in a writer (ENOTDIR, then
  // libarchive's own attempt); the extraction goes on, as tar does.
  std::string tar = dir_ + "/err.tar";
  WriteTar(tar,
           {Dir("./"), File("./plain", "p"), File("./plain/below", "x"), File("./later", "later")});
  auto stats = Extract(tar, Writers(4));
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("'./plain/below'"), std::string::npos)
      << stats.status().message();
  EXPECT_EQ(ReadAll(root_ + "/later"), "later");

  // A full disk stops the extraction, naming the file and the reason.
  std::string small = dir_ + "/small";
  ASSERT_EQ(::mkdir(small.c_str(), 0755), 0);
  ASSERT_EQ(::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=1m,uid=100000,gid=100000,mode=755"),
            0)
      << std::strerror(errno);
  mounts_.push_back(small);
  std::vector<Member> m = {Dir("./")};
  for (int i = 0; i < 40; ++i) m.push_back(File(fmt::format("./f{}", i), std::string(200000, 'z')));
  WriteTar(tar, m);
  auto full = ExtractTarFile(tar, small, map_, Writers(4), &log_);
  ASSERT_FALSE(full.ok()) << log_.All();
  const std::string& msg = full.status().message();
  EXPECT_NE(msg.find("Failed to write './f"), std::string::npos) << msg;
  EXPECT_NE(msg.find("No space left on device"), std::string::npos) << msg;
}

TEST_P(ExtractParallelTest, ReportCountsExistingAndStrippedFiles) {
  Shell("echo old > " + root_ + "/kept && chown 100000:100000 " + root_ + "/kept");
  std::vector<Member> m = {Dir("./"),
                           File("./kept", "new"),
                           File("./suid", "s", 04755),
                           File("./sgid", "g", 02755),
                           File("./plain", "p"),
                           File("./no/parent/file", "parents made by libarchive")};
  std::string tar = dir_ + "/count.tar";
  WriteTar(tar, m);
  ExtractOptions o = Writers(4);
  o.strip_privileges = true;
  auto stats = Extract(tar, o);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(stats->entries, 5u);
  EXPECT_EQ(stats->skipped_existing, 1u);
  EXPECT_EQ(stats->stripped_privileges, 2u);
  EXPECT_EQ(stats->bytes, 3u + 26u);
  EXPECT_EQ(ReadAll(root_ + "/no/parent/file"), "parents made by libarchive");
  EXPECT_EQ(ReadAll(root_ + "/kept"), "old\n");
  EXPECT_EQ(Lstat(root_ + "/suid").st_mode & 07777, 0755u);
}

INSTANTIATE_TEST_SUITE_P(SecureSymlinks, ExtractParallelTest, ::testing::Bool());

}  // namespace
}  // namespace ctdump::extract
