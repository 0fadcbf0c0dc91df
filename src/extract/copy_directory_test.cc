// Needs root (label "root"): the `directory` restore mechanism, a provider's
// directory streamed into the extraction (extract.h CopyDirectory).
#include "extract/extract_test_fixture.h"

namespace ctdump::extract {
namespace {

TEST_F(ExtractTest, DirectoryMechanismRoundTripCrossesMountPoints) {
  std::string src = dir_ + "/restore-dir";
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  MakeTree(src);
  // A provider may mount a volume below its restore directory.
  std::string volume = dir_ + "/volume";
  Shell("mkdir -p " + volume + " " + src + "/mnt/data && echo vol > " + volume +
        "/file && chown 1000:1000 " + volume + "/file");
  ASSERT_EQ(::mount(volume.c_str(), (src + "/mnt/data").c_str(), nullptr, MS_BIND, nullptr), 0)
      << std::strerror(errno);
  mounts_.push_back(src + "/mnt/data");
  Shell("cd " + src +
        " && python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind('sock')\"");
  Shell("touch -h -d @" + std::to_string(kMtime) + " " + src + "/mnt " + src + "/mnt/data");

  auto stats = CopyDirectory(src, root_, map_, {}, &log_);
  ASSERT_TRUE(stats.ok()) << stats.status().message() << "\n" << log_.All();
  CheckTree(root_);
  EXPECT_EQ(ReadAll(root_ + "/mnt/data/file"), "vol\n");
  EXPECT_EQ(Lstat(root_ + "/mnt/data/file").st_uid, 101000u);
  EXPECT_FALSE(sys::PathExists(root_ + "/sock")) << "sockets are not copied";
  EXPECT_FALSE(log_.Has("WARN")) << log_.All();
  ExpectNothingOutside();

  // Again with a bandwidth limit: everything exists, so all is kept.
  ExtractOptions o;
  o.bwlimit = 64 << 20;
  auto again = CopyDirectory(src, root_, map_, o, &log_);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_GT(again->skipped_existing, 15u);
  EXPECT_EQ(again->entries, stats->entries - again->skipped_existing);
}

// What a provider's directory holds arrives exactly: nanosecond mtimes of
// files and directories, a name that is not UTF-8 (without a warning), and
// the root's own mode and mtime, set after everything below it.
TEST_F(ExtractTest, DirectoryMechanismKeepsNanosecondsOddNamesAndTheRootsMetadata) {
  std::string src = dir_ + "/exact";
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  Shell("cd " + src +
        " && mkdir d && echo x > d/f && echo y > f && printf z > \"$(printf 'bad-\\377')\"" +
        " && touch -h -d @1600000000.123456789 f d/f d && chmod 0751 . && touch -h -d " +
        "@1500000000.987654321 .");
  // Into an existing directory (restore-file's --target): its own mode and
  // times stay.
  struct stat before = Lstat(root_);
  auto kept = CopyDirectory(src, root_, map_, {}, &log_);
  ASSERT_TRUE(kept.ok()) << kept.status().message() << "\n" << log_.All();
  EXPECT_EQ(Lstat(root_).st_mode, before.st_mode);
  EXPECT_NE(Lstat(root_).st_mtim.tv_sec, 1500000000);
  // Into a new root, as a restore makes it: the backup's.
  std::string made = dir_ + "/made-root";
  ASSERT_EQ(::mkdir(made.c_str(), 0755), 0);
  ASSERT_EQ(::chown(made.c_str(), before.st_uid, before.st_gid), 0);
  ExtractOptions o;
  o.set_root_metadata = true;
  auto stats = CopyDirectory(src, made, map_, o, &log_);
  ASSERT_TRUE(stats.ok()) << stats.status().message() << "\n" << log_.All();
  for (const char* name : {"/f", "/d/f", "/d"}) {
    struct stat st = Lstat(made + name);
    EXPECT_EQ(st.st_mtim.tv_sec, 1600000000) << name;
    EXPECT_EQ(st.st_mtim.tv_nsec, 123456789) << name;
  }
  EXPECT_EQ(ReadAll(made + "/bad-\xff"), "z");
  struct stat root = Lstat(made);
  EXPECT_EQ(root.st_mtim.tv_sec, 1500000000);
  EXPECT_EQ(root.st_mtim.tv_nsec, 987654321);
  EXPECT_EQ(root.st_mode & 07777, 0751u);
  EXPECT_FALSE(log_.Has("WARN")) << log_.All();
  // What the stream held, as verify reports it: ".", d, d/f, f and the odd
  // name; 2 + 2 + 1 bytes of data.
  DirStreamStats counted;
  ASSERT_TRUE(
      StreamDirectory(src, {[](const void*, size_t) { return Status::OK(); }, [] { return false; }},
                      &log_, &counted)
          .ok());
  EXPECT_EQ(counted.entries, 5u);
  EXPECT_EQ(counted.data_bytes, 5u);
}

// A provider's directory holding a file that is one 1 TiB hole: streamed
// and written as a hole, in seconds.
TEST_F(ExtractTest, DirectoryMechanismKeepsAHugeHoleCheap) {
  std::string src = dir_ + "/holes";
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  Shell("truncate -s 1T " + src + "/hole && printf end >> " + src + "/hole");
  auto started = std::chrono::steady_clock::now();
  auto stats = CopyDirectory(src, root_, map_, {}, &log_);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_TRUE(stats.ok()) << stats.status().message() << "\n" << log_.All();
  struct stat st = Lstat(root_ + "/hole");
  EXPECT_EQ(st.st_size, (off_t{1} << 40) + 3);
  EXPECT_LT(st.st_blocks * 512, 1 << 20);
  EXPECT_LT(seconds, 30) << "a hole took " << seconds << " s";
  std::cerr << "1 TiB hole through the directory mechanism: " << seconds << " s\n";
}

TEST_F(ExtractTest, DirectoryMechanismChecksItsInput) {
  auto r = CopyDirectory(dir_ + "/missing", root_, map_, {}, &log_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "not a directory '" + dir_ + "/missing'");
  // A provider's directory that is a symlink (to "/") was walked as one
  // symlink: 0 entries and success.
  ASSERT_EQ(::symlink("/", (dir_ + "/to-root").c_str()), 0);
  r = CopyDirectory(dir_ + "/to-root", root_, map_, {}, &log_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "restore directory '" + dir_ +
                                      "/to-root' is a symbolic link: refusing it (the provider "
                                      "must name the directory itself)");
  EXPECT_EQ(Shell("test -z \"$(ls -A " + root_ + ")\""), 0);
  // "<link>/." passed the check of the last component and followed the link.
  for (const std::string& via : {dir_ + "/to-root/.", dir_ + "/to-root/etc/.."}) {
    r = CopyDirectory(via, root_, map_, {}, &log_);
    ASSERT_FALSE(r.ok()) << via;
    EXPECT_NE(r.status().message().find("through a symbolic link"), std::string::npos)
        << r.status().message();
  }
  r = CopyDirectory("/", root_, map_, {}, &log_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("host's root directory"), std::string::npos);
  EXPECT_EQ(Shell("test -z \"$(ls -A " + root_ + ")\""), 0);
  // The walk refuses a source that is no directory on its own as well.
  std::string out;
  Status s = StreamDirectory(dir_ + "/to-root",
                             {[&out](const void* d, size_t n) {
                                out.append(static_cast<const char*>(d), n);
                                return Status::OK();
                              },
                              [] { return false; }},
                             &log_);
  EXPECT_EQ(s.message(), "'" + dir_ + "/to-root' is not a directory");
}

}  // namespace
}  // namespace ctdump::extract
