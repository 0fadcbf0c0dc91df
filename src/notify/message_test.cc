#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>

#include "ctdump/observer.h"
#include "notify/transport.h"
#include "sys/file.h"

namespace ctdump::notify {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

MailParts Parts() {
  MailParts p;
  p.author = "ctdump";
  p.from = "root@example.com";
  p.to = {"a@example.com", "root"};
  p.subject = "vzdump backup status (pve1): backup successful";
  p.body = "line 1\n.line 2\n";
  p.timestamp = 1700000000;
  return p;
}

TEST(MessageTest, MailHeaders) {
  setenv("TZ", "UTC", 1);
  tzset();
  std::string m = FormatMail(Parts(), false);
  EXPECT_THAT(m, StartsWith("From: ctdump <root@example.com>\nTo: a@example.com, root\n"
                            "Subject: vzdump backup status (pve1): backup successful\n"
                            "Date: Tue, 14 Nov 2023 22:13:20 +0000\nMessage-ID: <"));
  EXPECT_THAT(m, HasSubstr("\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                           "Content-Transfer-Encoding: 8bit\nAuto-Submitted: auto-generated;\n\n"
                           "line 1\n.line 2\n"));
  EXPECT_THAT(m, Not(HasSubstr("\r")));
  unsetenv("TZ");
  tzset();
}

TEST(MessageTest, SmtpLineEndsAreCrlf) {
  std::string m = FormatMail(Parts(), true);
  EXPECT_THAT(m, HasSubstr("To: a@example.com, root\r\n"));
  EXPECT_THAT(m, HasSubstr("\r\n\r\nline 1\r\n.line 2\r\n"));
  size_t bare = 0;
  for (size_t i = 0; i < m.size(); ++i) bare += m[i] == '\n' && (i == 0 || m[i - 1] != '\r');
  EXPECT_EQ(bare, 0u);
}

TEST(MessageTest, NonAsciiSubjectIsEncodedAndNoHeaderInjection) {
  MailParts p = Parts();
  p.subject = "Sicherung fehlgeschlagen: \xc3\xa4\xc3\xb6\xc3\xbc";
  std::string m = FormatMail(p, false);
  EXPECT_THAT(m, HasSubstr("Subject: =?utf-8?B?"));
  p.subject = "x\nBcc: victim@example.com";
  m = FormatMail(p, false);
  EXPECT_THAT(m, HasSubstr("Subject: x Bcc: victim@example.com\n"));
  EXPECT_THAT(m, Not(HasSubstr("\nBcc:")));
}

// Title (Subject) and author (From's display name) may carry text from a job;
// a CR or LF in them must not start a header of its own (no Bcc injection),
// in either line-end style, also when the text is not ASCII (RFC 2047).
TEST(MessageTest, CrLfInSubjectOrAuthorCannotInjectHeaders) {
  for (bool crlf : {false, true}) {
    MailParts p = Parts();
    p.subject = "backup ok\r\nBcc: evil@x";
    p.author = "ctdump\r\nBcc: evil2@x\nX-A: 1\rX-B: 2";
    std::string m = FormatMail(p, crlf);
    std::string headers = m.substr(0, m.find(crlf ? "\r\n\r\n" : "\n\n"));
    EXPECT_THAT(headers, HasSubstr("Subject: backup ok  Bcc: evil@x"));
    EXPECT_THAT(headers, HasSubstr("From: ctdump  Bcc: evil2@x X-A: 1 X-B: 2 <root@example.com>"));
    for (std::string_view bad : {"\nBcc", "\rBcc", "\nX-A", "\rX-A", "\nX-B", "\rX-B"}) {
      EXPECT_THAT(headers, Not(HasSubstr(std::string(bad)))) << crlf;
    }
    // Nine headers, each on a line of its own.
    size_t lines = 0;
    for (char c : headers) lines += c == '\n';
    EXPECT_EQ(lines, 8u) << headers;
    p.subject = "\xc3\xa4\r\nBcc: evil@x";
    m = FormatMail(p, crlf);
    headers = m.substr(0, m.find(crlf ? "\r\n\r\n" : "\n\n"));
    EXPECT_THAT(headers, HasSubstr("Subject: =?utf-8?B?"));
    EXPECT_THAT(headers, Not(HasSubstr("\nBcc")));
  }
}

// A body's line ends are the transport's: CRLF for SMTP (a bare CR or LF is
// not sent), LF for sendmail; lines starting with "." are left to the
// transport (libcurl dot-stuffs SMTP uploads; sendmail gets -i).
TEST(MessageTest, BodyLineEndsAreNormalized) {
  MailParts p = Parts();
  p.body = "a\r\nb\rc\n.\n.x\n";
  std::string m = FormatMail(p, true);
  EXPECT_THAT(m, HasSubstr("\r\n\r\na\r\nbc\r\n.\r\n.x\r\n"));
  size_t bare = 0;
  for (size_t i = 0; i < m.size(); ++i) {
    bare += (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')) ||
            (m[i] == '\r' && (i + 1 == m.size() || m[i + 1] != '\n'));
  }
  EXPECT_EQ(bare, 0u);
  m = FormatMail(p, false);
  EXPECT_THAT(m, HasSubstr("\n\na\nbc\n.\n.x\n"));
  EXPECT_THAT(m, Not(HasSubstr("\r")));
}

TEST(MessageTest, LongLinesAreQuotedPrintable) {
  MailParts p = Parts();
  p.body = std::string(2000, 'x') + "=\n";
  std::string m = FormatMail(p, true);
  EXPECT_THAT(m, HasSubstr("Content-Transfer-Encoding: quoted-printable\r\n"));
  EXPECT_THAT(m, HasSubstr("=3D\r\n"));
  size_t line = 0, longest = 0;
  for (char c : m) {
    line = c == '\n' ? 0 : line + 1;
    longest = std::max(longest, line);
  }
  EXPECT_LE(longest, 78u);
}

TEST(MessageTest, GotifyBodyAsProxmoxNotify) {
  Notification n;
  n.severity = Severity::kError;
  n.title = "backup \"failed\"";
  n.message = "ct 101: error\n";
  EXPECT_EQ(GotifyBody(n),
            R"({"extras":{"client::display":{"contentType":"text/markdown"}},)"
            R"("message":"```\nct 101: error\n\n```","priority":9,"title":"backup \"failed\""})");
  // Text from a container (ESC, bytes that are not UTF-8) stays valid JSON.
  n.title = "ct\x1b[2J\xff";
  n.message = "/srv/\xfe\xc3\xa4\n";
  EXPECT_EQ(GotifyBody(n),
            "{\"extras\":{\"client::display\":{\"contentType\":\"text/markdown\"}},"
            "\"message\":\"```\\n/srv/\xef\xbf\xbd\xc3\xa4\\n\\n```\",\"priority\":9,"
            "\"title\":\"ct\\u001b[2J\xef\xbf\xbd\"}");
  EXPECT_EQ(GotifyPriority(Severity::kInfo), 1);
  EXPECT_EQ(GotifyPriority(Severity::kNotice), 3);
  EXPECT_EQ(GotifyPriority(Severity::kWarning), 5);
  EXPECT_EQ(GotifyPriority(Severity::kUnknown), 3);
}

TEST(MessageTest, WebhookRequestRendersUrlHeadersAndBody) {
  Target t;
  t.type = TargetType::kWebhook;
  t.name = "w";
  t.method = "put";
  t.url = "http://127.0.0.1/{{ url-encode fields.hostname }}?t={{ secrets.token }}";
  t.headers = {{"X-Severity", "{{ severity }}"}, {"Authorization", "Bearer {{ secrets.token }}"}};
  t.body = R"({"title":"{{ escape title }}","ts":{{ timestamp }},"fields":{{ json fields }}})";
  t.secrets = {{"token", "tok"}};
  Notification n;
  n.severity = Severity::kWarning;
  n.title = "a \"b\"";
  n.timestamp = 5;
  n.fields = {{"hostname", "pve 1"}, {"type", "vzdump"}};
  Result<HttpRequest> r = BuildWebhookRequest(t, n);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->method, "PUT");
  EXPECT_EQ(r->url, "http://127.0.0.1/pve%201?t=tok");
  ASSERT_EQ(r->headers.size(), 2u);
  EXPECT_EQ(r->headers[0].second, "warning");
  EXPECT_EQ(r->headers[1].second, "Bearer tok");
  EXPECT_EQ(r->body, R"({"title":"a \"b\"","ts":5,"fields":{"hostname":"pve 1","type":"vzdump"}})");
  // A header whose rendered value would break the request is refused.
  t.headers = {{"X-Title", "{{ title }}"}};
  n.title = "a\r\nX-Evil: 1";
  r = BuildWebhookRequest(t, n);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("line break"));
}

class SendmailTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = *sys::MakeTempDir("/tmp/notify_sendmail_test."); }
  void TearDown() override {
    unsetenv("CTDUMP_SENDMAIL");
    sys::RemoveTree(dir_).IgnoreError();
  }
  void Script(const std::string& body) {
    std::string path = dir_ + "/sendmail";
    ASSERT_TRUE(sys::WriteFileAtomic(path, "#!/bin/sh\n" + body, 0755).ok());
    ASSERT_EQ(setenv("CTDUMP_SENDMAIL", path.c_str(), 1), 0);
  }
  std::string dir_;
};

TEST_F(SendmailTest, PipesTheMessageWithEnvelopeArguments) {
  Script("printf '%s\\n' \"$@\" > \"$(dirname \"$0\")/args\"; cat > \"$(dirname \"$0\")/msg\"\n");
  Status s = SendMail({"a@example.com", "b@example.com"}, "subject", "body\n", nullptr);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(*sys::ReadFile(dir_ + "/args"),
            "-i\n-B\n8BITMIME\n-f\nroot\n--\na@example.com\nb@example.com\n");
  std::string msg = *sys::ReadFile(dir_ + "/msg");
  EXPECT_THAT(msg, StartsWith("From: ctdump <root>\nTo: a@example.com, b@example.com\n"
                              "Subject: subject\n"));
  EXPECT_THAT(msg, HasSubstr("\n\nbody\n"));
}

