// How one attempt at one target is made (internal to notify).
//
// Every function here makes exactly one attempt, bounded by
// kAttemptTimeoutSeconds; retries and logging are Dispatch's (notify.cc).
#ifndef CTDUMP_NOTIFY_TRANSPORT_H_
#define CTDUMP_NOTIFY_TRANSPORT_H_

#include <string>
#include <vector>

#include "notify/notify.h"

namespace ctdump::notify {

// env CTDUMP_SENDMAIL, else /usr/sbin/sendmail.
std::string SendmailPath();

// "root@pam" -> "root": ctdump has no user database, a PVE user is the local
// mailbox of its name.
std::vector<std::string> ResolveMailtoUsers(const std::vector<std::string>& users);

// An RFC 5322 message (text/plain, UTF-8; quoted-printable when a line is too
// long for 8bit), with Date (local time), Message-ID, Subject (RFC 2047 when
// not ASCII), From "author <from>", To, Auto-Submitted. `crlf`: line ends for
// SMTP; sendmail takes "\n".
struct MailParts {
  std::string author;  // may be empty: From is the bare address
  std::string from;
  std::vector<std::string> to;
  std::string subject;
  std::string body;
  int64_t timestamp = 0;
};
std::string FormatMail(const MailParts& parts, bool crlf);

// proxmox-notify's gotify request body (keys sorted as serde_json's).
std::string GotifyBody(const Notification& n);
// Gotify's priority for a severity: info 1, notice 3, warning 5, error 9, unknown 3.
int GotifyPriority(Severity severity);

// A rendered webhook request; secrets masked out of errors.
struct HttpRequest {
  std::string method;  // POST, PUT, GET
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};
Result<HttpRequest> BuildWebhookRequest(const Target& t, const Notification& n);

// One attempt each.
Status SendHttp(const HttpRequest& request, const std::vector<std::string>& mask);
Status SendSmtp(const Target& t, const std::string& message);
Status RunSendmail(const std::vector<std::string>& to, const std::string& from,
                   const std::string& message);
Status SendOnce(const Target& t, const Notification& n);

// The short host name (as PVE's `hostname` field).
std::string ShortHostname();

}  // namespace ctdump::notify

#endif  // CTDUMP_NOTIFY_TRANSPORT_H_
