#include "api/router.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ctdump::api {
namespace {

using nlohmann::json;

void Noop(const HandlerContext& ctx) { ctx.sink.Data(nullptr); }

Param PathParam(std::string name, std::string format = {}) {
  return {.name = std::move(name), .required = true, .format = std::move(format)};
}

std::vector<Route> Table() {
  std::vector<Route> t;
  t.push_back({.method = Method::kGet, .path = "/", .index = true});
  t.push_back({.method = Method::kGet, .path = "/version", .handler = Noop});
  t.push_back({.method = Method::kGet, .path = "/nodes", .handler = Noop});
  t.push_back({.method = Method::kGet,
               .path = "/nodes/{node}",
               .params = {PathParam("node", "pve-node")},
               .index = true});
  t.push_back({.method = Method::kGet,
               .path = "/nodes/{node}/storage",
               .params = {PathParam("node")},
               .handler = Noop});
  t.push_back({.method = Method::kGet,
               .path = "/nodes/{node}/storage/{storage}/content",
               .params = {PathParam("node"),
                          PathParam("storage", "pve-storage-id"),
                          {.name = "vmid", .format = "ctdump-guest"}},
               .handler = Noop});
  for (Method m : {Method::kGet, Method::kPut, Method::kDelete}) {
    Route r{.method = m,
            .path = "/nodes/{node}/storage/{storage}/content/{volume*}",
            .params = {PathParam("node"), PathParam("storage"), PathParam("volume")},
            .handler = Noop};
    if (m == Method::kPut) r.params.push_back({.name = "protected", .type = ParamType::kBoolean});
    if (m == Method::kDelete)
      r.params.push_back(
          {.name = "delay", .type = ParamType::kInteger, .minimum = 1, .maximum = 30});
    t.push_back(std::move(r));
  }
  t.push_back({.method = Method::kGet,
               .path = "/nodes/{node}/tasks/{upid}",
               .params = {PathParam("node"), PathParam("upid")},
               .index = true});
  t.push_back({.method = Method::kGet,
               .path = "/nodes/{node}/tasks/{upid}/log",
               .params = {PathParam("node"), PathParam("upid")},
               .handler = Noop});
  t.push_back({.method = Method::kGet,
               .path = "/nodes/{node}/tasks/{upid}/status",
               .params = {PathParam("node"), PathParam("upid")},
               .handler = Noop});
  t.push_back({.method = Method::kPost,
               .path = "/nodes/{node}/vzdump",
               .params = {PathParam("node"), {.name = "tmpdir"}, {.name = "mode"}},
               .root_only = {"tmpdir"},
               .handler = Noop});
  return t;
}

Router MakeRouter() {
  Result<Router> r = Router::Create(Table());
  EXPECT_TRUE(r.ok()) << r.status().message();
  return std::move(r).value();
}

struct FindCase {
  const char* method;
  const char* path;
  const char* route;  // nullptr: 501
  std::map<std::string, std::string> params;
};

TEST(RouterTest, Find) {
  Router router = MakeRouter();
  const FindCase cases[] = {
      {"GET", "", "/", {}},
      {"GET", "/", "/", {}},
      {"GET", "/version", "/version", {}},
      {"GET", "/version/", "/version", {}},
      {"GET", "//version", "/version", {}},
      {"GET", "/nodes/n1", "/nodes/{node}", {{"node", "n1"}}},
      {"GET", "/nodes/n1/storage/", "/nodes/{node}/storage", {{"node", "n1"}}},
      {"GET",
       "/nodes/n1/storage/local/content",
       "/nodes/{node}/storage/{storage}/content",
       {{"node", "n1"}, {"storage", "local"}}},
      {"GET",
       "/nodes/n1/storage/local/content/local:backup/ct/a/2024-01-01T00:00:00Z",
       "/nodes/{node}/storage/{storage}/content/{volume*}",
       {{"node", "n1"},
        {"storage", "local"},
        {"volume", "local:backup/ct/a/2024-01-01T00:00:00Z"}}},
      {"DELETE",
       "/nodes/n1/storage/local/content/backup//x.tar.zst/",
       "/nodes/{node}/storage/{storage}/content/{volume*}",
       {{"node", "n1"}, {"storage", "local"}, {"volume", "backup/x.tar.zst"}}},
      {"GET",
       "/nodes/n1/tasks/UPID:a:b/log",
       "/nodes/{node}/tasks/{upid}/log",
       {{"node", "n1"}, {"upid", "UPID:a:b"}}},
      {"GET", "/foo", nullptr, {}},
      {"POST", "/version", nullptr, {}},
      {"PATCH", "/version", nullptr, {}},
      {"get", "/version", nullptr, {}},
      {"GET", "/nodes/n1/tasks", nullptr, {}},
      {"GET", "/nodes/n1/tasks/u/log/extra", nullptr, {}},
  };
  for (const FindCase& c : cases) {
    auto found = router.Find(c.method, c.path);
    if (!c.route) {
      ASSERT_TRUE(std::holds_alternative<ApiError>(found)) << c.method << " " << c.path;
      const ApiError& e = std::get<ApiError>(found);
      EXPECT_EQ(e.status, 501);
      EXPECT_EQ(e.message, std::string("Method '") + c.method + " " + c.path + "' not implemented");
      continue;
    }
    ASSERT_TRUE(std::holds_alternative<Router::Match>(found)) << c.method << " " << c.path;
    const Router::Match& m = std::get<Router::Match>(found);
    EXPECT_EQ(m.route->path, c.route) << c.path;
    EXPECT_EQ(MethodName(m.route->method), c.method);
    EXPECT_EQ(m.path_params, c.params) << c.path;
  }
}

TEST(RouterTest, PrepareChecksEverything) {
  Router router = MakeRouter();
  // %2F in the volume is a '/', as PVE's uri_unescape of the whole path.
  std::optional<std::string> path =
      ApiPath("/api2/json/nodes/n1/storage/local/content/local%3Abackup%2Fvzdump-lxc-a.tar.zst");
  ASSERT_TRUE(path);
  auto call = router.Prepare({"PUT", *path, "", "", "protected=1"});
  ASSERT_TRUE(std::holds_alternative<PreparedCall>(call)) << std::get<ApiError>(call).message;
  const PreparedCall& p = std::get<PreparedCall>(call);
  EXPECT_EQ(p.params["volume"], "local:backup/vzdump-lxc-a.tar.zst");
  EXPECT_EQ(p.params["protected"], true);

  auto bad = router.Prepare({"PUT", *path, "", "", "protected=True&x=1"});
  ASSERT_TRUE(std::holds_alternative<ApiError>(bad));
  const ApiError& e = std::get<ApiError>(bad);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.message, "Parameter verification failed.\n");
  EXPECT_EQ(e.errors.at("protected"), "type check ('boolean') failed - got 'True'");
  EXPECT_TRUE(e.errors.count("x"));

