// Needs root (label "root"): checks what a program spawned as a container's
// root can see and read, with the real kernel.
#include "userns/userns.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include "sys/file.h"

namespace ctdump::userns {
namespace {

std::string RunCapture(const IdMap& map, const std::string& script, int* wait_status = nullptr) {
  sys::SpawnOptions o;
  o.argv = {"/bin/sh", "-c", script};
  o.pipe_stdout = true;
  auto p = SpawnAsContainerRoot(map, o);
  EXPECT_TRUE(p.ok()) << p.status().message();
  if (!p.ok()) return "";
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p->stdout_fd().get(), buf, sizeof(buf))) > 0) out.append(buf, n);
  auto st = p->Wait();
  EXPECT_TRUE(st.ok());
  if (wait_status) *wait_status = *st;
  return out;
}

class UsernsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    char tmpl[] = "/var/tmp/ctdump-userns-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);  // container root must traverse
    Make("ctroot", 100000, 100000, 0600, "ct-root-data");
    Make("ct1000", 101000, 101000, 0600, "ct-1000-data");
    Make("hostroot", 0, 0, 0600, "host-secret");
    Make("hostroot640", 0, 0, 0640, "host-secret-640");
    Make("unmapped", 200000, 200000, 0644, "unmapped-data");
    auto m = IdMap::Parse({"u 0 100000 65536", "g 0 100000 65536"}, true);
    ASSERT_TRUE(m.ok()) << m.status().message();
    map_ = *m;
  }
  void TearDown() override {
    if (!dir_.empty()) {
      ASSERT_TRUE(sys::RemoveTree(dir_).ok());
    }
  }
  void Make(const std::string& name, uid_t uid, gid_t gid, mode_t mode, const std::string& data) {
    std::string p = dir_ + "/" + name;
    std::ofstream(p) << data;
    ASSERT_EQ(::chown(p.c_str(), uid, gid), 0);
    ASSERT_EQ(::chmod(p.c_str(), mode), 0);
  }
  std::string dir_;
  IdMap map_;
};

TEST_F(UsernsTest, RunsAsRootInsideWithGroupsDropped) {
  std::string out = RunCapture(map_, "id -u; id -g; id -G");
  EXPECT_EQ(out, "0\n0\n0\n");
}

TEST_F(UsernsTest, SeesContainerOwners) {
  std::string out =
      RunCapture(map_, "cd " + dir_ + " && stat -c '%n %u:%g' ctroot ct1000 hostroot unmapped");
  EXPECT_EQ(out, "ctroot 0:0\nct1000 1000:1000\nhostroot 65534:65534\nunmapped 65534:65534\n");
}

TEST_F(UsernsTest, ReadsContainerFilesButNotHostRootFiles) {
  std::string out =
      RunCapture(map_, "cd " + dir_ +
                           " && for f in ctroot ct1000 hostroot hostroot640 unmapped; do "
                           "if cat $f >/dev/null 2>&1; then echo $f READ; else echo $f "
                           "DENY; fi; done");
  EXPECT_EQ(out, "ctroot READ\nct1000 READ\nhostroot DENY\nhostroot640 DENY\nunmapped READ\n");
}

TEST_F(UsernsTest, CannotWriteIntoHostRootDirectory) {
  std::string out =
      RunCapture(map_, "touch " + dir_ + "/new 2>/dev/null && echo WROTE || echo DENY");
  EXPECT_EQ(out, "DENY\n");
  EXPECT_FALSE(sys::PathExists(dir_ + "/new"));
}

TEST_F(UsernsTest, FilesCreatedAreOwnedByMappedRoot) {
  std::string sub = dir_ + "/ctdir";
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  ASSERT_EQ(::chown(sub.c_str(), 100000, 100000), 0);
  RunCapture(map_, "echo x > " + sub + "/f");
  struct stat st;
  ASSERT_EQ(::stat((sub + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 100000u);
  EXPECT_EQ(st.st_gid, 100000u);
}

TEST_F(UsernsTest, CustomMapAndPartialRanges) {
  auto m = IdMap::Parse({"u 0 100000 1000", "u 1000 101000 1", "g 0 100000 65536"}, true);
  ASSERT_TRUE(m.ok()) << m.status().message();
  std::string out = RunCapture(*m, "cd " + dir_ + " && stat -c '%u:%g' ctroot ct1000");
  EXPECT_EQ(out, "0:0\n1000:1000\n");
}

TEST_F(UsernsTest, EmptyMapRunsAsHostRoot) {
  std::string out = RunCapture(IdMap(), "id -u; cat " + dir_ + "/hostroot");
  EXPECT_EQ(out, "0\nhost-secret");
}

TEST_F(UsernsTest, ExecFailureNamesTheMapAndProgram) {
  sys::SpawnOptions o;
  o.argv = {"/nonexistent/provider"};
  auto p = SpawnAsContainerRoot(map_, o);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("/nonexistent/provider"), std::string::npos);
  EXPECT_NE(p.status().message().find("u 0 100000 65536"), std::string::npos)
      << p.status().message();
}

}  // namespace
}  // namespace ctdump::userns

namespace ctdump::userns {
namespace {

TEST_F(UsernsTest, MapReachingHostRootIsRefused) {
  auto m = IdMap::Parse({"u 0 100000 65536", "u 65536 0 1", "g 0 100000 65536"}, true);
  ASSERT_TRUE(m.ok()) << m.status().message();
  sys::SpawnOptions o;
  o.argv = {"/bin/true"};
  auto p = SpawnAsContainerRoot(*m, o);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kPermissionDenied);
  EXPECT_NE(p.status().message().find("host id 0"), std::string::npos);
}

TEST_F(UsernsTest, InheritedDescriptorsDoNotReachTheWorker) {
  int fd = ::open(dir_.c_str(), O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(fd, 0);
  std::string out = RunCapture(map_, "ls /proc/self/fd | sort -n | tr '\\n' ' '");
  ::close(fd);
  EXPECT_EQ(out, "0 1 2 3 ");  // 3 is ls's own directory handle
}

}  // namespace
}  // namespace ctdump::userns

namespace ctdump::userns {
namespace {

TEST_F(UsernsTest, ForkedFunctionRunsAsContainerRoot) {
  sys::SpawnOptions o;
  o.argv = {"extract-test"};
  std::string dir = dir_;
  auto p = ForkAsContainerRoot(map_, o, [dir]() -> int {
    if (::getuid() != 0 || ::getgid() != 0) return 10;
    if (::open((dir + "/hostroot").c_str(), O_RDONLY) >= 0) return 11;
    if (::open((dir + "/ctroot").c_str(), O_RDONLY) < 0) return 12;
    if (::fcntl(5, F_GETFD) >= 0) return 13;  // ctdump's descriptors are closed
    return 0;
  });
  ASSERT_TRUE(p.ok()) << p.status().message();
  auto st = p->Wait();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(sys::DescribeWaitStatus(*st), "exited with code 0");
}

}  // namespace
}  // namespace ctdump::userns
