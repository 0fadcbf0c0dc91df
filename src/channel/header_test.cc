#include "channel/header.h"

#include <gtest/gtest.h>

#include <string>

namespace ctdump::channel {
namespace {

constexpr const char* kRequest =
    R"({"v":1,"method":"POST","target":"/api2/json/nodes/pve1/vzdump?x=1",)"
    R"("headers":{"authorization":"PVEAPIToken=root@pam!ci=s","cookie":"a=b",)"
    R"("csrfpreventiontoken":"t","content-type":"application/x-www-form-urlencoded",)"
    R"("user-agent":"proxmoxer"},"client":"2001:db8::5","received":1767600000.123})";

constexpr const char* kResponse =
    R"({"v":1,"status":400,"reason":"Parameter verification failed.",)"
    R"("headers":[["Content-Type","application/json;charset=UTF-8"]],"length":187})";

TEST(HeaderTest, DecodesTheDesignDocumentsRequest) {
  auto h = DecodeRequestHeader(kRequest);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->method, "POST");
  EXPECT_EQ(h->target, "/api2/json/nodes/pve1/vzdump?x=1");
  EXPECT_EQ(h->headers.size(), 5u);
  EXPECT_EQ(h->headers.at("csrfpreventiontoken"), "t");
  EXPECT_EQ(h->client, "2001:db8::5");
  EXPECT_DOUBLE_EQ(h->received, 1767600000.123);
  auto again = EncodeRequestHeader(*h);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*DecodeRequestHeader(*again), *h);
}

TEST(HeaderTest, DecodesTheDesignDocumentsResponse) {
  auto h = DecodeResponseHeader(kResponse);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->status, 400);
  EXPECT_EQ(h->reason, "Parameter verification failed.");
  ASSERT_EQ(h->headers.size(), 1u);
  EXPECT_EQ(h->length, 187u);
  auto again = EncodeResponseHeader(*h);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*DecodeResponseHeader(*again), *h);
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  size_t pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return s.replace(pos, from.size(), to);
}

