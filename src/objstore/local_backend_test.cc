#include "objstore/local_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <ctime>

#include "objstore/backend_conformance.h"
#include "sys/file.h"

namespace ctdump::objstore {
namespace {

class LocalBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = sys::MakeTempDir("/tmp/ctdump-local-backend-test.");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = *dir;
  }
  void TearDown() override { EXPECT_TRUE(sys::RemoveTree(dir_).ok()); }

  // A fresh, empty store in its own directory below dir_.
  std::unique_ptr<ObjectBackend> MakeStore(const LocalBackendOptions& options = {}) {
    std::string root = dir_ + "/store" + std::to_string(++stores_);
    if (!sys::MakeDirs(root).ok()) return nullptr;
    auto backend = OpenLocalBackend(root, options);
    return backend.ok() ? std::move(*backend) : nullptr;
  }

  std::string dir_;
  int stores_ = 0;
};

class LocalBackendConformance : public LocalBackendTest,
                                public ::testing::WithParamInterface<std::string> {};

TEST_P(LocalBackendConformance, Case) {
  RunBackendConformanceCase(GetParam(), [this] { return MakeStore(); });
}

INSTANTIATE_TEST_SUITE_P(Local, LocalBackendConformance,
                         ::testing::ValuesIn(BackendConformanceCases()),
                         [](const auto& info) { return info.param; });

TEST_F(LocalBackendTest, ConformanceWithPrivateFileMode) {
  RunBackendConformance([this] { return MakeStore({.file_mode = 0600}); });
}

TEST_F(LocalBackendTest, FileAndDirectoryModes) {
  mode_t old_umask = ::umask(077);  // the backend's modes must not depend on it
  auto store = MakeStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->PutIfAbsent("a/b/obj", "x").ok());
  ASSERT_TRUE(store->Put("a/mutable", "y").ok());
  auto priv = MakeStore({.file_mode = 0600, .dir_mode = 0700});
  ASSERT_NE(priv, nullptr);
  ASSERT_TRUE(priv->PutIfAbsent("a/obj", "x").ok());
  ::umask(old_umask);
  auto mode = [](const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0u;
  };
  EXPECT_EQ(mode(dir_ + "/store1/a"), 0755u);
  EXPECT_EQ(mode(dir_ + "/store1/a/b"), 0755u);
  EXPECT_EQ(mode(dir_ + "/store1/a/b/obj"), 0644u);
  EXPECT_EQ(mode(dir_ + "/store1/a/mutable"), 0644u);
  EXPECT_EQ(mode(dir_ + "/store2/a"), 0700u);
  EXPECT_EQ(mode(dir_ + "/store2/a/obj"), 0600u);
}

TEST_F(LocalBackendTest, DescribeAndLayout) {
  ASSERT_TRUE(sys::MakeDirs(dir_ + "/root").ok());
  auto store = OpenLocalBackend(dir_ + "/root/");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->Describe(), "local:" + dir_ + "/root");
  ASSERT_TRUE((*store)->PutIfAbsent("chunks/ab/abcd", "data").ok());
  auto raw = sys::ReadFile(dir_ + "/root/chunks/ab/abcd");
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  EXPECT_EQ(*raw, "data");
}

TEST_F(LocalBackendTest, OpenErrorsNameThePath) {
  auto missing = OpenLocalBackend(dir_ + "/missing");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "Local store directory \"" + dir_ + "/missing\" does not exist");
  ASSERT_TRUE(sys::WriteFileAtomic(dir_ + "/file", "x").ok());
  auto file = OpenLocalBackend(dir_ + "/file");
  EXPECT_EQ(file.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(file.status().message(), "Local store path \"" + dir_ + "/file\" is not a directory");
  EXPECT_EQ(OpenLocalBackend("").status().code(), Code::kInvalidArgument);
}

// A writer that died between creating its temp file and publishing leaves the
// temp behind: it must stay invisible and must not block the next writer.
TEST_F(LocalBackendTest, CrashedWriterLeftoverIsInvisibleAndHarmless) {
  auto store = MakeStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->PutIfAbsent("chunks/ab/other", "o").ok());
  const std::string root = dir_ + "/store1";
  for (const std::string& temp :
       {root + "/chunks/ab/abcd" + std::string(kLocalTempMarker) + "AAAAAAAAAAAA",
        root + "/top" + std::string(kLocalTempMarker) + "BBBBBBBBBBBB"}) {
    ASSERT_TRUE(sys::WriteFileAtomic(temp, "half-writ").ok());
  }
  for (const char* prefix : {"", "chunks/", "chunks/ab/abcd", "top"}) {
    auto listed = store->List(prefix);
    ASSERT_TRUE(listed.ok()) << listed.status().ToString();
    for (const std::string& name : *listed) EXPECT_EQ(name, "chunks/ab/other") << prefix;
  }
  EXPECT_EQ(store->Get("chunks/ab/abcd").status().code(), Code::kNotFound);
  EXPECT_EQ(store->Stat("top").status().code(), Code::kNotFound);

  auto put = store->PutIfAbsent("chunks/ab/abcd", "complete");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_TRUE(*put);
  EXPECT_EQ(*store->Get("chunks/ab/abcd"), "complete");
  ASSERT_TRUE(store->Put("top", "also complete").ok());
  EXPECT_EQ(*store->Get("top"), "also complete");
}

