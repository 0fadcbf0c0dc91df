#include "api/response.h"

#include <gtest/gtest.h>

#include <string>

namespace ctdump::api {
namespace {

using nlohmann::json;

TEST(ResponseTest, Data) {
  HttpResponse r = DataResponse(json{{"version", "1.0"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.reason, "OK");
  EXPECT_EQ(r.content_type, "application/json;charset=UTF-8");
  EXPECT_EQ(r.body, R"({"data":{"version":"1.0"}})");
  EXPECT_FALSE(r.close);
  EXPECT_EQ(DataResponse(json::array(), 57).body, R"({"data":[],"total":57})");
  EXPECT_EQ(DataResponse(nullptr).body, R"({"data":null})");
}

TEST(ResponseTest, ParamError) {
  HttpResponse r =
      ErrorResponse(ParamError({{"protected", "type check ('boolean') failed - got 'True'"}}));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.reason, "Parameter verification failed.");
  EXPECT_TRUE(r.close);
  EXPECT_EQ(json::parse(r.body),
            json::parse(
                R"({"data":null,"errors":{"protected":"type check ('boolean') failed - got 'True'"},
                            "message":"Parameter verification failed.\n"})"));
}

TEST(ResponseTest, Shapes) {
  struct Case {
    ApiError error;
    int status;
    const char* reason;
    const char* message;
  } cases[] = {
      {PermissionError("/vms/100", "VM.Backup"), 403,
       "Permission check failed (/vms/100, VM.Backup)",
       "Permission check failed (/vms/100, VM.Backup)\n"},
      {NotImplementedError("GET", "/foo"), 501, "Method 'GET /foo' not implemented",
       "Method 'GET /foo' not implemented"},
      {LoginFailedError(), 401, "authentication failure", "authentication failure\n"},
      {TokenNotAllowedError("/access/ticket"), 403,
       "URI '/access/ticket' not available with API token, need proper ticket.",
       "URI '/access/ticket' not available with API token, need proper ticket.\n"},
      {StatusError(NotFoundError("storage 'x' does not exist")), 400, "storage 'x' does not exist",
       "storage 'x' does not exist\n"},
      {MakeError(500, "line one\nline two\n"), 500, "line one", "line one\nline two\n"},
  };
  for (const Case& c : cases) {
    HttpResponse r = ErrorResponse(c.error);
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(r.reason, c.reason);
    json body = json::parse(r.body);
    EXPECT_TRUE(body["data"].is_null());
    EXPECT_EQ(body["message"], c.message);
    EXPECT_FALSE(body.contains("errors"));
  }
}

TEST(ResponseTest, NamedParamError) {
  HttpResponse r = ErrorResponse(NamedParamError("storage", "storage 'x' does not exist\n"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.reason, "storage 'x' does not exist");
  EXPECT_EQ(json::parse(r.body),
            json::parse(R"({"data":null,"errors":{"storage":"storage 'x' does not exist"},
                            "message":"storage 'x' does not exist\n"})"));
}

TEST(ResponseTest, StatusMapping) {
  EXPECT_EQ(HttpStatusFor(Code::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(Code::kNotFound), 400);
  EXPECT_EQ(HttpStatusFor(Code::kAlreadyExists), 400);
  EXPECT_EQ(HttpStatusFor(Code::kFailedPrecondition), 400);
  EXPECT_EQ(HttpStatusFor(Code::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(Code::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(Code::kIOError), 500);
  EXPECT_EQ(HttpStatusFor(Code::kDataLoss), 500);
  EXPECT_EQ(HttpStatusFor(Code::kInternal), 500);
}

TEST(ResponseTest, Unauthorized) {
  for (std::string_view reason : {kNoTicket, kAuthenticationFailed, kInvalidCsrfToken}) {
    HttpResponse r = UnauthorizedResponse(reason);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.reason, reason);
    EXPECT_TRUE(r.body.empty());
    EXPECT_TRUE(r.content_type.empty());
    EXPECT_TRUE(r.close);
  }
}

TEST(ResponseTest, SanitizeReason) {
  EXPECT_EQ(SanitizeReason("container 'a\rb' failed\nmore", 400), "container 'a");
  EXPECT_EQ(SanitizeReason("a\tb\x01"
                           "c",
                           400),
            "a b c");
  EXPECT_EQ(SanitizeReason("bad \xff byte", 400), "bad ? byte");
  EXPECT_EQ(SanitizeReason("caf\xC3\xA9", 400), "caf\xC3\xA9");
  EXPECT_EQ(SanitizeReason("\n", 500), "Internal Server Error");
  EXPECT_EQ(SanitizeReason("   ", 403), "Forbidden");
  std::string long_message(150, 'x');
  for (int i = 0; i < 100; ++i) long_message += "\xC3\xA9";
  std::string reason = SanitizeReason(long_message, 400);
  EXPECT_LE(reason.size(), kMaxReasonBytes);
  EXPECT_EQ(reason.size() % 2, 0u);  // 150 + whole two-byte characters
}

TEST(ResponseTest, InvalidUtf8InMessagesDoesNotThrow) {
  HttpResponse r;
  EXPECT_NO_THROW(r = ErrorResponse(MakeError(400, "container '\xff' does not exist")));
  EXPECT_EQ(r.status, 400);
  EXPECT_FALSE(json::parse(r.body, nullptr, false).is_discarded());
}

TEST(ResponseTest, SinkHelpers) {
  struct Sink : ResponseSink {
    HttpResponse last;
    void Send(HttpResponse r) override { last = std::move(r); }
    bool BeginStream(StreamHead) override { return false; }
    bool Write(std::string_view) override { return false; }
    void EndStream(Status) override {}
  } sink;
  sink.Data(json(1), 1);
  EXPECT_EQ(sink.last.body, R"({"data":1,"total":1})");
  sink.Error(PermissionError("/", "Sys.Audit"));
  EXPECT_EQ(sink.last.status, 403);
}

}  // namespace
}  // namespace ctdump::api