TEST(HeaderTest, InvalidRequests) {
  std::string r = kRequest;
  struct Case {
    std::string json;
    std::string why;
  } cases[] = {
      {"", "not JSON"},
      {"[1]", "not a JSON object"},
      {"{\"v\":1", "not JSON"},
      {Replace(r, "\"v\":1", "\"v\":2"), "unknown version"},
      {Replace(r, "\"v\":1", "\"v\":\"1\""), "unknown version"},
      {Replace(r, "\"v\":1", "\"v\":1.0"), "unknown version"},
      {Replace(r, "\"v\":1,", ""), "member 'v' is missing"},
      {Replace(r, "\"client\"", "\"klient\""), "unknown member 'klient'"},
      {Replace(r, "\"method\":\"POST\"", "\"method\":1"), "method is not a string"},
      {Replace(r, "\"method\":\"POST\"", "\"method\":\"post\""),
       "method must be upper-case letters"},
      {Replace(r, "\"method\":\"POST\"", "\"method\":\"\""), "method must have 1 to 16 letters"},
      {Replace(r, "\"target\":\"/api2", "\"target\":\"api2"),
       "target must be '/' and printable ASCII, at most 16 KiB"},
      {Replace(r, "?x=1", "?x=1 2"), "target must be '/' and printable ASCII, at most 16 KiB"},
      {Replace(r, "\"headers\":{", "\"headers\":[{"), "not JSON"},
      {Replace(r, "\"cookie\":\"a=b\"", "\"cookie\":1"), "header 'cookie' is not a string"},
      {Replace(r, "\"cookie\"", "\"Cookie\""), "header 'Cookie' is not forwarded"},
      {Replace(r, "\"cookie\"", "\"host\""), "header 'host' is not forwarded"},
      {Replace(r, "a=b", "a=b\\r\\nX-Evil: 1"),
       "header 'cookie' is longer than 8 KiB or has a control character"},
      {Replace(r, "a=b", std::string(8193, 'c')),
       "header 'cookie' is longer than 8 KiB or has a control character"},
      {Replace(r, "\"2001:db8::5\"", "null"), "client is not a string"},
      {Replace(r, "\"2001:db8::5\"", "\"\""), "client must be 1 to 128 printable ASCII characters"},
      {Replace(r, "1767600000.123", "\"now\""), "received is not a number"},
      {Replace(r, "1767600000.123", "-1"), "received must be a non-negative time"},
  };
  for (const Case& c : cases) {
    auto h = DecodeRequestHeader(c.json);
    ASSERT_FALSE(h.ok()) << c.json;
    EXPECT_EQ(h.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(h.status().message(), "Invalid channel request: " + c.why) << c.json;
  }
}

TEST(HeaderTest, AcceptsEightKiBHeaderValue) {
  std::string r = Replace(kRequest, "a=b", std::string(8192, 'c'));
  EXPECT_TRUE(DecodeRequestHeader(r).ok());
}

TEST(HeaderTest, InvalidResponses) {
  std::string r = kResponse;
  struct Case {
    std::string json;
    std::string why;
  } cases[] = {
      {Replace(r, "\"v\":1", "\"v\":0"), "unknown version"},
      {Replace(r, "\"status\":400", "\"status\":\"400\""), "status is not an integer"},
      {Replace(r, "\"status\":400", "\"status\":99"), "status is not 100..599"},
      {Replace(r, "\"status\":400", "\"status\":600"), "status is not 100..599"},
      {Replace(r, "\"reason\":\"Parameter verification failed.\"", "\"reason\":null"),
       "reason is not a string"},
      {Replace(r, "\"length\":187", "\"length\":-1"),
       "length is neither null nor a non-negative integer"},
      {Replace(r, "\"length\":187", "\"length\":1.5"),
       "length is neither null nor a non-negative integer"},
      {Replace(r, ",\"length\":187", ""), "member 'length' is missing"},
      {Replace(r, "\"headers\":[[", "\"headers\":{\"a\":[["), "not JSON"},
      {Replace(r, "[[\"Content-Type\",", "[[\"Location\","), "header 'Location' is not allowed"},
      {Replace(r, "[[\"Content-Type\",\"application/json;charset=UTF-8\"]]",
               "[[\"Content-Type\"]]"),
       "a header is not a [name, value] pair of strings"},
      {Replace(r, "[[\"Content-Type\",\"application/json;charset=UTF-8\"]]",
               "[[\"Content-Type\",1]]"),
       "a header is not a [name, value] pair of strings"},
      {Replace(r, "charset=UTF-8", "charset=UTF-8\\r\\nLocation: x"),
       "header 'Content-Type' is longer than 8 KiB or has a control character"},
      {Replace(r, "UTF-8\"]]", "UTF-8\"],[\"content-type\",\"text/plain\"]]"),
       "header 'Content-Type' appears twice"},
  };
  for (const Case& c : cases) {
    auto h = DecodeResponseHeader(c.json);
    ASSERT_FALSE(h.ok()) << c.json;
    EXPECT_EQ(h.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(h.status().message(), "Invalid channel response: " + c.why) << c.json;
  }
}

TEST(HeaderTest, ResponseHeaderNamesAreCanonicalized) {
  std::string r = Replace(kResponse, "[[\"Content-Type\",", "[[\"content-TYPE\",");
  r = Replace(r, "UTF-8\"]]", "UTF-8\"],[\"set-cookie\",\"a=1\"],[\"SET-COOKIE\",\"b=2\"]]");
  auto h = DecodeResponseHeader(r);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_EQ(h->headers.size(), 3u);
  EXPECT_EQ(h->headers[0].first, "Content-Type");
  EXPECT_EQ(h->headers[1].first, "Set-Cookie");
  EXPECT_EQ(h->headers[2].first, "Set-Cookie");
}

TEST(HeaderTest, EncodeRefusesWhatDecodeWouldRefuse) {
  RequestHeader rq = *DecodeRequestHeader(kRequest);
  rq.headers["x-forwarded-for"] = "1.2.3.4";
  EXPECT_EQ(EncodeRequestHeader(rq).status().code(), Code::kInvalidArgument);
  ResponseHeader rs = *DecodeResponseHeader(kResponse);
  rs.headers.emplace_back("content-type", "text/plain");  // not the canonical spelling
  EXPECT_EQ(EncodeResponseHeader(rs).status().code(), Code::kInvalidArgument);
  rs = *DecodeResponseHeader(kResponse);
  rs.status = 42;
  EXPECT_EQ(EncodeResponseHeader(rs).status().code(), Code::kInvalidArgument);
}

TEST(HeaderTest, InvalidUtf8InARequestHeaderIsReplaced) {
  RequestHeader rq = *DecodeRequestHeader(kRequest);
  rq.headers["user-agent"] = "agent \xff";
  auto text = EncodeRequestHeader(rq);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(DecodeRequestHeader(*text)->headers.at("user-agent"), "agent \xef\xbf\xbd");
}

TEST(HeaderTest, SanitizeReason) {
  struct Case {
    int status;
    std::string reason;
    std::string want;
  } cases[] = {
      {400, "Parameter verification failed.", "Parameter verification failed."},
      {500, "Grüße, 容器 ct1", "Grüße, 容器 ct1"},
      {500, "", "Internal Server Error"},
      {500, "line\r\nX-Evil: 1", "Internal Server Error"},
      {500, "tab\there", "Internal Server Error"},
      {500, "del\x7f", "Internal Server Error"},
      {404, "c1 \xc2\x85 next", "Not Found"},  // U+0085, a C1 control
      {404,
       "a\xe2\x80\xa8"
       "b",
       "Not Found"},  // U+2028 line separator
      {404, "bad \xff utf-8", "Not Found"},
      {404, "overlong \xc0\xaf", "Not Found"},
      {404, "surrogate \xed\xa0\x80", "Not Found"},
      {404, "cut \xe2\x82", "Not Found"},
      {404, std::string(200, 'r'), std::string(200, 'r')},
      {404, std::string(201, 'r'), "Not Found"},
      {599, "\n", "Unknown"},
  };
  for (const Case& c : cases) EXPECT_EQ(SanitizeReason(c.status, c.reason), c.want) << c.reason;
  // Decoding sanitizes.
  std::string r = Replace(kResponse, "Parameter verification failed.", "evil\\r\\nSet-Cookie: x");
  EXPECT_EQ(DecodeResponseHeader(r)->reason, "Bad Request");
}

}  // namespace
}  // namespace ctdump::channel