// sendmail (Postfix, Exim, sendmail) ends the message at a line that is just
// "." unless given -i (or -oi): the stub does so too, so a body line "."
// (text from inside a container) must not cut the mail short.
TEST_F(SendmailTest, LoneDotLineDoesNotEndTheMessage) {
  Script(
      "dot=1; for a in \"$@\"; do case \"$a\" in -i|-oi) dot=0;; --) break;; esac; done\n"
      "if [ $dot = 1 ]; then awk '/^\\.$/{exit} {print}' > \"$(dirname \"$0\")/msg\"; cat "
      ">/dev/null\n"
      "else cat > \"$(dirname \"$0\")/msg\"; fi\n");
  Status s = SendMail({"a@example.com"}, "s", "first\n.\nINFO: forged\n.x\nlast\n", nullptr);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_THAT(*sys::ReadFile(dir_ + "/msg"), HasSubstr("\n\nfirst\n.\nINFO: forged\n.x\nlast\n"));
}

TEST_F(SendmailTest, FailureCarriesExitCodeAndOutput) {
  Script("cat >/dev/null; echo 'sendmail: cannot deliver' >&2; exit 75\n");
  Status s = SendMail({"a@example.com"}, "s", "b", nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("exited with code 75: sendmail: cannot deliver"));
}

TEST_F(SendmailTest, ExitWithoutReadingABigMessageIsAnErrorNotASignal) {
  Script("exit 1\n");
  Status s = SendMail({"a@example.com"}, "s", std::string(1 << 20, 'x'), nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("exited with code 1"));
}

