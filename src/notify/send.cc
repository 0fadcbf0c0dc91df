// One attempt at one target: libcurl for SMTP and HTTP, the sendmail program
// through sys/subprocess.h. Each attempt is bounded by kAttemptTimeoutSeconds.
#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "notify/template.h"
#include "notify/transport.h"
#include "sys/file.h"
#include "sys/subprocess.h"

namespace ctdump::notify {
namespace {

using Clock = std::chrono::steady_clock;

void InitCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

Status Append(SlistPtr& list, const std::string& s) {
  curl_slist* l = curl_slist_append(list.get(), s.c_str());
  if (!l) return InternalError("curl_slist_append failed");
  list.release();
  list.reset(l);
  return Status::OK();
}

size_t CollectResponse(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  size_t len = size * n;
  if (out->size() < 4096) out->append(data, std::min(len, 4096 - out->size()));
  return len;
}

struct Upload {
  const std::string* data;
  size_t pos = 0;
};

size_t ReadUpload(char* buf, size_t size, size_t n, void* user) {
  auto* up = static_cast<Upload*>(user);
  size_t len = std::min(size * n, up->data->size() - up->pos);
  std::memcpy(buf, up->data->data() + up->pos, len);
  up->pos += len;
  return len;
}

// Options every transfer gets: timeouts, no signals, the CA file.
void CommonOptions(CURL* c, char* errbuf, const char* protocols) {
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(kAttemptTimeoutSeconds));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(kAttemptTimeoutSeconds));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols);
  if (const char* ca = std::getenv("CTDUMP_NOTIFY_CA_FILE"); ca && *ca) {
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
  }
}

std::string CurlError(CURLcode code, const char* errbuf) {
  return errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(code));
}

// What a failed transfer means for a retry: a refused login, an untrusted
// certificate or a malformed URL stays so (not retried); anything else may be
// passing (a connection refused, a timeout, a dropped link).
Status TransferError(CURLcode code, std::string message) {
  switch (code) {
    case CURLE_LOGIN_DENIED:
      return PermissionDeniedError(std::move(message));
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_USE_SSL_FAILED:
      return FailedPreconditionError(std::move(message));
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return InvalidArgumentError(std::move(message));
    default:
      return UnavailableError(std::move(message));
  }
}

std::string Masked(std::string s, const std::vector<std::string>& mask) {
  for (const std::string& secret : mask) {
    if (secret.empty()) continue;
    for (size_t pos = s.find(secret); pos != std::string::npos; pos = s.find(secret, pos)) {
      s.replace(pos, secret.size(), "<masked>");
    }
  }
  return s;
}

std::string FirstLine(std::string_view s, size_t max) {
  std::string_view line = s.substr(0, s.find('\n'));
  if (line.size() > max) return std::string(line.substr(0, max)) + "...";
  return std::string(line);
}

}  // namespace

std::string SendmailPath() {
  const char* env = std::getenv("CTDUMP_SENDMAIL");
  return env && *env ? env : "/usr/sbin/sendmail";
}

Status SendHttp(const HttpRequest& req, const std::vector<std::string>& mask) {
  InitCurl();
  CurlPtr c(curl_easy_init());
  if (!c) return InternalError("curl_easy_init failed");
  char errbuf[CURL_ERROR_SIZE] = {};
  CommonOptions(c.get(), errbuf, "http,https");
  curl_easy_setopt(c.get(), CURLOPT_URL, req.url.c_str());
  SlistPtr headers;
  bool has_content_type = false;
  for (const auto& [name, value] : req.headers) {
    if (strcasecmp(name.c_str(), "Content-Type") == 0) has_content_type = true;
    // "Name;" is libcurl's way to send a header with an empty value.
    RETURN_IF_ERROR(Append(headers, value.empty() ? name + ";" : name + ": " + value));
  }
  // As PVE's client: no Content-Type unless configured, no Expect.
  if (!has_content_type) RETURN_IF_ERROR(Append(headers, "Content-Type:"));
  RETURN_IF_ERROR(Append(headers, "Expect:"));
  curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, headers.get());
  if (req.method == "GET" && req.body.empty()) {
    curl_easy_setopt(c.get(), CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(req.body.size()));
    if (req.method != "POST") curl_easy_setopt(c.get(), CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  std::string response;
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, CollectResponse);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &response);
  CURLcode rc = curl_easy_perform(c.get());
  if (rc != CURLE_OK) {
    return TransferError(
        rc, Masked(fmt::format("{} {}: {}", req.method, req.url, CurlError(rc, errbuf)), mask));
  }
  long code = 0;
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &code);
  if (code < 200 || code > 299) {
    std::string message = Masked(fmt::format("{} {}: HTTP status {}: {}", req.method, req.url, code,
                                             FirstLine(response, 200)),
                                 mask);
    // A client error (a wrong token, a bad request) stays; 408, 429 and 5xx may pass.
    bool permanent = code >= 400 && code < 500 && code != 408 && code != 429;
    return permanent ? FailedPreconditionError(message) : UnavailableError(message);
  }
  return Status::OK();
}

