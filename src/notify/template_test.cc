#include "notify/template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
  EXPECT_EQ(Render("{{ url-encode title }}"), "backup%20\"ok\"");
  EXPECT_EQ(Render("{{ url-encode secrets.token }}"), "s3cr3t%2F%2B");
  EXPECT_EQ(Render("{{ url-encode \"a b\" }}"), "a%20b");
  EXPECT_EQ(UrlEncode(":/?#[]@!$&'()*+,;=% ~-._<>\"{}|\\^`\n\xc3\xa4"),
            "%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25%20~-._<>\"{}|\\^`%0A%C3%A4");
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