// Successful and failed puts leave no temp files behind.
TEST_F(LocalBackendTest, PutsLeaveNoTempFiles) {
  auto store = MakeStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->PutIfAbsent("d/x", "1").ok());
  ASSERT_TRUE(store->PutIfAbsent("d/x", "2").ok());
  ASSERT_TRUE(store->Put("d/y", "1").ok());
  ASSERT_TRUE(store->Put("d/y", "2").ok());
  ASSERT_TRUE(store->PutIfAbsent("d/z/inner", "1").ok());
  EXPECT_EQ(store->Put("d/z", "onto a directory").code(), Code::kFailedPrecondition);
  EXPECT_EQ(store->PutIfAbsent("d/z", "onto a directory").status().code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(store->PutIfAbsent("d/x/below", "below an object").status().code(),
            Code::kFailedPrecondition);
  auto names = sys::ReadFile(dir_ + "/store1/d/x");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, "1");
  int entries = 0;
  if (DIR* d = ::opendir((dir_ + "/store1/d").c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      ++entries;
      EXPECT_EQ(n.find('~'), std::string::npos) << n;
    }
    ::closedir(d);
  }
  EXPECT_EQ(entries, 3);
}

// A first backup publishing the config of a new store leaves a temp beside
// it for a moment; a second one opening the store then must still see it
// empty (that race failed CI once). Anything else makes it non-empty.
TEST_F(LocalBackendTest, IsEmptyIgnoresOnlyTempsAndLostFound) {
  auto store = MakeStore();
  ASSERT_NE(store, nullptr);
  const std::string root = dir_ + "/store1";
  auto empty = store->IsEmpty();
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(*empty);
  ASSERT_TRUE(sys::MakeDirs(root + "/lost+found").ok());
  ASSERT_TRUE(
      sys::WriteFileAtomic(root + "/config" + std::string(kLocalTempMarker) + "AAAAAAAAAAAA", "{")
          .ok());
  empty = store->IsEmpty();
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(*empty);
  ASSERT_TRUE(sys::WriteFileAtomic(root + "/config.tmp", "{").ok());
  empty = store->IsEmpty();
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_FALSE(*empty);
}