Status SendSmtp(const Target& t, const std::string& message) {
  InitCurl();
  CurlPtr c(curl_easy_init());
  if (!c) return InternalError("curl_easy_init failed");
  char errbuf[CURL_ERROR_SIZE] = {};
  CommonOptions(c.get(), errbuf, "smtp,smtps");
  uint16_t port = t.port.value_or(t.mode == SmtpMode::kTls        ? 465
                                  : t.mode == SmtpMode::kStarttls ? 587
                                                                  : 25);
  std::string host = t.server.find(':') != std::string::npos ? "[" + t.server + "]" : t.server;
  std::string url =
      fmt::format("{}://{}:{}", t.mode == SmtpMode::kTls ? "smtps" : "smtp", host, port);
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_USE_SSL,
                   t.mode == SmtpMode::kStarttls ? static_cast<long>(CURLUSESSL_ALL)
                                                 : static_cast<long>(CURLUSESSL_NONE));
  if (!t.username.empty()) {
    curl_easy_setopt(c.get(), CURLOPT_USERNAME, t.username.c_str());
    curl_easy_setopt(c.get(), CURLOPT_PASSWORD, t.password.c_str());
  }
  std::string from = "<" + t.from_address + ">";
  curl_easy_setopt(c.get(), CURLOPT_MAIL_FROM, from.c_str());
  SlistPtr rcpt;
  for (const std::string& r : t.mailto) RETURN_IF_ERROR(Append(rcpt, "<" + r + ">"));
  curl_easy_setopt(c.get(), CURLOPT_MAIL_RCPT, rcpt.get());
  Upload up{&message};
  curl_easy_setopt(c.get(), CURLOPT_READFUNCTION, ReadUpload);
  curl_easy_setopt(c.get(), CURLOPT_READDATA, &up);
  curl_easy_setopt(c.get(), CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c.get(), CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  CURLcode rc = curl_easy_perform(c.get());
  if (rc != CURLE_OK) {
    return TransferError(rc,
                         Masked(fmt::format("{}: {}", url, CurlError(rc, errbuf)), {t.password}));
  }
  return Status::OK();
}

