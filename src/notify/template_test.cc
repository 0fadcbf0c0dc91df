#include "notify/template.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>

namespace ctdump::notify {
namespace {

using ::testing::HasSubstr;

TemplateData Data() {
  TemplateData d;
  d.title = "backup \"ok\"";
  d.message = "line 1\nline 2\ttab";
  d.severity = "info";
  d.timestamp = 1700000000;
  d.fields = {{"hello", "hello world"}, {"test", "escaped\nstring"}, {"job-id", "daily"}};
  d.secrets = {{"token", "s3cr3t/+"}};
  return d;
}

std::string Render(std::string_view text) {
  Result<Template> t = Template::Parse(text, {"token"});
  EXPECT_TRUE(t.ok()) << t.status().message();
  if (!t.ok()) return "";
  Result<std::string> out = t->Render(Data());
  EXPECT_TRUE(out.ok()) << out.status().message();
  return out.ok() ? *out : "";
}

// proxmox-notify's own webhook test (test_build_request), rendered the same.
TEST(TemplateTest, ProxmoxNotifyBuildRequestVector) {
  std::string body = R"(
{{ fields.test }}
{{ escape fields.test }}

{{ json fields.hello }}

{{ url-encode fields.hello }}

{{ json severity }}

)";
  EXPECT_EQ(Render(body), R"(
escaped
string
escaped\nstring

"hello world"

hello%20world

"info"

)");
}

TEST(TemplateTest, PlainValuesAreNotEscaped) {
  EXPECT_EQ(Render("{{ title }}|{{message}}|{{ severity }}|{{ timestamp }}"),
            "backup \"ok\"|line 1\nline 2\ttab|info|1700000000");
  EXPECT_EQ(Render("{{{ title }}}"), "backup \"ok\"");
  EXPECT_EQ(Render("<{{ title }}&>"), "<backup \"ok\"&>");
}

TEST(TemplateTest, FieldsAndSecrets) {
  EXPECT_EQ(Render("{{ fields.job-id }} {{ fields.[job-id] }} {{ secrets.token }}"),
            "daily daily s3cr3t/+");
  EXPECT_EQ(Render("[{{ fields.missing }}]"), "[]");
  EXPECT_EQ(Render("{{ fields }}"), "[object]");
}

TEST(TemplateTest, JsonHelper) {
  EXPECT_EQ(Render("{{ json title }}"), R"("backup \"ok\"")");
  EXPECT_EQ(Render("{{ json timestamp }}"), "1700000000");
  EXPECT_EQ(Render("{{ json fields }}"),
            R"({"hello":"hello world","job-id":"daily","test":"escaped\nstring"})");
  EXPECT_EQ(Render("{{ json fields.missing }}"), "null");
  EXPECT_EQ(Render("{{ json secrets }}"), R"({"token":"s3cr3t/+"})");
}

TEST(TemplateTest, EscapeHelper) {
  EXPECT_EQ(Render("{{ escape message }}"), R"(line 1\nline 2\ttab)");
  EXPECT_EQ(Render("{{ escape title }}"), R"(backup \"ok\")");
  EXPECT_EQ(JsonEscape(std::string("a\\b\x01\x1f\b\f\r/\x7f\xc3\xa4", 12)),
            "a\\\\b\\u0001\\u001f\\b\\f\\r/\x7f\xc3\xa4");
}

TEST(TemplateTest, UrlEncodeHelper) {
  EXPECT_EQ(Render("{{ url-encode title }}"), "backup%20%22ok%22");
  EXPECT_EQ(Render("{{ url-encode secrets.token }}"), "s3cr3t%2F%2B");
  EXPECT_EQ(Render("{{ url-encode \"a b\" }}"), "a%20b");
  // proxmox-notify's set (:/?#[]@!$&'()*+,;=%, space, controls, non-ASCII)
  // and also " < > \ ^ ` { | } and DEL, which a URL must not contain raw;
  // only RFC 3986's unreserved characters stay.
  EXPECT_EQ(UrlEncode(":/?#[]@!$&'()*+,;=% ~-._<>\"{}|\\^`\n\x7f\xc3\xa4"),
            "%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25%20~-._%3C%3E%22%7B%7D%7C%5C%"
            "5E%60%0A%7F%C3%A4");
  EXPECT_EQ(UrlEncode("AZaz09-._~"), "AZaz09-._~");
  for (int c = 0; c < 256; ++c) {
    std::string one(1, static_cast<char>(c));
    bool unreserved = std::isalnum(c) || one == "-" || one == "." || one == "_" || one == "~";
    EXPECT_EQ(UrlEncode(one), unreserved ? one : fmt::format("%{:02X}", c)) << c;
  }
}

// JSON must be UTF-8 (RFC 8259): bytes that are not well-formed UTF-8 become
// U+FFFD (one per maximal ill-formed part, as Rust's from_utf8_lossy), in
// JsonEscape and so in the escape and json helpers.
TEST(TemplateTest, JsonEscapeReplacesInvalidUtf8) {
  const std::string kFffd = "\xef\xbf\xbd";
  EXPECT_EQ(JsonEscape("a\xff"
                       "b"),
            "a" + kFffd + "b");
  EXPECT_EQ(JsonEscape("\xc0\x80"), kFffd + kFffd);                          // overlong NUL
  EXPECT_EQ(JsonEscape("\xed\xa0\x80"), kFffd + kFffd + kFffd);              // a surrogate
  EXPECT_EQ(JsonEscape("\xf4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // > U+10FFFF
  EXPECT_EQ(JsonEscape("\xe2\x82x"), kFffd + "x");      // truncated, one U+FFFD
  EXPECT_EQ(JsonEscape("end\xe2\x82"), "end" + kFffd);  // truncated at the end
  EXPECT_EQ(JsonEscape("\x80"), kFffd);                 // a lone continuation byte
  EXPECT_EQ(JsonEscape("\xf5\x80"), kFffd + kFffd);
  // Well-formed sequences of every length stay, ESC is \u001b.
  EXPECT_EQ(
      JsonEscape("\xc3\xa4 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf \x1b[31m"),
      "\xc3\xa4 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf \\u001b[31m");
  TemplateData d = Data();
  d.title = "ct\xff\x1b";
  d.fields["path"] = "/x\xfe";
  Result<Template> t = Template::Parse("{{ escape title }}|{{ json title }}|{{ json fields }}", {});
  ASSERT_TRUE(t.ok()) << t.status().message();
  Result<std::string> out = t->Render(d);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(*out, "ct" + kFffd + "\\u001b|\"ct" + kFffd + "\\u001b\"|" +
                      "{\"hello\":\"hello world\",\"job-id\":\"daily\",\"path\":\"/x" + kFffd +
                      "\",\"test\":\"escaped\\nstring\"}");
}

TEST(TemplateTest, CommentsAndEscapedBraces) {
  EXPECT_EQ(Render("a{{! a comment }}b \\{{ title }}"), "ab {{ title }}");
}

TEST(TemplateTest, MissingFieldFailsEscapeAndUrlEncodeAtRender) {
  Result<Template> t = Template::Parse("{{ escape fields.nope }}", {});
  ASSERT_TRUE(t.ok());
  Result<std::string> out = t->Render(Data());
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("escape: missing parameter"));
}

TEST(TemplateTest, BadTemplatesAreRefusedAtParse) {
  struct Case {
    const char* text;
    const char* error;
  } cases[] = {
      {"{{ titel }}", "unknown variable 'titel'"},
      {"{{ title.x }}", "unknown variable 'title.x'"},
      {"{{ upper title }}", "unknown helper 'upper'"},
      {"{{ json }}", "json: missing parameter"},
      {"{{ json title message }}", "too many arguments"},
      {"{{ secrets.nope }}", "unknown secret 'nope'"},
      {"{{#if title}}x{{/if}}", "unsupported template construct"},
      {"{{> partial }}", "unsupported template construct"},
      {"{{~ title }}", "unsupported template construct"},
      {"{{ title", "unterminated"},
      {"{{ }}", "empty expression"},
      {"{{ escape timestamp }}", "escape: 'timestamp' is not a string"},
      {"{{ url-encode fields }}", "url-encode: 'fields' is not a string"},
      {"{{ \"open }}", "unterminated string literal"},
  };
  for (const Case& c : cases) {
    Result<Template> t = Template::Parse(c.text, {"token"});
    ASSERT_FALSE(t.ok()) << c.text;
    EXPECT_THAT(t.status().message(), HasSubstr(c.error)) << c.text;
    EXPECT_EQ(t.status().code(), Code::kInvalidArgument);
  }
}

TEST(TemplateTest, ErrorNamesTheOffendingExpression) {
  Result<Template> t = Template::Parse("ok {{ title }} then {{ fields.x.y }}", {});
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("'{{ fields.x.y }}'"));
}

}  // namespace
}  // namespace ctdump::notify
