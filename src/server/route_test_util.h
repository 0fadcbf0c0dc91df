// Test support for the route groups' tests (routes_*_test.cc): a sink that
// records what a handler answered, a call through a real api::Router as the
// dispatcher (api_server.cc) makes it once the caller is authenticated, a
// ServerContext::allowed backed by a set of grants, the fixtures' common part
// (RouteTest) and a datastore snapshot written by the real writer. Header
// only.
#ifndef CTDUMP_SERVER_ROUTE_TEST_UTIL_H_
#define CTDUMP_SERVER_ROUTE_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "api/permission.h"
#include "api/response.h"
#include "api/router.h"
#include "ctdump/observer.h"
#include "ctdump/status.h"
#include "datastore/datastore.h"
#include "datastore/datastore_test_util.h"
#include "datastore/writer.h"
#include "objstore/local_backend.h"
#include "server/context.h"
#include "sys/file.h"

namespace ctdump::server::testing {

// What a handler answered: a response (Send) or a stream (BeginStream ...
// EndStream; every stream is accepted).
struct Answer : api::ResponseSink {
  bool prepared = false;  // the router accepted the request (else its error is the answer)
  int sends = 0;
  int status = 0;  // of the response, 200 for a stream
  std::string reason;
  nlohmann::json body;  // the response's body, parsed
  bool streamed = false, ended = false;
  api::StreamHead head;
  std::string bytes;  // what the stream wrote
  Status end = Status::OK();

  void Send(api::HttpResponse r) override {
    ++sends;
    status = r.status;
    reason = r.reason;
    body = nlohmann::json::parse(r.body);
  }
  bool BeginStream(api::StreamHead h) override {
    status = 200;
    head = std::move(h);
    streamed = true;
    return true;
  }
  bool Write(std::string_view b) override {
    bytes.append(b);
    return true;
  }
  void EndStream(Status s) override {
    end = std::move(s);
    ended = true;
  }
};

// "user@realm", or "user@realm!token" for a token.
inline std::string FullId(const api::Caller& caller) {
  return caller.tokenid.empty() ? caller.userid : caller.userid + "!" + caller.tokenid;
}

// A ServerContext::allowed for tests: root@pam holds every privilege, anyone
// else what `grants` lists as "<user> <acl path> <privilege>" (a token as
// "<user>!<token>"). `grants` must outlive the function.
inline decltype(ServerContext::allowed) AllowedByGrants(const std::set<std::string>& grants) {
  return [&grants](const api::Caller& c, std::string_view path, std::string_view priv) {
    std::string who = FullId(c);
    return who == "root@pam" ||
           grants.count(who + " " + std::string(path) + " " + std::string(priv)) > 0;
  };
}

// The dispatcher's check of a Privs permission, with `allowed` in place of
// the ACLs: nullopt when one of its checks holds, else its 403.
inline std::optional<api::ApiError> CheckPrivs(const api::Route& route,
                                               const nlohmann::json& params,
                                               const api::Caller& caller,
                                               const decltype(ServerContext::allowed)& allowed) {
  if (route.permission.kind != api::Permission::Kind::kPrivs) return std::nullopt;
  std::optional<api::ApiError> denied;
  for (const auto& check : route.permission.any_of) {
    auto acl = api::ExpandAclPath(check.path, params);
    if (!acl) continue;
    bool all = true, any = false;
    std::string missing;
    for (const auto& p : check.privs) {
      bool has = allowed(caller, *acl, p);
      any = any || has;
      all = all && has;
      if (!has && missing.empty()) missing = p;
    }
    if (check.any ? any : all) return std::nullopt;
    if (!denied) denied = api::PermissionError(*acl, missing);
  }
  return denied ? denied : api::MakeError(403, "Permission check failed\n");
}

// Calls `method path` through `router` as the dispatcher does for an
// authenticated `caller`: `params` in the query for GET and DELETE, else in
// a form body (as proxmoxer sends them); the request prepared (the router's
// 400, 413, 501), root-only parameters refused, the route's Privs permission
// checked with `privs` unless it is null (null: as tests of a handler's own
// checks, the handler alone decides), then the handler. Expects exactly one
// answer, and a stream to end.
inline Answer CallRoute(const api::Router& router, std::string_view method, const std::string& path,
                        const std::string& params, const api::Caller& caller,
                        const decltype(ServerContext::allowed)* privs = nullptr) {
  Answer answer;
  const bool query = method == "GET" || method == "DELETE";
  api::HttpRequest req{.method = method,
                       .path = path,
                       .query = query ? params : std::string_view(),
                       .content_type = "application/x-www-form-urlencoded",
                       .body = query ? std::string_view() : params};
  auto prepared = router.Prepare(req);
  if (auto* e = std::get_if<api::ApiError>(&prepared)) {
    answer.Error(*e);
    return answer;
  }
  answer.prepared = true;
  auto& call = std::get<api::PreparedCall>(prepared);
  auto denied = api::CheckRootOnly(*call.route, call.params, caller);
  if (!denied && privs) denied = CheckPrivs(*call.route, call.params, caller, *privs);
  if (denied) {
    answer.Error(*denied);
    return answer;
  }
  call.route->handler(api::HandlerContext{*call.route, caller, call.params, answer});
  EXPECT_EQ(answer.sends + (answer.streamed ? 1 : 0), 1) << method << " " << path;
  if (answer.streamed) {
    EXPECT_TRUE(answer.ended) << method << " " << path;
  }
  return answer;
}

// The common part of the route groups' fixtures: a temporary directory
// root_ (removed after the test), a ServerContext whose paths lie below it
// (lxc, etc, log, run, state; not created) and whose `allowed` is
// AllowedByGrants(grants_), and the router of the routes under test.
class RouteTest : public ::testing::Test {
 protected:
  // Makes root_ ("<prefix>XXXXXX") and ctx_'s paths and `allowed`. Wrap in
  // ASSERT_NO_FATAL_FAILURE.
  void MakeRoot(const char* prefix) {
    auto dir = sys::MakeTempDir(prefix);
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    root_ = *dir;
    ctx_.paths = {root_ + "/lxc", root_ + "/etc", root_ + "/log", root_ + "/run", root_ + "/state"};
    ctx_.allowed = AllowedByGrants(grants_);
  }
  // Makes router_ of `routes`. Wrap in ASSERT_NO_FATAL_FAILURE.
  void MakeRouter(std::vector<api::Route> routes) {
    auto router = api::Router::Create(std::move(routes));
    ASSERT_TRUE(router.ok()) << router.status().ToString();
    router_.emplace(std::move(*router));
  }
  void TearDown() override {
    if (!root_.empty()) {
      EXPECT_TRUE(sys::RemoveTree(root_).ok()) << root_;
    }
  }