// What killed writers leave: old temporaries go, a live writer's (recent)
// stay; empty directories go bottom-up, the prefix itself and anything
// holding an object stay.
TEST_F(LocalBackendTest, RemoveLeftoversTakesOnlyOldTempsAndEmptyDirectories) {
  auto store = MakeStore();
  ASSERT_NE(store, nullptr);
  const std::string root = dir_ + "/store1";
  ASSERT_TRUE(store->PutIfAbsent("chunks/ab/abcd", "c").ok());
  ASSERT_TRUE(store->Put("snapshots/ct/1/t1/manifest", "m").ok());
  ASSERT_TRUE(sys::MakeDirs(root + "/snapshots/ct/2/t2").ok());  // a deleted snapshot's
  ASSERT_TRUE(sys::MakeDirs(root + "/snapshots/ct/1/t3").ok());
  const std::string marker(kLocalTempMarker);
  const std::string old_chunk_temp = root + "/chunks/ab/abce" + marker + "AAAAAAAAAAAA";
  const std::string old_index_temp =
      root + "/snapshots/ct/1/t3/data.didx" + marker + "BBBBBBBBBBBB";
  const std::string live_temp = root + "/chunks/ab/abcf" + marker + "CCCCCCCCCCCC";
  for (const std::string& t : {old_chunk_temp, old_index_temp, live_temp})
    ASSERT_TRUE(sys::WriteFileAtomic(t, "half-writ").ok());
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  for (const std::string& t : {old_chunk_temp, old_index_temp}) {
    struct timespec ts[2] = {{now - 7200, 0}, {now - 7200, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, t.c_str(), ts, 0), 0);
  }
  const int64_t cutoff = (now - 3600) * 1'000'000'000;

  auto bad = store->RemoveLeftovers("snap", cutoff, true);
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  auto none = store->RemoveLeftovers("nothing/", cutoff, true);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->temps + none->dirs, 0u);

  auto chunks = store->RemoveLeftovers("chunks/", cutoff, false);
  ASSERT_TRUE(chunks.ok()) << chunks.status().ToString();
  EXPECT_EQ(chunks->temps, 1u);
  EXPECT_EQ(chunks->dirs, 0u);
  EXPECT_FALSE(sys::PathExists(old_chunk_temp));
  EXPECT_TRUE(sys::PathExists(live_temp));
  EXPECT_TRUE(sys::PathExists(old_index_temp));  // not below the prefix

  auto snaps = store->RemoveLeftovers("snapshots/", cutoff, true);
  ASSERT_TRUE(snaps.ok()) << snaps.status().ToString();
  EXPECT_EQ(snaps->temps, 1u);
  EXPECT_EQ(snaps->dirs, 3u);  // ct/2/t2, ct/2, ct/1/t3
  EXPECT_FALSE(sys::PathExists(root + "/snapshots/ct/2"));
  EXPECT_FALSE(sys::PathExists(root + "/snapshots/ct/1/t3"));
  EXPECT_EQ(*store->Get("snapshots/ct/1/t1/manifest"), "m");
  EXPECT_TRUE(sys::PathExists(root + "/snapshots"));
  EXPECT_EQ(*store->Get("chunks/ab/abcd"), "c");
  // Everything empty below the root, and puts create their directories again.
  ASSERT_TRUE(store->Delete("snapshots/ct/1/t1/manifest").ok());
  auto all = store->RemoveLeftovers("", cutoff, true);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->dirs, 4u);  // snapshots/ct/1/t1, snapshots/ct/1, snapshots/ct, snapshots
  EXPECT_TRUE(sys::PathExists(root + "/chunks/ab"));
  ASSERT_TRUE(store->Put("snapshots/ct/1/t1/notes", "n").ok());
  ASSERT_TRUE(store->PutIfAbsent("snapshots/ct/1/t1/manifest", "m2").ok());
  EXPECT_EQ(*store->Get("snapshots/ct/1/t1/manifest"), "m2");
}

// A FIFO, a device or a symlink to one in an object's place is refused at
// once, never read (which would block or never end); reads stop at max_size.
TEST_F(LocalBackendTest, GetRefusesNonRegularFilesAndBoundsItsRead) {
  ::alarm(60);  // a hang fails the test instead of blocking it
  auto store = MakeStore();
  ASSERT_NE(store, nullptr);
  const std::string root = dir_ + "/store1";
  ASSERT_TRUE(store->Put("d/big", std::string(1000, 'x')).ok());
  ASSERT_EQ(::mkfifo((root + "/d/fifo").c_str(), 0600), 0);
  ASSERT_EQ(::mknod((root + "/d/zero").c_str(), S_IFCHR | 0600, makedev(1, 5)), 0);
  ASSERT_EQ(::symlink("/dev/zero", (root + "/d/link").c_str()), 0);
  for (const char* name : {"d/fifo", "d/zero", "d/link"}) {
    auto got = store->Get(name);
    ASSERT_FALSE(got.ok()) << name;
    EXPECT_EQ(got.status().code(), Code::kFailedPrecondition) << got.status().ToString();
    EXPECT_NE(got.status().message().find(root + "/" + name), std::string::npos)
        << got.status().message();
    EXPECT_NE(got.status().message().find("not a regular file"), std::string::npos)
        << got.status().message();
  }
  auto big = store->Get("d/big", 999);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), Code::kDataLoss);
  EXPECT_NE(big.status().message().find("d/big"), std::string::npos) << big.status().message();
  EXPECT_NE(big.status().message().find("999"), std::string::npos) << big.status().message();
  EXPECT_EQ(store->Get("d/big", 1000)->size(), 1000u);
  ::alarm(0);
}

// Foreign files (symlinks, sockets, names outside the alphabet) are not objects.
TEST_F(LocalBackendTest, ForeignFilesAreNotObjects) {
  auto store = MakeStore();
  ASSERT_NE(store, nullptr);
  const std::string root = dir_ + "/store1";
  ASSERT_TRUE(sys::WriteFileAtomic(root + "/target", "t").ok());
  ASSERT_EQ(::symlink("target", (root + "/link").c_str()), 0);
  ASSERT_TRUE(sys::WriteFileAtomic(root + "/with space", "s").ok());
  auto listed = store->List("");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(*listed, std::vector<std::string>{"target"});
  EXPECT_EQ(store->Get("link").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(store->Stat("link").status().code(), Code::kFailedPrecondition);
}

}  // namespace
}  // namespace ctdump::objstore
