// Who reads the tree: the tree writer as "nobody" (permission checks apply,
// unreadable files are skipped with a warning) and as root (owners, devices,
// capabilities; other file systems are not entered).
#include "archive/tree_writer_test_fixture.h"

namespace ctdump::archive {
namespace {

// Runs WriteTree as "nobody" when we are root (root reads everything), so
// permission checks apply. Returns the warnings and the unreadable count.
struct Unprivileged {
  bool ok = false;
  std::string text;  // warnings, one per line, or the error
  uint64_t unreadable = 0;
};

Unprivileged WriteAsNobody(const std::string& dir, const std::string& out) {
  int pipe_fds[2];
  EXPECT_EQ(::pipe(pipe_fds), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    if (::geteuid() == 0 &&
        (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
         ::setresuid(65534, 65534, 65534) != 0))
      ::_exit(3);
    RecordingObserver obs;
    int fd = ::open(out.c_str(), O_WRONLY);
    auto st = WriteTree(dir, {"./"}, TreeWriterOptions(), fd, &obs);
    std::string text = st.ok() ? fmt::format("{}\n", st->unreadable) : st.status().message();
    for (const auto& w : obs.warnings) text += w + "\n";
    [[maybe_unused]] ssize_t n = ::write(pipe_fds[1], text.data(), text.size());
    ::_exit(st.ok() ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0) text.append(buf, n);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  Unprivileged r;
  r.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!r.ok) {
    r.text = text;
    return r;
  }
  size_t nl = text.find('\n');
  r.unreadable = std::stoull(text.substr(0, nl));
  r.text = text.substr(nl + 1);
  return r;
}

TEST_F(TreeWriterTest, UnreadableEntriesAreSkippedWithAWarning) {
  WriteFile(P("readable"), "ok");
  WriteFile(P("secret"), "no", 0600);
  ASSERT_EQ(::mkdir(P("locked").c_str(), 0700), 0);
  WriteFile(P("locked/inner"), "no");
  if (::geteuid() != 0) {
    ASSERT_EQ(::chmod(P("secret").c_str(), 0), 0);
    ASSERT_EQ(::chmod(P("locked").c_str(), 0), 0);
  }
  archive_ = base_ + "/out.tar.zst";
  WriteFile(archive_, "", 0666);
  Unprivileged r = WriteAsNobody(src_, archive_);
  ASSERT_TRUE(r.ok) << r.text;
  EXPECT_EQ(r.unreadable, 2u);
  EXPECT_EQ(r.text,
            "unable to read '/locked': Permission denied\n"
            "unable to read '/secret': Permission denied\n");
  EXPECT_EQ(Members(), (std::vector<std::string>{"./", "./locked/", "./readable"}));
}

// Root only from here on.
class RootTreeWriterTest : public TreeWriterTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    TreeWriterTest::SetUp();
  }
};

TEST_F(RootTreeWriterTest, OwnersDevicesAndCapabilitiesSurvive) {
  WriteFile(P("owned"), "o");
  ASSERT_EQ(::chown(P("owned").c_str(), 1000, 2000), 0);
  ASSERT_EQ(::mkdir(P("dev").c_str(), 0755), 0);
  ASSERT_EQ(::mknod(P("dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  ASSERT_EQ(::mknod(P("dev/loop9").c_str(), S_IFBLK | 0660, makedev(7, 9)), 0);
  ASSERT_EQ(::chmod(P("dev/null").c_str(), 0666), 0);
  WriteFile(P("ping"), "#!/bin/sh\n", 0755);
  Sh("setcap cap_net_raw+ep " + Quote(P("ping")));
  ASSERT_TRUE(Write(TreeWriterOptions()).ok());
  auto list = TarList();
  EXPECT_THAT(list, ::testing::Contains("-rw-r--r-- 1000/2000 ./owned"));
  EXPECT_THAT(list, ::testing::Contains("crw-rw-rw- 0/0 ./dev/null"));
  std::map<std::string, MemberInfo> m;
  for (auto& [name, info] : ReadWithLibarchive(archive_)) m[name] = info;
  EXPECT_EQ(m["./ping"].xattrs.count("security.capability"), 1u);
  std::string dest = Extract();
  ExpectSameTree(dest);
  EXPECT_THAT(Sh("getcap " + Quote(dest + "/ping")), HasSubstr("cap_net_raw=ep"));
}

TEST_F(RootTreeWriterTest, OtherFileSystemsAreNotEntered) {
  ASSERT_EQ(::mkdir(P("mnt").c_str(), 0755), 0);
  WriteFile(P("top"), "t");
  std::string one = base_ + "/one.tar", two = base_ + "/two.tar";
  pid_t pid = ::fork();
  if (pid == 0) {
    // A private mount namespace: the tmpfs vanishes with this child.
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("tmpfs", P("mnt").c_str(), "tmpfs", 0, "mode=0755") != 0)
      ::_exit(2);
    std::ofstream(P("mnt/inner")) << "i";
    RecordingObserver obs;
    TreeWriterOptions o;
    o.compression = Compression::kNone;
    int fd1 = ::open(one.c_str(), O_WRONLY | O_CREAT, 0644);
    int fd2 = ::open(two.c_str(), O_WRONLY | O_CREAT, 0644);
    bool ok = WriteTree(src_, {"./"}, o, fd1, &obs).ok() &&
              WriteTree(src_, {"./", "./mnt"}, o, fd2, &obs).ok();
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  archive_ = one;
  EXPECT_EQ(Members(), (std::vector<std::string>{"./", "./mnt/", "./top"}));
  archive_ = two;
  EXPECT_EQ(Members(), (std::vector<std::string>{"./", "./top", "./mnt/", "./mnt/inner"}));
}

}  // namespace
}  // namespace ctdump::archive
