#include "server/access_state.h"

#include <gtest/gtest.h>

#include <atomic>

#include "sys/file.h"

namespace ctdump::server {
namespace {

class AccessStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = sys::MakeTempDir("/tmp/ctdump-access-state-test.");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
    ASSERT_TRUE(sys::WriteFileAtomic(dir_ + "/user.cfg",
                                     "user:alice@pam:1:0::::::\n"
                                     "user:off@pam:0:0::::::\n"
                                     "user:bot@ctdump:1:0::::::\n"
                                     "user:bob@pam:1:0::::::\n"
                                     "acl:1:/:alice@pam:PVEAuditor:\n"
                                     "acl:1:/vms:alice@pam:PVEVMUser:\n"
                                     "acl:1:/storage/store:bob@pam:PVEDatastoreUser:\n"
                                     "acl:1:/vms/web:bob@pam:PVEVMUser:\n")
                    .ok());
    auto s = AccessState::Open(
        dir_, dir_ + "/audit.log",
        [this](const std::string& user, const std::string& password, const std::string&) -> Status {
          ++pam_calls_;
          if (user == "alice" && password == "right") return Status::OK();
          if (user == "off" && password == "right") return Status::OK();
          if (user == "bob" && password == "right") return Status::OK();
          return PermissionDeniedError("pam: Authentication failure");
        });
    ASSERT_TRUE(s.ok()) << s.status().message();
    state_ = std::move(*s);
  }
  void TearDown() override {
    state_.reset();
    (void)sys::RemoveTree(dir_);
  }
  std::string Audit() {
    auto text = sys::ReadFile(dir_ + "/audit.log");
    return text.ok() ? *text : "";
  }

  std::string dir_;
  std::unique_ptr<AccessState> state_;
  std::atomic<int> pam_calls_{0};
  const int64_t now_ = ::time(nullptr);
};

TEST_F(AccessStateTest, LoginIssuesATicketThatAuthenticatesAsCookieAndHeader) {
  auto r = state_->Login("alice@pam", "right", {}, "192.0.2.1", now_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->username, "alice@pam");
  EXPECT_FALSE(r->renewed);
  EXPECT_EQ(r->cap["dc"].value("Sys.Audit", 0), 1);
  EXPECT_EQ(r->cap["vms"].value("VM.Backup", 0), 1);
  EXPECT_FALSE(r->cap["dc"].contains("Sys.Modify"));
  for (const RequestHeaders& h :
       {RequestHeaders{{"cookie", "other=1; PVEAuthCookie=" + r->ticket}},
        RequestHeaders{{"authorization", "PVEAuthCookie=" + r->ticket}}}) {
    auto id = state_->Authenticate(h, "192.0.2.1", now_);
    ASSERT_TRUE(id.ok()) << id.status().message();
    EXPECT_EQ(id->caller.userid, "alice@pam");
    EXPECT_TRUE(id->caller.tokenid.empty());
    EXPECT_TRUE(id->by_ticket);
    // Writes by ticket need the CSRF token of the same user.
    EXPECT_FALSE(state_->CheckCsrf(*id, h, now_));
    RequestHeaders with = h;
    with["csrfpreventiontoken"] = r->csrf_token;
    EXPECT_TRUE(state_->CheckCsrf(*id, with, now_));
  }
  EXPECT_NE(Audit().find("login-ok client=192.0.2.1 user=alice@pam"), std::string::npos);
}

TEST_F(AccessStateTest, EveryLoginFailureIsTheSameToTheClient) {
  struct Case {
    const char* user;
    const char* password;
    const char* audit_reason;
  } cases[] = {
      {"alice@pam", "wrong", "pam: Authentication failure"},
      {"nobody@pam", "right", "has no user: line"},
      {"off@pam", "right", "disabled"},
      {"bot@ctdump", "anything", "has no passwords"},
      {"alice@pve", "right", "has no passwords"},
      {"not a user", "x", "invalid"},
      {"alice@pam", "", "empty password"},
  };
  for (const auto& c : cases) {
    auto r = state_->Login(c.user, c.password, {}, "192.0.2.2", now_);
    ASSERT_FALSE(r.ok()) << c.user;
    EXPECT_EQ(r.status().message(), "authentication failure") << c.user;
    EXPECT_NE(Audit().find(c.audit_reason), std::string::npos) << c.user << "\n" << Audit();
  }
  EXPECT_EQ(Audit().find("wrong"), std::string::npos) << "a password in the audit log";
}

TEST_F(AccessStateTest, RenewalByTicketNeedsNoPasswordCheck) {
  auto r = state_->Login("alice@pam", "right", {}, "192.0.2.1", now_);
  ASSERT_TRUE(r.ok());
  int calls = pam_calls_;
  auto renewed = state_->Login("alice@pam", r->ticket, {}, "192.0.2.1", now_ + 60);
  ASSERT_TRUE(renewed.ok()) << renewed.status().message();
  EXPECT_TRUE(renewed->renewed);
  EXPECT_EQ(pam_calls_, calls);
  // Another user's ticket does not renew alice's (root's would).
  EXPECT_FALSE(state_->Login("off@pam", r->ticket, {}, "192.0.2.1", now_).ok());
  // The console's renewal: its cookie and CSRF token, an empty password.
  RequestHeaders h{{"cookie", "PVEAuthCookie=" + r->ticket},
                   {"csrfpreventiontoken", r->csrf_token}};
  EXPECT_TRUE(state_->Login("alice@pam", "", h, "192.0.2.1", now_).ok());
  h.erase("csrfpreventiontoken");
  EXPECT_FALSE(state_->Login("alice@pam", "", h, "192.0.2.1", now_).ok());
  // An expired ticket renews nothing.
  EXPECT_FALSE(state_->Login("alice@pam", r->ticket, {}, "192.0.2.1", now_ + 7300).ok());
  EXPECT_NE(Audit().find("login-renew"), std::string::npos);
}