  auto conflict = router.Prepare({"POST", "/nodes/n1/vzdump", "", "", "node=n2"});
  ASSERT_TRUE(std::holds_alternative<ApiError>(conflict));
  EXPECT_EQ(std::get<ApiError>(conflict).errors.at("node"),
            "duplicate parameter (already defined in URI) with conflicting values!");
  auto same = router.Prepare({"POST", "/nodes/n1/vzdump", "", "", "node=n1"});
  EXPECT_TRUE(std::holds_alternative<PreparedCall>(same));

  auto path_format = router.Prepare({"GET", "/nodes/-x", "", "", ""});
  ASSERT_TRUE(std::holds_alternative<ApiError>(path_format));
  EXPECT_EQ(std::get<ApiError>(path_format).errors.at("node"),
            "invalid format - value does not look like a valid node name\n");

  // %2F decoded before the split: a separator outside a tail, as in PVE.
  std::optional<std::string> split = ApiPath("/api2/json/nodes/n1/storage/a%2Fb/content");
  ASSERT_TRUE(split);
  EXPECT_TRUE(std::holds_alternative<ApiError>(router.Prepare({"GET", *split, "", "", ""})));

  auto missing = router.Prepare({"GET", "/nope", "", "", ""});
  ASSERT_TRUE(std::holds_alternative<ApiError>(missing));
  EXPECT_EQ(std::get<ApiError>(missing).status, 501);
}

TEST(RouterTest, Index) {
  Router router = MakeRouter();
  EXPECT_EQ(router.Children("/"), (std::vector<std::string>{"nodes", "version"}));
  EXPECT_EQ(router.Children("/nodes/{node}"),
            (std::vector<std::string>{"storage", "tasks", "vzdump"}));
  EXPECT_EQ(router.Children("/nodes/{node}/tasks/{upid}"),
            (std::vector<std::string>{"log", "status"}));
  EXPECT_TRUE(router.Children("/nodes/{other}").empty());
  EXPECT_TRUE(router.Children("/nope").empty());

  struct Sink : ResponseSink {
    HttpResponse last;
    void Send(HttpResponse r) override { last = std::move(r); }
    bool BeginStream(StreamHead) override { return false; }
    bool Write(std::string_view) override { return false; }
    void EndStream(Status) override {}
  } sink;
  auto found = router.Find("GET", "/nodes/n1/tasks/UPID:x");
  ASSERT_TRUE(std::holds_alternative<Router::Match>(found));
  const Route& route = *std::get<Router::Match>(found).route;
  Caller caller{"root@pam", ""};
  json params = json::object();
  route.handler(HandlerContext{route, caller, params, sink});
  EXPECT_EQ(sink.last.body, R"({"data":[{"subdir":"log"},{"subdir":"status"}]})");
}

