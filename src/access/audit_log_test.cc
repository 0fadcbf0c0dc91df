#include "access/audit_log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "sys/file.h"

namespace ctdump::access {
namespace {

constexpr int64_t kT = 1796464803;  // 2026-12-05T10:00:03Z

TEST(AuditLogTest, DesignExamples) {
  EXPECT_EQ(FormatAuditLine(kT, "login-fail",
                            {{"client", "203.0.113.5"},
                             {"user", "alice@pam"},
                             {"reason", "pam: authentication failure"}}),
            "2026-12-05T10:00:03Z login-fail client=203.0.113.5 user=alice@pam "
            "reason=\"pam: authentication failure\"");
  EXPECT_EQ(FormatAuditLine(kT, "denied",
                            {{"user", "alice@pam"},
                             {"status", "403"},
                             {"reason", "Permission check failed (/, Sys.Modify)"}}),
            "2026-12-05T10:00:03Z denied user=alice@pam status=403 "
            "reason=\"Permission check failed (/, Sys.Modify)\"");
}

TEST(AuditLogTest, ValueQuotingAndEscaping) {
  const std::pair<std::string, std::string> cases[] = {
      {"plain", "plain"},
      {"", "\"\""},
      {"a b", "\"a b\""},
      {"a\"b", "\"a\\\"b\""},
      {"a=b", "\"a=b\""},
      {"a\\b", "\"a\\\\b\""},
      {"line\nuser=root@pam", "\"line\\nuser=root@pam\""},
      {"cr\rtab\t", "\"cr\\rtab\\t\""},
      {std::string("nul\0x", 5), "nul\\x00x"},
      {"esc\x1b[31m", "esc\\x1b[31m"},
      {"del\x7f", "del\\x7f"},
      {"caf\xc3\xa9", "caf\xc3\xa9"},      // UTF-8 kept
      {"bad\xff\xc3", "bad\\xff\\xc3"},    // not UTF-8
      {"c1\xc2\x85", "c1\\xc2\\x85"},      // U+0085 (NEL) is a control
      {"over\xc0\xaf", "over\\xc0\\xaf"},  // overlong
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(AuditValue(in), want) << want;
}

TEST(AuditLogTest, WritesAppendOnly) {
  std::string dir = *sys::MakeTempDir("/tmp/ctdump-access-test.");
  std::string path = dir + "/log/audit.log";
  {
    Result<AuditLog> log = AuditLog::Open(path);
    ASSERT_TRUE(log.ok()) << log.status().message();
    ASSERT_TRUE(log->Write(kT, "login-ok", {{"client", "::1"}, {"user", "root@pam"}}).ok());
  }
  Result<AuditLog> log = AuditLog::Open(path);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE(log->Write(kT + 1, "write", {{"method", "POST"}, {"params", "vmid,storage"}}).ok());
  EXPECT_EQ(*sys::ReadFile(path),
            "2026-12-05T10:00:03Z login-ok client=::1 user=root@pam\n"
            "2026-12-05T10:00:04Z write method=POST params=vmid,storage\n");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  sys::RemoveTree(dir).IgnoreError();
}

}  // namespace
}  // namespace ctdump::access