TEST_F(AccessStateTest, FailedLoginsAreLimitedBeforeThePasswordCheck) {
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(state_->Login("alice@pam", "wrong", {}, "a", now_).ok());
  int calls = pam_calls_;
  auto r = state_->Login("alice@pam", "right", {}, "b", now_);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(pam_calls_, calls) << "PAM was asked while the user is limited";
  EXPECT_NE(Audit().find("login-limited"), std::string::npos);
  // After the window, the right password works again.
  EXPECT_TRUE(state_->Login("alice@pam", "right", {}, "b", now_ + 601).ok());
}

TEST_F(AccessStateTest, TokensAuthenticateAndUserCfgChangesAreSeen) {
  ASSERT_TRUE(sys::WriteFileAtomic(dir_ + "/user.cfg",
                                   "user:alice@pam:1:0::::::\n"
                                   "token:alice@pam!ci:0:0::\n"
                                   "acl:1:/:alice@pam:PVEAuditor:\n")
                  .ok());
  access::TokenShadow shadow = access::TokenShadow::Parse("", "token.shadow");
  shadow.Set("alice@pam!ci", "3f0c1bd6-0a4c-4c36-9d61-5d2f0d1d4e11");
  ASSERT_TRUE(sys::WriteFileAtomic(dir_ + "/priv/token.shadow", shadow.Serialize(), 0600).ok());
  auto id = state_->Authenticate(
      {{"authorization", "PVEAPIToken=alice@pam!ci=3f0c1bd6-0a4c-4c36-9d61-5d2f0d1d4e11"}}, "c",
      now_);
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_EQ(id->caller.userid, "alice@pam");
  EXPECT_EQ(id->caller.tokenid, "ci");
  EXPECT_FALSE(id->by_ticket);
  EXPECT_TRUE(state_->CheckCsrf(*id, {}, now_));  // tokens need no CSRF token
  for (const char* header : {"PVEAPIToken=alice@pam!ci=wrong", "PVEAPIToken=alice@pam!nope=x",
                             "PVEAPIToken=alice@pam!ci", "Basic YWxpY2U6eA=="}) {
    auto r = state_->Authenticate({{"authorization", header}}, "c", now_);
    ASSERT_FALSE(r.ok()) << header;
  }
  // A token removed from user.cfg stops working at once.
  ASSERT_TRUE(sys::WriteFileAtomic(dir_ + "/user.cfg",
                                   "user:alice@pam:1:0::::::\n"
                                   "acl:1:/:alice@pam:PVEAuditor:\n")
                  .ok());
  EXPECT_FALSE(
      state_
          ->Authenticate(
              {{"authorization", "PVEAPIToken=alice@pam!ci=3f0c1bd6-0a4c-4c36-9d61-5d2f0d1d4e11"}},
              "c", now_)
          .ok());
  auto none = state_->Authenticate({}, "c", now_);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(), "No ticket");
  auto bad = state_->Authenticate({{"authorization", "PVEAPIToken=alice@pam!ci=wrong"}}, "c", now_);
  EXPECT_EQ(bad.status().message(), "Authentication failed!");
  EXPECT_NE(Audit().find("auth-fail client=c user=alice@pam!ci"), std::string::npos);
  EXPECT_EQ(Audit().find("=wrong"), std::string::npos);
}

// PVE's compute_api_permission: a category shows what the user may do on
// any path below it that an ACL entry names, and only its own privileges.
TEST_F(AccessStateTest, CapShowsPrivilegesOnAnyAclPathOfACategory) {
  auto r = state_->Login("bob@pam", "right", {}, "192.0.2.1", now_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->cap["storage"].value("Datastore.AllocateSpace", 0), 1) << r->cap.dump();
  EXPECT_EQ(r->cap["vms"].value("VM.Backup", 0), 1) << r->cap.dump();
  EXPECT_FALSE(r->cap["vms"].contains("Datastore.AllocateSpace")) << r->cap.dump();
  EXPECT_EQ(r->cap["dc"], nlohmann::json::object()) << r->cap.dump();
  EXPECT_EQ(r->cap["nodes"], nlohmann::json::object()) << r->cap.dump();
  for (const char* c : {"vms", "access", "storage", "nodes", "sdn", "dc", "mapping"})
    EXPECT_TRUE(r->cap.contains(c)) << c;
  // alice's auditor role on "/" shows Sys.Audit under dc and nodes, and
  // nothing of VM.* under dc.
  auto a = state_->Login("alice@pam", "right", {}, "192.0.2.1", now_);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->cap["nodes"].value("Sys.Audit", 0), 1) << a->cap.dump();
  EXPECT_FALSE(a->cap["dc"].contains("VM.Audit")) << a->cap.dump();
}

TEST_F(AccessStateTest, PrivilegesFollowTheAclAndRootHasAll) {
  api::Caller alice{"alice@pam", ""};
  EXPECT_TRUE(state_->Allowed(alice, "/", "Sys.Audit"));
  EXPECT_FALSE(state_->Allowed(alice, "/", "Sys.Modify"));
  EXPECT_TRUE(state_->Allowed(alice, "/vms/web", "VM.Backup"));
  EXPECT_FALSE(state_->Allowed(alice, "/storage/local", "Datastore.AllocateSpace"));
  EXPECT_FALSE(state_->Allowed(alice, "/", "No.Such.Privilege"));
  api::Caller root{"root@pam", ""};
  EXPECT_TRUE(state_->Allowed(root, "/storage/local", "Datastore.Allocate"));
}

}  // namespace
}  // namespace ctdump::server