TEST_F(SendmailTest, BackgroundChildHoldingTheOutputDoesNotDelay) {
  Script("cat >/dev/null; sleep 30 & exit 0\n");
  auto start = std::chrono::steady_clock::now();
  Status s = SendMail({"a@example.com"}, "s", "b", nullptr);
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// A program that never finishes is killed after kAttemptTimeoutSeconds (10 s).
TEST_F(SendmailTest, HungProgramIsKilledAtTheTimeout) {
  Script("exec sleep 600\n");
  auto start = std::chrono::steady_clock::now();
  Status s = SendMail({"a@example.com"}, "s", "b", nullptr);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kDeadlineExceeded);
  EXPECT_THAT(s.message(), HasSubstr("did not finish within 10 s"));
  EXPECT_GE(elapsed, std::chrono::seconds(kAttemptTimeoutSeconds));
  EXPECT_LT(elapsed, std::chrono::seconds(kAttemptTimeoutSeconds + 5));
}

TEST_F(SendmailTest, MissingProgram) {
  ASSERT_EQ(setenv("CTDUMP_SENDMAIL", "/nonexistent/sendmail", 1), 0);
  Status s = SendMail({"a@example.com"}, "s", "b", nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("/nonexistent/sendmail"));
  // Not retried: a sendmail target fails at once.
  Target t;
  t.name = "m";
  t.mailto = {"a@example.com"};
  Config c;
  c.targets = {t};
  auto start = std::chrono::steady_clock::now();
  s = SendTest(c, "m", nullptr);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(HttpTest, ClosedPortIsUnavailable) {
  HttpRequest req{"POST", "http://127.0.0.1:1/x", {}, "{}"};
  Status s = SendHttp(req, {});
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("POST http://127.0.0.1:1/x: "));
}

TEST(HttpTest, SecretsAreMaskedInErrors) {
  HttpRequest req{"POST", "http://127.0.0.1:1/topsecret", {}, ""};
  Status s = SendHttp(req, {"topsecret"});
  EXPECT_THAT(s.message(), HasSubstr("http://127.0.0.1:1/<masked>"));
  EXPECT_THAT(s.message(), Not(HasSubstr("topsecret")));
}

}  // namespace
}  // namespace ctdump::notify

namespace ctdump::notify {
namespace {

class Recorder : public Observer {
 public:
  void Log(LogLevel level, std::string_view message) noexcept override {
    lines.emplace_back(level, std::string(message));
  }
  std::vector<std::pair<LogLevel, std::string>> lines;
};

// One target that works (a sendmail script), one that cannot render its
// template (not retried): Dispatch counts one, warns once about the other.
TEST_F(SendmailTest, DispatchCountsTheTargetsThatGotIt) {
  Script("cat > \"$(dirname \"$0\")/msg\"\n");
  Result<Config> c = ParseConfig(
      "sendmail: mail\n\tmailto a@example.com\n\n"
      "webhook: hook\n\turl http://127.0.0.1:1/{{ url-encode fields.job-id }}\n\n"
      "matcher: all\n\ttarget hook\n\ttarget mail\n",
      "n.cfg", "", "p.cfg");
  ASSERT_TRUE(c.ok()) << c.status().message();
  Notification n;
  n.severity = Severity::kError;
  n.title = "backup failed";
  n.fields = {{"type", "vzdump"}};  // no job-id: url-encode fails
  Recorder rec;
  EXPECT_EQ(Dispatch(*c, n, &rec), 1u);
  ASSERT_EQ(rec.lines.size(), 1u);
  EXPECT_EQ(rec.lines[0].first, LogLevel::kWarn);
  EXPECT_THAT(rec.lines[0].second,
              HasSubstr("notification target 'hook' (webhook) failed after 1 attempt: failed to "
                        "render webhook url: url-encode: missing parameter (fields.job-id is not "
                        "set)"));
  EXPECT_THAT(*sys::ReadFile(dir_ + "/msg"), HasSubstr("Subject: backup failed\n"));
}

}  // namespace
}  // namespace ctdump::notify