  std::string root_;
  ServerContext ctx_;
  std::set<std::string> grants_;  // "<user> <acl path> <privilege>"
  std::optional<api::Router> router_;
};

class NullObserver : public Observer {
 public:
  void Log(LogLevel, std::string_view) noexcept override {}
};

// A snapshot written by the real writer into the local datastore at `dir`.
struct WrittenSnapshot {
  std::unique_ptr<datastore::Datastore> store;  // still open
  std::string volname;
};

// Writes `tree` as container 100's snapshot taken at `time` (encrypted with
// `key` if given; LXC config "lxc.uts.name = web").
inline WrittenSnapshot WriteSnapshot(const std::string& dir, datastore::testing::TreeBuilder& tree,
                                     int64_t time, std::optional<crypt::Key> key = std::nullopt) {
  WrittenSnapshot out;
  auto backend = objstore::OpenLocalBackend(dir);
  EXPECT_TRUE(backend.ok()) << backend.status().ToString();
  auto ds = datastore::Datastore::Open(std::move(*backend), datastore::KeyRing(std::move(key)),
                                       "datastore 'ds'");
  EXPECT_TRUE(ds.ok()) << ds.status().ToString();
  datastore::WriterOptions o;
  o.volname = datastore::FormatVolume("100", time);
  o.vmid = "100";
  o.backup_time = time;
  o.guest_config = "lxc.uts.name = web\n";
  o.threads = 1;
  NullObserver quiet;
  auto w = datastore::SnapshotWriter::Create(**ds, o, nullptr, &quiet);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  std::string stream = datastore::testing::WorkerStream(tree.Build());
  EXPECT_TRUE((*w)->Feed(stream.data(), stream.size()).ok());
  auto m = (*w)->Finish();
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  out.store = std::move(*ds);
  out.volname = o.volname;
  return out;
}

}  // namespace ctdump::server::testing

#endif  // CTDUMP_SERVER_ROUTE_TEST_UTIL_H_