Status RunSendmail(const std::vector<std::string>& to, const std::string& from,
                   const std::string& message) {
  std::string path = SendmailPath();
  if (to.empty()) return InvalidArgumentError("no recipients");
  sys::SpawnOptions opts;
  // -i: a line with a lone "." is text, not the end of the message (Postfix,
  // Exim and sendmail stop there without it; msmtp accepts and ignores it).
  opts.argv = {path, "-i", "-B", "8BITMIME", "-f", from, "--"};
  opts.argv.insert(opts.argv.end(), to.begin(), to.end());
  opts.pipe_stdin = opts.pipe_stdout = opts.pipe_stderr = true;
  opts.new_session = true;
  ASSIGN_OR_RETURN(sys::Subprocess child, sys::Spawn(opts));
  auto deadline = Clock::now() + std::chrono::seconds(kAttemptTimeoutSeconds);
  int in = child.stdin_fd().get();
  ::fcntl(in, F_SETFL, ::fcntl(in, F_GETFL) | O_NONBLOCK);
  // A sendmail that exits without reading must not kill ctdump with SIGPIPE:
  // block it here and discard a pending one afterwards.
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  size_t written = 0;
  std::string output;
  bool out_open = true, err_open = true, exited = false;
  std::string write_error;
  auto read_from = [&](int fd, bool& open) {
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0 && output.size() < 16384) output.append(buf, static_cast<size_t>(n));
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) open = false;
  };
  // Until the message is written and the program has exited (or closed its
  // output); a background child that keeps the output open cannot hold us.
  while (Clock::now() < deadline && !exited && (child.stdin_fd().valid() || out_open || err_open)) {
    struct pollfd fds[4] = {{child.stdin_fd().get(), POLLOUT, 0},
                            {out_open ? child.stdout_fd().get() : -1, POLLIN, 0},
                            {err_open ? child.stderr_fd().get() : -1, POLLIN, 0},
                            {child.stdin_fd().valid() ? -1 : child.pidfd(), POLLIN, 0}};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (::poll(fds, 4, static_cast<int>(std::max<int64_t>(1, left.count()))) < 0 &&
        errno != EINTR) {
      break;
    }
    if (fds[0].revents) {
      ssize_t n =
          ::write(child.stdin_fd().get(), message.data() + written, message.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN && errno != EINTR) write_error = std::strerror(errno);
      if (written == message.size() || !write_error.empty()) child.stdin_fd().Reset();
    }
    if (fds[1].revents) read_from(fds[1].fd, out_open);
    if (fds[2].revents) read_from(fds[2].fd, err_open);
    if (fds[3].revents) exited = true;
  }
  // What the program wrote before it exited.
  for (auto [fd, open] : {std::pair{child.stdout_fd().get(), &out_open},
                          std::pair{child.stderr_fd().get(), &err_open}}) {
    if (!*open) continue;
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    for (int i = 0; i < 8 && *open; ++i) {
      size_t before = output.size();
      read_from(fd, *open);
      if (output.size() == before) break;
    }
  }
  struct timespec zero {};
  while (sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  ASSIGN_OR_RETURN(std::optional<int> status,
                   child.WaitFor(std::max(std::chrono::milliseconds(0), left)));
  if (!status) {
    child.KillAndReap();
    return DeadlineExceededError(
        fmt::format("{} did not finish within {} s", path, kAttemptTimeoutSeconds));
  }
  if (!sys::ExitedOk(*status)) {
    std::string out = output.empty() ? "" : ": " + FirstLine(output, 300);
    return UnavailableError(fmt::format("{} {}{}", path, sys::DescribeWaitStatus(*status), out));
  }
  if (!write_error.empty()) {
    return IOError(fmt::format("writing the message to {}: {}", path, write_error));
  }
  return Status::OK();
}

Status SendOnce(const Target& t, const Notification& n) {
  switch (t.type) {
    case TargetType::kSendmail: {
      MailParts p{t.author.empty() ? "ctdump" : t.author,
                  t.from_address.empty() ? "root" : t.from_address,
                  t.mailto,
                  n.title,
                  n.message,
                  n.timestamp};
      return RunSendmail(t.mailto, p.from, FormatMail(p, false));
    }
    case TargetType::kSmtp: {
      MailParts p{t.author.empty() ? "ctdump" : t.author,
                  t.from_address,
                  t.mailto,
                  n.title,
                  n.message,
                  n.timestamp};
      return SendSmtp(t, FormatMail(p, true));
    }
    case TargetType::kGotify: {
      std::string server = t.server;
      while (!server.empty() && server.back() == '/') server.pop_back();
      HttpRequest req{"POST",
                      server + "/message",
                      {{"Content-Type", "application/json"},
                       {"Authorization", "Bearer " + t.token},
                       {"X-Gotify-Key", t.token}},
                      GotifyBody(n)};
      return SendHttp(req, {t.token});
    }
    case TargetType::kWebhook: {
      std::vector<std::string> mask;
      // As written and as the helpers render them (PVE masks exact matches only).
      for (const NameValue& s : t.secrets) {
        mask.push_back(s.value);
        mask.push_back(UrlEncode(s.value));
        mask.push_back(JsonEscape(s.value));
      }
      Result<HttpRequest> req = BuildWebhookRequest(t, n);
      if (!req.ok()) {
        return Status(req.status().code(), Masked(req.status().message(), mask));
      }
      return SendHttp(*req, mask);
    }
  }
  return InternalError("unknown target type");
}

}  // namespace ctdump::notify
