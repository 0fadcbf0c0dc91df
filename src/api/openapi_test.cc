#include "api/openapi.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ctdump::api {
namespace {

using nlohmann::json;

void Noop(const HandlerContext& ctx) { ctx.sink.Data(nullptr); }

std::vector<Route> Table() {
  std::vector<Route> t;
  t.push_back({.method = Method::kGet,
               .path = "/version",
               .description = "ctdump's version.",
               .returns = {{"type", "object"}},
               .handler = Noop});
  t.push_back({.method = Method::kPost,
               .path = "/access/ticket",
               .description = "Log in.",
               .params = {{.name = "username", .required = true, .max_length = 64},
                          {.name = "password", .required = true}},
               .permission = Permission::Anonymous(),
               .allow_token = false,
               .handler = Noop});
  t.push_back({.method = Method::kGet,
               .path = "/nodes/{node}/storage/{storage}/content/{volume*}",
               .description = "Volume attributes.",
               .params = {{.name = "node", .required = true, .format = "pve-node"},
                          {.name = "storage", .required = true, .format = "pve-storage-id"},
                          {.name = "volume", .required = true}},
               .permission = Permission::Privs(
                   {{"/storage/{storage}", {"Datastore.Audit", "Datastore.AllocateSpace"}, true}}),
               .handler = Noop});
  t.push_back({.method = Method::kPost,
               .path = "/nodes/{node}/vzdump",
               .description = "Back up containers.\nReturns a UPID.",
               .params = {{.name = "node", .required = true},
                          {.name = "protected", .type = ParamType::kBoolean},
                          {.name = "ionice",
                           .type = ParamType::kInteger,
                           .default_value = 7,
                           .minimum = 0,
                           .maximum = 8},
                          {.name = "mode", .enum_values = {"snapshot", "suspend", "stop"}},
                          {.name = "exclude-path", .type = ParamType::kArray},
                          {.name = "tmpdir"}},
               .permission = Permission::Custom("VM.Backup on each container"),
               .root_only = {"tmpdir"},
               .handler = Noop});
  t.push_back({.method = Method::kGet,
               .path = "/nodes/{node}/tasks",
               .params = {{.name = "node", .required = true},
                          {.name = "statusfilter", .type = ParamType::kArray}},
               .handler = Noop});
  t.push_back({.method = Method::kGet, .path = "/", .index = true});
  return t;
}

TEST(OpenApiTest, Document) {
  std::vector<Route> routes = Table();
  ASSERT_TRUE(Router::Create(Table()).ok());
  json doc = OpenApiDocument(routes, {.version = "1.2.3"});
  // Valid JSON that survives a round trip.
  json again = json::parse(doc.dump());
  EXPECT_EQ(again, doc);
  EXPECT_EQ(doc["openapi"], "3.0.3");
  EXPECT_EQ(doc["info"]["version"], "1.2.3");
  EXPECT_EQ(doc["servers"][0]["url"], "/api2/json");
  // Every route is present.
  for (const Route& r : routes) {
    std::string path = r.path;
    if (auto star = path.find("*}"); star != std::string::npos) path.erase(star, 1);
    std::string method(MethodName(r.method));
    for (char& c : method) c = static_cast<char>(c - 'A' + 'a');
    EXPECT_TRUE(doc["paths"].contains(path)) << path;
    EXPECT_TRUE(doc["paths"][path].contains(method)) << path << " " << method;
  }

  const json& content = doc["paths"]["/nodes/{node}/storage/{storage}/content/{volume}"]["get"];
  EXPECT_EQ(content["operationId"], "get_nodes_node_storage_storage_content_volume");
  ASSERT_EQ(content["parameters"].size(), 3u);
  EXPECT_EQ(content["parameters"][2]["in"], "path");
  EXPECT_EQ(content["parameters"][2]["x-ctdump-tail"], true);
  EXPECT_EQ(content["parameters"][1]["schema"]["format"], "pve-storage-id");
  EXPECT_EQ(content["x-ctdump-permission"]["kind"], "privs");
  EXPECT_EQ(content["x-ctdump-permission"]["any_of"][0]["path"], "/storage/{storage}");

  const json& vzdump = doc["paths"]["/nodes/{node}/vzdump"]["post"];
  EXPECT_EQ(vzdump["summary"], "Back up containers.");
  EXPECT_EQ(vzdump["x-ctdump-root-only"], json({"tmpdir"}));
  const json& body =
      vzdump["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
  EXPECT_EQ(body["additionalProperties"], false);
  EXPECT_EQ(body["properties"]["ionice"], json::parse(R"({"type":"integer","default":7,
                                                          "minimum":0,"maximum":8})"));
  EXPECT_TRUE(body["properties"]["ionice"]["minimum"].is_number_integer());
  EXPECT_EQ(body["properties"]["protected"]["type"], "boolean");
  EXPECT_EQ(body["properties"]["mode"]["enum"], json({"snapshot", "suspend", "stop"}));
  EXPECT_EQ(body["properties"]["exclude-path"]["items"]["type"], "string");
  EXPECT_FALSE(body.contains("required"));
  EXPECT_TRUE(vzdump["requestBody"]["content"].contains("application/json"));

  const json& ticket = doc["paths"]["/access/ticket"]["post"];
  EXPECT_EQ(ticket["security"], json::array());
  EXPECT_EQ(ticket["x-ctdump-allow-token"], false);
  EXPECT_EQ(ticket["requestBody"]["content"]["application/json"]["schema"]["required"],
            json({"username", "password"}));

  const json& tasks = doc["paths"]["/nodes/{node}/tasks"]["get"];
  EXPECT_EQ(tasks["parameters"][1]["in"], "query");
  EXPECT_EQ(tasks["parameters"][1]["explode"], true);

  EXPECT_EQ(doc["paths"]["/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
               ["properties"]["data"]["type"],
            "array");
}

TEST(OpenApiTest, Deterministic) {
  EXPECT_EQ(OpenApiDocument(Table(), {}).dump(2), OpenApiDocument(Table(), {}).dump(2));
}

}  // namespace
}  // namespace ctdump::api
