#include "api/request.h"

#include <gtest/gtest.h>

#include <string>

namespace ctdump::api {
namespace {

using nlohmann::json;

json Extract(std::string_view method, std::string_view query, std::string_view content_type,
             std::string_view body, std::optional<ApiError>* error = nullptr,
             const RequestLimits& limits = {}) {
  json params;
  std::optional<ApiError> e = ExtractParams({method, query, content_type, body}, limits, &params);
  if (error) *error = e;
  return e ? json() : params;
}

TEST(RequestTest, PercentDecode) {
  EXPECT_EQ(PercentDecode("local%3Abackup%2Fvzdump.tar"), "local:backup/vzdump.tar");
  EXPECT_EQ(PercentDecode("a+b"), "a+b");
  EXPECT_EQ(PercentDecode("a+b%20c", true), "a b c");
  EXPECT_EQ(PercentDecode("%zz%4"), "%zz%4");
  EXPECT_EQ(PercentDecode("%00"), std::string(1, '\0'));
}

TEST(RequestTest, SplitTargetAndApiPath) {
  Target t = SplitTarget("/api2/json/nodes?content=backup#x");
  EXPECT_EQ(t.path, "/api2/json/nodes");
  EXPECT_EQ(t.query, "content=backup");
  EXPECT_EQ(ApiPath("/api2/json/nodes/n1/storage/s/content/local%3Abackup%2Fa"),
            "/nodes/n1/storage/s/content/local:backup/a");
  EXPECT_EQ(ApiPath("/api2/json"), "");
  EXPECT_EQ(ApiPath("/api2/json/"), "/");
  EXPECT_EQ(ApiPath("/api2/jsonx"), std::nullopt);
  EXPECT_EQ(ApiPath("/api2/extjs/nodes"), std::nullopt);
  EXPECT_EQ(ApiPath("%2Fapi2%2Fjson/version"), "/version");
  // Invalid UTF-8 becomes U+FFFD, so every later JSON dump works.
  EXPECT_EQ(ApiPath("/api2/json/a%FF"), "/a\xEF\xBF\xBD");
}

TEST(RequestTest, FormBodyAndQuery) {
  json p = Extract("POST", "mode=stop&_dc=123", "application/x-www-form-urlencoded",
                   "mode=snapshot&vmid=a&exclude-path=%2Ftmp&exclude-path=%2Fvar+x&flag");
  EXPECT_EQ(p["mode"], "stop");  // the query wins
  EXPECT_EQ(p["vmid"], "a");
  EXPECT_EQ(p["exclude-path"], json({"/tmp", "/var x"}));
  EXPECT_EQ(p["flag"], "");
  EXPECT_FALSE(p.contains("_dc"));
}

TEST(RequestTest, SemicolonsSeparateLikeAmpersands) {
  json p = Extract("GET", "a=1;b=2&&a=3", "", "");
  EXPECT_EQ(p["a"], json({"1", "3"}));
  EXPECT_EQ(p["b"], "2");
}

TEST(RequestTest, NoContentTypeIsAForm) {
  EXPECT_EQ(Extract("PUT", "", "", "notes=x")["notes"], "x");
}

TEST(RequestTest, BodyIgnoredForGetAndDelete) {
  EXPECT_EQ(Extract("GET", "", "application/x-www-form-urlencoded", "a=1"), json::object());
  EXPECT_EQ(Extract("DELETE", "delay=5", "", "a=1"), json({{"delay", "5"}}));
}

TEST(RequestTest, JsonBody) {
  json p = Extract("POST", "b=q", "Application/JSON; charset=utf-8",
                   R"({"a": true, "b": 1, "c": [1, 2], "_dc": 1})");
  EXPECT_EQ(p["a"], true);
  EXPECT_EQ(p["b"], "q");
  EXPECT_EQ(p["c"], json({1, 2}));
  EXPECT_FALSE(p.contains("_dc"));
  EXPECT_EQ(Extract("POST", "", "application/json", "  "), json::object());
}

TEST(RequestTest, MalformedBodies) {
  struct Case {
    const char* content_type;
    std::string body;
    int status;
    const char* message;
  } cases[] = {
      {"application/json", "{", 400, "malformed JSON body\n"},
      {"application/json", "[1]", 400, "JSON body is not an object\n"},
      {"application/json", "\"x\"", 400, "JSON body is not an object\n"},
      {"application/json", "{\"a\":\"\xff\"}", 400, "malformed JSON body\n"},
      {"application/json", std::string(100, '[') + std::string(100, ']'), 400,
       "JSON body nested too deeply\n"},
      {"application/json", std::string(600 * 1024, ' '), 413, "request entity too large\n"},
  };
  for (const Case& c : cases) {
    std::optional<ApiError> error;
    Extract("POST", "", c.content_type, c.body, &error);
    ASSERT_TRUE(error) << c.body.substr(0, 20);
    EXPECT_EQ(error->status, c.status);
    EXPECT_EQ(error->message, c.message);
  }
}

TEST(RequestTest, Limits) {
  RequestLimits limits;
  limits.max_params = 3;
  limits.max_value_bytes = 8;
  std::optional<ApiError> error;
  Extract("POST", "d=1", "", "a=1&b=2&c=3", &error, limits);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->status, 400);
  EXPECT_EQ(error->message, "too many parameters\n");
  Extract("GET", "a=123456789", "", "", &error, limits);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->message, "parameter value too long\n");
  Extract("GET", "123456789=1", "", "", &error, limits);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->message, "parameter name too long\n");
  // Encoded longer than the limit but short once decoded: fine.
  EXPECT_EQ(Extract("GET", "a=%41%41%41%41", "", "", &error, limits)["a"], "AAAA");
}

TEST(RequestTest, ManyRepeatsStayLinear) {
  std::string query;
  for (int i = 0; i < 1000; ++i) query += "a=1&";
  json p = Extract("GET", query, "", "");
  EXPECT_EQ(p["a"].size(), 1000u);
}

TEST(RequestTest, InvalidUtf8InFormsIsReplaced) {
  json p = Extract("GET", "a=%C3%28", "", "");
  EXPECT_EQ(p["a"], "\xEF\xBF\xBD(");
  EXPECT_NO_THROW(p.dump());
}

TEST(RequestTest, MergePathParams) {
  json params = {{"node", "n1"}, {"vmid", 100}, {"x", "1"}};
  ParamErrors errors = MergePathParams({{"node", "n1"}, {"vmid", "100"}, {"storage", "s"}}, params);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(params["storage"], "s");
  EXPECT_EQ(params["vmid"], "100");

  json conflict = {{"node", "other"}, {"storage", json::array({"s", "s"})}};
  errors = MergePathParams({{"node", "n1"}, {"storage", "s"}}, conflict);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors["node"],
            "duplicate parameter (already defined in URI) with conflicting values!");
}

}  // namespace
}  // namespace ctdump::api
