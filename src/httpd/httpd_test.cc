#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "httpd/assets.h"
#include "httpd/confine.h"
#include "httpd/gzip.h"
#include "sys/file.h"

namespace ctdump::httpd {
namespace {

class AssetsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = sys::MakeTempDir("/tmp/ctdump-httpd-test.");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
  }
  void TearDown() override { (void)sys::RemoveTree(dir_); }
  void Write(const std::string& rel, const std::string& content) {
    std::string p = dir_ + "/" + rel;
    ASSERT_TRUE(sys::MakeDirs(p.substr(0, p.rfind('/'))).ok());
    ASSERT_TRUE(sys::WriteFileAtomic(p, content).ok());
  }
  std::string dir_;
};

TEST_F(AssetsTest, TagChangesWithContentAndIsSubstituted) {
  Write("index.html", "<script type=module src=\"@ASSETS@/app.js\"></script>@ASSETS@");
  Write("app.js", std::string(4000, 'a'));
  Write("views/x.js", "x");
  Write(".hidden", "no");
  Write("bad name.js", "no");
  ASSERT_EQ(::symlink("/etc/passwd", (dir_ + "/passwd.js").c_str()), 0);
  auto a = LoadAssets(dir_);
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_EQ(a->tag.size(), 12u);
  EXPECT_EQ(a->index_html, "<script type=module src=\"/static/" + a->tag + "/app.js\"></script>" +
                               "/static/" + a->tag);
  ASSERT_NE(a->Find("app.js"), nullptr);
  EXPECT_EQ(a->Find("app.js")->content_type, "text/javascript; charset=utf-8");
  EXPECT_FALSE(a->Find("app.js")->gzipped.empty());  // 4000 'a' compress well
  ASSERT_NE(a->Find("views/x.js"), nullptr);
  EXPECT_TRUE(a->Find("views/x.js")->gzipped.empty());  // too small to bother
  EXPECT_EQ(a->Find(".hidden"), nullptr);
  EXPECT_EQ(a->Find("bad name.js"), nullptr);
  EXPECT_EQ(a->Find("passwd.js"), nullptr);   // symlinks are not followed
  EXPECT_EQ(a->Find("index.html"), nullptr);  // served as / only
  EXPECT_EQ(a->Find("../index.html"), nullptr);

  std::string tag = a->tag;
  Write("views/x.js", "y");
  auto b = LoadAssets(dir_);
  ASSERT_TRUE(b.ok());
  EXPECT_NE(b->tag, tag);
}

TEST_F(AssetsTest, MissingIndexOrDirectoryIsNamed) {
  auto a = LoadAssets(dir_ + "/nope");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), Code::kNotFound);
  EXPECT_NE(a.status().message().find(dir_ + "/nope"), std::string::npos);
  Write("app.js", "x");
  a = LoadAssets(dir_);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("index.html"), std::string::npos);
}

TEST(GzipTest, RoundTripsThroughZcat) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "{\"vmid\":" + std::to_string(i) + ",\"status\":\"ok\"}";
  std::string z = Gzip(text);
  ASSERT_FALSE(z.empty());
  EXPECT_LT(z.size(), text.size() / 5);
  char path[] = "/tmp/ctdump-gzip-test.XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(sys::WriteAll(fd, z, path).ok());
  ::close(fd);
  FILE* p = ::popen((std::string("zcat ") + path).c_str(), "r");
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  EXPECT_EQ(::pclose(p), 0);
  ::unlink(path);
  EXPECT_EQ(out, text);
}

TEST(GzipTest, AcceptEncoding) {
  struct {
    const char* header;
    bool gzip;
  } cases[] = {
      {"gzip", true},
      {"gzip, deflate, br", true},
      {"deflate, GZIP;q=0.5", true},
      {"br;q=1.0, gzip;q=0.8, *;q=0.1", true},
      {"gzip;q=0", false},
      {"gzip;q=0.000", false},
      {"identity", false},
      {"", false},
      {"xgzip", false},
      {"gzipx", false},
  };
  for (const auto& c : cases) EXPECT_EQ(AcceptsGzip(c.header), c.gzip) << c.header;
}

// Root: the proxy's confinement, in a child process.
TEST(ConfineTest, RootDropsEverything) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  auto d = sys::MakeTempDir("/tmp/ctdump-confine-test.");
  ASSERT_TRUE(d.ok());
  std::string root = *d + "/root";
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(pipefd[0]);
    // /proc is read before the chroot hides it; the status after the drop
    // through the descriptor opened before.
    int status_fd = ::open("/proc/self/status", O_RDONLY);
    ConfineOptions o;
    o.user = "nobody";
    o.root = root;
    Status s = Confine(o);
    std::string report = s.ok() ? "ok\n" : "error " + s.message() + "\n";
    char buf[8192];
    ssize_t n = ::pread(status_fd, buf, sizeof(buf), 0);
    if (n > 0) report.append(buf, static_cast<size_t>(n));
    report += ::open("/etc/passwd", O_RDONLY) < 0 ? "passwd:hidden\n" : "passwd:visible\n";
    report += ::open("/", O_RDONLY | O_DIRECTORY) >= 0 && ::mkdir("/x", 0700) != 0
                  ? "root:readonly\n"
                  : "root:writable\n";
    (void)!::write(pipefd[1], report.data(), report.size());
    ::_exit(0);
  }
  ::close(pipefd[1]);
  std::string report;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof(buf))) > 0;)
    report.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  (void)sys::RemoveTree(*d);
  ASSERT_EQ(report.substr(0, 3), "ok\n") << report;
  EXPECT_NE(report.find("Uid:\t65534\t65534\t65534\t65534"), std::string::npos) << report;
  EXPECT_NE(report.find("Gid:\t65534\t65534\t65534\t65534"), std::string::npos) << report;
  EXPECT_NE(report.find("Groups:\t \n"), std::string::npos) << report;
  EXPECT_NE(report.find("CapEff:\t0000000000000000"), std::string::npos) << report;
  EXPECT_NE(report.find("NoNewPrivs:\t1"), std::string::npos) << report;
  EXPECT_NE(report.find("passwd:hidden"), std::string::npos) << report;
  EXPECT_NE(report.find("root:readonly"), std::string::npos) << report;
}

TEST(ConfineTest, RootRefusesAMissingUserOrAWritableRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  auto a = LookUpAccount("ctdump-no-such-user");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("adduser --system --group --no-create-home"),
            std::string::npos);
  EXPECT_FALSE(LookUpAccount("root").ok());
  auto d = sys::MakeTempDir("/tmp/ctdump-confine-test.");
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(::chmod(d->c_str(), 0777), 0);
  EXPECT_FALSE(PrepareEmptyRoot(*d).ok());
  ASSERT_EQ(::chmod(d->c_str(), 0555), 0);
  EXPECT_TRUE(PrepareEmptyRoot(*d).ok());
  ASSERT_EQ(::chmod(d->c_str(), 0755), 0);
  ASSERT_TRUE(sys::WriteFileAtomic(*d + "/f", "x").ok());
  EXPECT_FALSE(PrepareEmptyRoot(*d).ok());
  (void)sys::RemoveTree(*d);
}

}  // namespace
}  // namespace ctdump::httpd