TEST(RouterTest, RootOnly) {
  Router router = MakeRouter();
  auto found = router.Find("POST", "/nodes/n1/vzdump");
  const Route& route = *std::get<Router::Match>(found).route;
  json params = {{"tmpdir", "/x"}};
  EXPECT_FALSE(CheckRootOnly(route, params, {"root@pam", ""}));
  std::optional<ApiError> e = CheckRootOnly(route, params, {"root@pam", "ci"});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->errors.at("tmpdir"), "Only root may set this option.");
  EXPECT_TRUE(CheckRootOnly(route, params, {"backup@pam", ""}));
  EXPECT_FALSE(CheckRootOnly(route, json{{"mode", "stop"}}, {"backup@pam", ""}));
}

TEST(RouterTest, BadTables) {
  struct Case {
    const char* why;
    std::vector<Route> routes;
  };
  std::vector<Case> cases;
  cases.push_back({"relative", {{.path = "version", .handler = Noop}}});
  cases.push_back({"twice", {{.path = "/a", .handler = Noop}, {.path = "/a/", .handler = Noop}}});
  cases.push_back(
      {"tail not last", {{.path = "/a/{x*}/b", .params = {PathParam("x")}, .handler = Noop}}});
  cases.push_back({"no param", {{.path = "/a/{x}", .handler = Noop}}});
  cases.push_back(
      {"optional path param", {{.path = "/a/{x}", .params = {{.name = "x"}}, .handler = Noop}}});
  cases.push_back({"names differ",
                   {{.path = "/a/{x}", .params = {PathParam("x")}, .handler = Noop},
                    {.path = "/a/{y}/b", .params = {PathParam("y")}, .handler = Noop}}});
  cases.push_back({"no handler", {{.path = "/a"}}});
  cases.push_back({"index POST", {{.method = Method::kPost, .path = "/a", .index = true}}});
  cases.push_back({"root_only", {{.path = "/a", .root_only = {"x"}, .handler = Noop}}});
  cases.push_back(
      {"bad format", {{.path = "/a", .params = {{.name = "x", .format = "no"}}, .handler = Noop}}});
  cases.push_back(
      {"param twice", {{.path = "/a", .params = {{.name = "x"}, {.name = "x"}}, .handler = Noop}}});
  cases.push_back({"bad var", {{.path = "/a/{}", .handler = Noop}}});
  cases.push_back({"acl names no param",
                   {{.path = "/a",
                     .permission = Permission::Privs({{"/vms/{vmid}", {"VM.Audit"}}}),
                     .handler = Noop}}});
  cases.push_back(
      {"acl without privs",
       {{.path = "/a", .permission = Permission::Privs({{"/", {}}}), .handler = Noop}}});
  cases.push_back({"brace in literal", {{.path = "/a/b{x}", .handler = Noop}}});
  for (Case& c : cases) {
    Result<Router> r = Router::Create(std::move(c.routes));
    EXPECT_FALSE(r.ok()) << c.why;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.why;
    }
  }
}

TEST(RouterTest, DeepPathsAre501) {
  Router router = MakeRouter();
  std::string path;
  for (int i = 0; i < 100000; ++i) path += "/a";
  auto found = router.Find("GET", path);
  ASSERT_TRUE(std::holds_alternative<ApiError>(found));
  EXPECT_EQ(std::get<ApiError>(found).status, 501);
  // A long tail is one segment list, not recursion.
  std::string volume = "/nodes/n/storage/s/content";
  for (int i = 0; i < 60; ++i) volume += "/v";
  EXPECT_TRUE(std::holds_alternative<Router::Match>(router.Find("GET", volume)));
}

TEST(RouterTest, ExpandAclPath) {
  json params = {{"vmid", "web"}, {"n", 100}, {"bad", "a/b"}};
  EXPECT_EQ(ExpandAclPath("/vms/{vmid}", params), "/vms/web");
  EXPECT_EQ(ExpandAclPath("/vms/{n}", params), "/vms/100");
  EXPECT_EQ(ExpandAclPath("/", params), "/");
  EXPECT_EQ(ExpandAclPath("/vms/{missing}", params), std::nullopt);
  EXPECT_EQ(ExpandAclPath("/vms/{bad}", params), std::nullopt);
  EXPECT_EQ(ExpandAclPath("/vms/{vmid", params), std::nullopt);
}

}  // namespace
}  // namespace ctdump::api
