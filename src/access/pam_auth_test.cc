// PAM against a real Linux user (root only): the test creates
// ctdump-t-<pid> with useradd and chpasswd and always removes it; it installs
// packaging/pam.d/ctdump as /etc/pam.d/ctdump only if that file is absent,
// and removes it afterwards only if it installed it.
#include "access/pam_auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "sys/file.h"

namespace ctdump::access {
namespace {

constexpr char kPamFile[] = "/etc/pam.d/ctdump";

TEST(PamAuthTest, EmptyPasswordIsRefusedBeforePam) {
  Status s = PamAuthenticate({"ctdump-no-such-service", "root", "", ""});
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  EXPECT_EQ(s.message(), "pam: empty password");
}

class PamRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (useradd, /etc/pam.d)";
    user_ = "ctdump-t-" + std::to_string(::getpid());
    if (!sys::PathExists(kPamFile)) {
      auto text = sys::ReadFile(std::string(CTDUMP_SOURCE_DIR) + "/packaging/pam.d/ctdump");
      ASSERT_TRUE(text.ok()) << text.status().message();
      ASSERT_TRUE(sys::WriteFileAtomic(kPamFile, *text, 0644).ok());
      installed_pam_ = true;
    }
    ASSERT_EQ(Sh("useradd -M -s /usr/sbin/nologin " + user_), 0);
    created_ = true;
    ASSERT_EQ(Sh("echo '" + user_ + ":" + kPassword + "' | chpasswd"), 0);
  }
  void TearDown() override {
    if (created_) {
      EXPECT_EQ(Sh("userdel " + user_), 0);
    }
    if (installed_pam_) ::unlink(kPamFile);
  }
  static int Sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

  static constexpr char kPassword[] = "Corr3ct-horse-battery";
  std::string user_;
  bool created_ = false;
  bool installed_pam_ = false;
};

TEST_F(PamRootTest, RightAndWrongPassword) {
  EXPECT_TRUE(PamAuthenticate({kPamService, user_, kPassword, "203.0.113.5"}).ok());
  Status wrong = PamAuthenticate({kPamService, user_, "wrong-password", "203.0.113.5"});
  EXPECT_EQ(wrong.code(), Code::kPermissionDenied);
  EXPECT_EQ(wrong.message().find("wrong-password"), std::string::npos);
  EXPECT_EQ(PamAuthenticate({kPamService, user_ + "-nobody", kPassword, ""}).code(),
            Code::kPermissionDenied);
}

TEST_F(PamRootTest, LockedAccountFails) {
  ASSERT_EQ(Sh("usermod -L " + user_), 0);
  EXPECT_FALSE(PamAuthenticate({kPamService, user_, kPassword, ""}).ok());
}

}  // namespace
}  // namespace ctdump::access
