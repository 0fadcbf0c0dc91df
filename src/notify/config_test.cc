#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "notify/notify.h"
#include "notify/transport.h"
#include "sys/file.h"

namespace ctdump::notify {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

Result<Config> Parse(std::string_view text, std::string_view priv = "") {
  return ParseConfig(text, "/etc/ctdump/notifications.cfg", priv,
                     "/etc/ctdump/priv/notifications.cfg");
}

// base64 of {"text":"{{ escape title }}"} and of application/json.
constexpr char kBody[] = "eyJ0ZXh0Ijoie3sgZXNjYXBlIHRpdGxlIH19In0=";
constexpr char kJson[] = "YXBwbGljYXRpb24vanNvbg==";

TEST(ConfigTest, EveryTargetTypeAndAMatcher) {
  std::string text = std::string(R"(# comment
sendmail: mail
	mailto-user root@pam
	mailto admin@example.com
	from-address ctdump@example.com
	author Backup Host
	comment local mail

smtp: relay
	server mail.example.com
	port 2525
	mode starttls
	username ctdump
	mailto ops@example.com
	from-address ctdump@example.com
	disable true

gotify: phone
	server http://gotify.example.com:8888

webhook: hook
	url https://hooks.example.com/{{ url-encode fields.hostname }}?k={{ secrets.key }}
	method put
	header name=Content-Type,value=)") +
                     kJson + R"(
	body )" + kBody +
                     R"(

matcher: errors
	match-severity warning,error
	match-field exact:type=vzdump,gc
	match-field regex:hostname=^pve
	match-calendar mon..fri 8-17
	mode any
	invert-match 0
	target mail
	target hook
)";
  std::string priv = R"(smtp: relay
	password hunter2

gotify: phone
	token abc

webhook: hook
	secret name=key,value=c2VjcmV0
)";
  Result<Config> c = Parse(text, priv);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->targets.size(), 4u);
  const Target& mail = c->targets[0];
  EXPECT_EQ(mail.type, TargetType::kSendmail);
  EXPECT_THAT(mail.mailto, ElementsAre("admin@example.com", "root"));
  EXPECT_THAT(mail.mailto_user, ElementsAre("root@pam"));
  EXPECT_EQ(mail.author, "Backup Host");
  EXPECT_EQ(mail.comment, "local mail");
  const Target& relay = *c->FindTarget("relay");
  EXPECT_EQ(relay.mode, SmtpMode::kStarttls);
  EXPECT_EQ(relay.port, 2525);
  EXPECT_EQ(relay.password, "hunter2");
  EXPECT_TRUE(relay.disable);
  EXPECT_EQ(c->FindTarget("phone")->token, "abc");
  const Target& hook = *c->FindTarget("hook");
  EXPECT_EQ(hook.method, "put");
  ASSERT_EQ(hook.headers.size(), 1u);
  EXPECT_EQ(hook.headers[0].name, "Content-Type");
  EXPECT_EQ(hook.headers[0].value, "application/json");
  EXPECT_EQ(hook.body, R"({"text":"{{ escape title }}"})");
  ASSERT_EQ(hook.secrets.size(), 1u);
  EXPECT_EQ(hook.secrets[0].value, "secret");
  ASSERT_EQ(c->matchers.size(), 1u);
  const Matcher& m = c->matchers[0];
  EXPECT_TRUE(m.mode_any);
  EXPECT_EQ(m.match_field.size(), 2u);
  EXPECT_EQ(m.match_calendar.size(), 1u);
  EXPECT_THAT(m.targets, ElementsAre("mail", "hook"));
}

struct BadCase {
  const char* text;
  const char* priv;
  const char* error;  // expected substring, including file:line
};

