// What goes over the wire: mail messages, the gotify body, webhook requests.
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <random>

#include "base/base64.h"
#include "notify/template.h"
#include "notify/transport.h"

namespace ctdump::notify {
namespace {

bool IsPlainAscii(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) return false;
  }
  return true;
}

// A header value without line breaks (no header injection).
std::string OneLine(std::string_view s) {
  std::string out;
  for (char c : s) out += (c == '\r' || c == '\n') ? ' ' : c;
  return out;
}

// RFC 2047 encoded words of at most 45 input bytes, split at UTF-8 boundaries.
std::string EncodeHeader(std::string_view s) {
  if (IsPlainAscii(s)) return std::string(s);
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t n = std::min<size_t>(45, s.size() - i);
    while (i + n < s.size() && n > 1 && (static_cast<unsigned char>(s[i + n]) & 0xc0) == 0x80) --n;
    if (!out.empty()) out += " ";
    out += "=?utf-8?B?" + Base64Encode(s.substr(i, n)) + "?=";
    i += n;
  }
  return out;
}

std::string RfcDate(int64_t timestamp) {
  time_t t = static_cast<time_t>(timestamp);
  struct tm tm {};
  localtime_r(&t, &tm);
  // %a and %b in the C locale whatever the environment says.
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  long off = tm.tm_gmtoff / 60;
  char sign = off < 0 ? '-' : '+';
  off = off < 0 ? -off : off;
  return fmt::format("{}, {:02d} {} {} {:02d}:{:02d}:{:02d} {}{:02d}{:02d}", kDays[tm.tm_wday],
                     tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, sign, off / 60, off % 60);
}

std::string MessageId() {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  uint64_t r = (uint64_t(rd()) << 32) | rd();
  return fmt::format("<{:x}.{:x}.{}.ctdump@{}>", static_cast<uint64_t>(::time(nullptr)), r,
                     counter++, ShortHostname());
}

// Quoted-printable (RFC 2045), lines of at most 76 characters.
std::string QuotedPrintable(std::string_view body, std::string_view eol) {
  std::string out;
  size_t col = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c == '\n') {
      out += eol;
      col = 0;
      continue;
    }
    auto u = static_cast<unsigned char>(c);
    bool at_eol = i + 1 == body.size() || body[i + 1] == '\n';
    std::string piece;
    if ((u >= 33 && u <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_eol)) {
      piece = std::string(1, c);
    } else {
      piece = fmt::format("={:02X}", u);
    }
    if (col + piece.size() > 75) {
      out += "=";
      out += eol;
      col = 0;
    }
    out += piece;
    col += piece.size();
  }
  return out;
}

}  // namespace

std::string ShortHostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  std::string h(buf);
  return h.substr(0, h.find('.'));
}

std::string FormatMail(const MailParts& p, bool crlf) {
  std::string_view eol = crlf ? "\r\n" : "\n";
  std::string to;
  for (const std::string& r : p.to) to += (to.empty() ? "" : ", ") + r;
  std::string from =
      p.author.empty() ? p.from : fmt::format("{} <{}>", EncodeHeader(OneLine(p.author)), p.from);
  bool long_lines = false;
  size_t line = 0;
  for (char c : p.body) {
    line = c == '\n' ? 0 : line + 1;
    if (line > 998) long_lines = true;
  }
  std::string out;
  auto header = [&](std::string_view name, std::string_view value) {
    out += fmt::format("{}: {}{}", name, value, eol);
  };
  header("From", from);
  header("To", to);
  header("Subject", EncodeHeader(OneLine(p.subject)));
  header("Date", RfcDate(p.timestamp));
  header("Message-ID", MessageId());
  header("MIME-Version", "1.0");
  header("Content-Type", "text/plain; charset=utf-8");
  header("Content-Transfer-Encoding", long_lines ? "quoted-printable" : "8bit");
  header("Auto-Submitted", "auto-generated;");
  out += eol;
  if (long_lines) {
    out += QuotedPrintable(p.body, eol);
  } else {
    for (char c : p.body) {
      if (c == '\n') {
        out += eol;
      } else if (c != '\r') {
        out += c;
      }
    }
  }
  if (!p.body.empty() && p.body.back() != '\n') out += eol;
  return out;
}

int GotifyPriority(Severity severity) {
  switch (severity) {
    case Severity::kInfo:
      return 1;
    case Severity::kNotice:
      return 3;
    case Severity::kWarning:
      return 5;
    case Severity::kError:
      return 9;
    case Severity::kUnknown:
      return 3;
  }
  return 3;
}

std::string GotifyBody(const Notification& n) {
  // proxmox-notify puts the message in a code block (its renderer has no
  // markdown output) and marks it as markdown.
  return fmt::format(
      "{{\"extras\":{{\"client::display\":{{\"contentType\":\"text/markdown\"}}}},"
      "\"message\":\"{}\",\"priority\":{},\"title\":\"{}\"}}",
      JsonEscape("```\n" + n.message + "\n```"), GotifyPriority(n.severity), JsonEscape(n.title));
}

Result<HttpRequest> BuildWebhookRequest(const Target& t, const Notification& n) {
  TemplateData data;
  data.title = n.title;
  data.message = n.message;
  data.severity = std::string(SeverityName(n.severity));
  data.timestamp = n.timestamp;
  data.fields = n.fields;
  std::set<std::string> names;
  for (const NameValue& s : t.secrets) {
    data.secrets[s.name] = s.value;
    names.insert(s.name);
  }
  auto render = [&](const std::string& text, std::string_view what) -> Result<std::string> {
    Result<Template> tpl = Template::Parse(text, names);
    if (!tpl.ok()) return tpl.status().WithContext(fmt::format("webhook {}", what));
    Result<std::string> out = tpl->Render(data);
    if (!out.ok()) {
      return out.status().WithContext(fmt::format("failed to render webhook {}", what));
    }
    return out;
  };
  HttpRequest req;
  req.method = t.method == "put" ? "PUT" : t.method == "get" ? "GET" : "POST";
  ASSIGN_OR_RETURN(req.url, render(t.url, "url"));
  ASSIGN_OR_RETURN(req.body, render(t.body, "body"));
  for (const NameValue& h : t.headers) {
    ASSIGN_OR_RETURN(std::string value, render(h.value, "header " + h.name));
    if (value.find_first_of("\r\n") != std::string::npos) {
      return InvalidArgumentError(
          fmt::format("webhook header {}: the rendered value has a line break", h.name));
    }
    req.headers.emplace_back(h.name, std::move(value));
  }
  return req;
}

}  // namespace ctdump::notify