TEST(ConfigTest, ErrorsNameFileLineAndText) {
  const BadCase cases[] = {
      {"sendmail: a\n\tmailto x@y\n\tcolour red\n", "",
       "notifications.cfg:3: unknown key 'colour' in sendmail 'a'"},
      {"pager: a\n\tmailto x@y\n", "", "notifications.cfg:1: unknown section type 'pager'"},
      {"sendmail: a\n\tmailto x@y\n\tauthor A\n\tauthor B\n", "",
       "notifications.cfg:4: duplicate option 'author' in section 'a'"},
      {"sendmail: a\n\tcomment no recipients\n", "",
       "notifications.cfg:1: sendmail 'a': missing 'mailto' or 'mailto-user'"},
      {"sendmail: a\n\tmailto x@y\n\tdisable maybe\n", "",
       "notifications.cfg:3: sendmail 'a': disable 'maybe': invalid boolean"},
      {"sendmail: a\n\tmailto-user root\n", "",
       "notifications.cfg:2: sendmail 'a': mailto-user 'root'"},
      {"smtp: s\n\tserver m\n\tmode ssl\n", "", "notifications.cfg:3: smtp 's': mode 'ssl'"},
      {"smtp: s\n\tserver m\n\tport 70000\n", "", "notifications.cfg:3: smtp 's': port '70000'"},
      {"smtp: s\n\tserver m\n\tmailto a@b\n", "",
       "notifications.cfg:1: smtp 's': missing 'from-address'"},
      {"gotify: g\n\tserver ftp://x\n", "", "notifications.cfg:2: gotify 'g': server 'ftp://x'"},
      {"gotify: g\n\tserver http://x\n", "", "notifications.cfg:1: gotify 'g': no token in"},
      {"webhook: w\n\turl http://x/{{ titel }}\n", "",
       "notifications.cfg:2: webhook 'w': url: template '{{ titel }}': unknown variable 'titel'"},
      {"webhook: w\n\turl http://x/\n\tbody e3sganNvbiB9fQ==\n", "",
       "notifications.cfg:3: webhook 'w': body: template '{{ json }}': json: missing parameter"},
      {"webhook: w\n\turl http://x/\n\tbody !!!\n", "",
       "notifications.cfg:3: webhook 'w': body '!!!': invalid base64"},
      {"webhook: w\n\turl http://x/\n\theader name=X,value=e3sgc2VjcmV0cy5rIH19\n", "",
       "notifications.cfg:3: webhook 'w': header X: template '{{ secrets.k }}': unknown secret "
       "'k'"},
      {"webhook: w\n\turl http://x/\n\theader name=Bad Name,value=eA==\n", "",
       "notifications.cfg:3: webhook 'w': header 'name=Bad Name,value=eA==': invalid header name"},
      {"webhook: w\n\turl http://x/\n\tmethod delete\n", "",
       "notifications.cfg:3: webhook 'w': method 'delete'"},
      {"webhook: w\n\turl x\n", "", "notifications.cfg:2: webhook 'w': url 'x'"},
      {"matcher: m\n\ttarget nowhere\n", "",
       "notifications.cfg:2: matcher 'm': unknown target 'nowhere'"},
      {"matcher: m\n\tmatch-severity fatal\n", "",
       "notifications.cfg:2: matcher 'm': match-severity 'fatal': invalid severity 'fatal'"},
      {"matcher: m\n\tmatch-field exact:type\n", "",
       "notifications.cfg:2: matcher 'm': match-field 'exact:type'"},
      {"matcher: m\n\tmatch-field regex:type=(\n", "",
       "notifications.cfg:2: matcher 'm': match-field 'regex:type=('"},
      {"matcher: m\n\tmatch-calendar 17-8\n", "",
       "notifications.cfg:2: matcher 'm': match-calendar '17-8'"},
      {"matcher: m\n\tmode some\n", "", "notifications.cfg:2: matcher 'm': mode 'some'"},
      {"matcher: m\n\tinvert-match\n", "",
       "notifications.cfg:2: option 'invert-match' without a value"},
      {"\tmailto x@y\n", "", "notifications.cfg:1: option 'mailto x@y' outside a section"},
      {"sendmail: a\n\tmailto x@y\n\nmatcher: a\n", "",
       "notifications.cfg:4: duplicate name 'a' (first at line 1)"},
      {"sendmail a\n", "", "notifications.cfg:1: unable to parse line 'sendmail a'"},
      {"sendmail: a b\n", "", "notifications.cfg:1: invalid section id 'a b'"},
      {"sendmail: a\n\tmailto x@y\n", "smtp: a\n\tpassword p\n",
       "priv/notifications.cfg:1: secrets for smtp 'a', which notifications.cfg does not define"},
      {"gotify: g\n\tserver http://x\n", "gotify: g\n\ttoken t\n\tcolour red\n",
       "priv/notifications.cfg:3: unknown key 'colour' in gotify 'g'"},
      {"webhook: w\n\turl http://x/\n", "webhook: w\n\tsecret value=eA==\n",
       "priv/notifications.cfg:2: webhook 'w': secret: missing 'name='"},
  };
  for (const BadCase& c : cases) {
    Result<Config> r = Parse(c.text, c.priv);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.text;
    EXPECT_THAT(r.status().message(), HasSubstr(c.error)) << c.text;
  }
}

// storage.cfg's grammar (config's ParseSectionConfigLines) with this file's
// rules: CRLF, comments inside a section, repeated array keys, the first
// error in line order.
TEST(ConfigTest, SectionConfigGrammar) {
  Result<Config> c = Parse(
      "sendmail: m\r\n\tmailto a@b\r\n# note\r\n\tmailto c@d\r\n\r\n"
      "matcher: _all\n\ttarget m\n\ttarget m\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_THAT(c->targets[0].mailto, ElementsAre("a@b", "c@d"));
  EXPECT_THAT(c->matchers[0].targets, ElementsAre("m", "m"));
  c = Parse("sendmail : m\n\tmailto a@b\n");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(),
              HasSubstr("notifications.cfg:1: invalid section type 'sendmail '"));
  // The duplicate name (line 4) comes before the bad line 6.
  c = Parse("sendmail: m\n\tmailto a@b\n\nsendmail: m\n\tmailto a@b\n\tmailto\n");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(),
              HasSubstr("notifications.cfg:4: duplicate name 'm' (first at line 1)"));
  c = Parse("sendmail: m\n\tmailto a@b\n \t\n\tcomment x\n");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(),
              HasSubstr("notifications.cfg:4: option 'comment x' outside a section"));
  c = Parse("webhook: w\n\turl http://x/\n",
            "webhook: w\n\tsecret name=a,value=eA==\n\tsecret name=b,value=eA==\n\ttoken t\n");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(),
              HasSubstr("priv/notifications.cfg:4: unknown key 'token' in webhook 'w'"));
}

class LoadConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = *sys::MakeTempDir("/tmp/notify_test.");
    ASSERT_EQ(setenv("CTDUMP_SENDMAIL", "/bin/true", 1), 0);
  }
  void TearDown() override {
    unsetenv("CTDUMP_SENDMAIL");
    sys::RemoveTree(dir_).IgnoreError();
  }
  std::string dir_;
};

// The priv file holds secrets: its errors name file and line, never its text
// (they reach job list, notify list and the scheduler's log).
TEST(ConfigTest, PrivErrorsNeverQuoteTheSecrets) {
  const char* text =
      "webhook: w\n\turl http://x/\n\nsmtp: m\n\tserver s\n\tmailto a@b\n\tfrom-address c@d\n";
  struct {
    const char* priv;
    const char* error;
  } cases[] = {
      {"password hunter2\n", "priv/notifications.cfg:1: malformed line (not shown"},
      {"smtp m\n\tpassword hunter2\n", "priv/notifications.cfg:1: malformed line (not shown"},
      {"webhook: w\n\tsecret name=s,value=hunter2!!\n",
       "priv/notifications.cfg:2: webhook 'w': secret: not of the form"},
      {"webhook: w\n\tsecret hunter2\n", "priv/notifications.cfg:2: webhook 'w': secret: not of"},
  };
  for (const auto& c : cases) {
    Result<Config> r = Parse(text, c.priv);
    ASSERT_FALSE(r.ok()) << c.priv;
    EXPECT_THAT(r.status().message(), HasSubstr(c.error)) << c.priv;
    EXPECT_THAT(r.status().message(), Not(HasSubstr("hunter2"))) << r.status().message();
  }
}

TEST_F(LoadConfigTest, DefaultWithoutAFile) {
  Result<Config> c = LoadConfig(dir_);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->source, "built-in default");
  ASSERT_EQ(c->targets.size(), 1u);
  EXPECT_EQ(c->targets[0].name, "mail-to-root");
  EXPECT_THAT(c->targets[0].mailto, ElementsAre("root"));
  ASSERT_EQ(c->matchers.size(), 1u);
  EXPECT_EQ(c->matchers[0].name, "default-matcher");
  EXPECT_THAT(c->matchers[0].targets, ElementsAre("mail-to-root"));
  EXPECT_TRUE(c->info.empty());
  Notification n;
  EXPECT_THAT(MatchingTargets(*c, n), ElementsAre("mail-to-root"));
}

TEST_F(LoadConfigTest, DefaultSkipsSendmailWhenThereIsNone) {
  ASSERT_EQ(setenv("CTDUMP_SENDMAIL", "/nonexistent/sendmail", 1), 0);
  Result<Config> c = LoadConfig(dir_);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->targets.empty());
  ASSERT_EQ(c->info.size(), 1u);
  EXPECT_THAT(c->info[0], HasSubstr("/nonexistent/sendmail"));
  EXPECT_THAT(c->info[0], HasSubstr("mail-to-root is skipped"));
  EXPECT_EQ(Dispatch(*c, Notification{}, nullptr), 0u);
}

TEST_F(LoadConfigTest, ReadsBothFiles) {
  ASSERT_TRUE(
      sys::WriteFileAtomic(dir_ + "/notifications.cfg", "gotify: g\n\tserver http://127.0.0.1:1\n")
          .ok());
  Result<Config> no_priv = LoadConfig(dir_);
  ASSERT_FALSE(no_priv.ok());
  EXPECT_THAT(no_priv.status().message(),
              HasSubstr(dir_ + "/notifications.cfg:1: gotify 'g': no token in " + dir_ +
                        "/priv/notifications.cfg"));
  ASSERT_TRUE(sys::MakeDirs(dir_ + "/priv", 0700).ok());
  ASSERT_TRUE(
      sys::WriteFileAtomic(dir_ + "/priv/notifications.cfg", "gotify: g\n\ttoken t\n", 0600).ok());
  Result<Config> c = LoadConfig(dir_);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->source, dir_ + "/notifications.cfg");
  EXPECT_EQ(c->targets[0].token, "t");
  EXPECT_TRUE(c->info.empty());
  ASSERT_EQ(chmod((dir_ + "/priv/notifications.cfg").c_str(), 0644), 0);
  c = LoadConfig(dir_);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->info.size(), 1u);
  EXPECT_THAT(c->info[0], HasSubstr("others may read it (mode 0644); make it 0600"));
  // A configured file without matchers sends nothing.
  EXPECT_TRUE(MatchingTargets(*c, Notification{}).empty());
}

TEST(SendTestTest, UnknownTargetIsNotFound) {
  Config c;
  c.source = "x.cfg";
  Status s = SendTest(c, "nope", nullptr);
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("notification target 'nope' does not exist"));
}

}  // namespace
}  // namespace ctdump::notify
