#include "provider/protocol_client.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "sys/file.h"
#include "sys/signals.h"

namespace ctdump::provider {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxLine = 16 << 20;  // a line longer than this is not a valid message

std::string Excerpt(const std::string& line) {
  std::string s = line.size() > 120 ? line.substr(0, 120) + "..." : line;
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  return s;
}

LogLevel ParseLevel(const json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s == "info") return LogLevel::kInfo;
    if (s == "warn") return LogLevel::kWarn;
  }
  return LogLevel::kErr;  // unknown levels are errors, as in PVE's debugmsg
}

// The self-pipe stays readable after a signal; empty it so poll() sleeps.
void DrainInterruptFd() {
  char buf[64];
  if (sys::InterruptFd() >= 0)
    while (::read(sys::InterruptFd(), buf, sizeof(buf)) > 0) {
    }
}

std::optional<uint64_t> AsCount(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

}  // namespace

ProtocolClient::ProtocolClient(std::string label, sys::Subprocess process, Observer* observer)
    : label_(std::move(label)), process_(std::move(process)), observer_(observer) {
  for (int fd : {process_.stdout_fd().get(), process_.stderr_fd().get()})
    if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

ProtocolClient::~ProtocolClient() { Abort(); }

Status ProtocolClient::Fail(Status s) {
  broken_ = true;
  Abort();
  return s;
}

void ProtocolClient::HandleNotification(const json& msg) {
  const std::string& method = msg["method"].get_ref<const std::string&>();
  const json params = msg.contains("params") ? msg["params"] : json::object();
  if (method == "log") {
    std::string text = params.is_object() && params.contains("message") && params["message"].is_string()
                           ? params["message"].get<std::string>()
                           : params.dump();
    LogLevel level = params.is_object() && params.contains("level") ? ParseLevel(params["level"])
                                                                     : LogLevel::kInfo;
    size_t start = 0;
    while (start <= text.size()) {
      size_t nl = text.find('\n', start);
      std::string part = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      if (!part.empty() || start == 0) observer_->Log(level, part);
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  } else if (method == "progress" && params.is_object()) {
    Progress p;
    if (params.contains("bytes")) p.bytes = AsCount(params["bytes"]).value_or(0);
    if (params.contains("files")) p.files = AsCount(params["files"]).value_or(0);
    if (params.contains("total-bytes")) p.total_bytes = AsCount(params["total-bytes"]);
    observer_->OnProgress(p);
  } else {
    observer_->Log(LogLevel::kWarn, fmt::format("{} sent unknown notification '{}'", label_, method));
  }
}

Status ProtocolClient::HandleStdoutLine(const std::string& line, int64_t id,
                                        std::optional<json>* response) {
  json msg = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (msg.is_discarded() || !msg.is_object() || !msg.contains("jsonrpc") ||
      msg["jsonrpc"] != "2.0")
    return InvalidArgumentError(
        fmt::format("{} wrote an invalid message: '{}'", label_, Excerpt(line)));
  if (msg.contains("method")) {
    if (!msg["method"].is_string() || msg.contains("id"))
      return InvalidArgumentError(
          fmt::format("{} sent a request or malformed notification: '{}'", label_, Excerpt(line)));
    HandleNotification(msg);
    return Status::OK();
  }
  if (!msg.contains("id") || msg["id"] != id)
    return InvalidArgumentError(
        fmt::format("{} answered with an unexpected id: '{}'", label_, Excerpt(line)));
  bool has_result = msg.contains("result"), has_error = msg.contains("error");
  if (has_result == has_error)
    return InvalidArgumentError(fmt::format(
        "{} sent a response with neither or both of result and error: '{}'", label_, Excerpt(line)));
  if (has_error) {
    const json& e = msg["error"];
    if (!e.is_object() || !e.contains("message") || !e["message"].is_string())
      return InvalidArgumentError(
          fmt::format("{} sent a malformed error response: '{}'", label_, Excerpt(line)));
    *response = json::object({{"error", e}});
  } else {
    *response = json::object({{"result", msg["result"]}});
  }
  return Status::OK();
}

Status ProtocolClient::ExitedError(const std::string& method) {
  std::string how = "closed its output";
  auto st = process_.WaitFor(std::chrono::milliseconds(2000));
  if (st.ok() && st->has_value()) how = sys::DescribeWaitStatus(**st);
  return UnavailableError(
      fmt::format("{} exited unexpectedly during '{}' ({})", label_, method, how));
}

Result<json> ProtocolClient::Call(const std::string& method, json params,
                                  std::chrono::seconds timeout) {
  if (broken_ || !process_.running())
    return UnavailableError(fmt::format("{} is not running (calling '{}')", label_, method));
  // A signal that arrives during this call ends it; an earlier one does not, so
  // cleanup calls after an interruption still reach the provider.
  const int signals_before = sys::InterruptCount();
  DrainInterruptFd();
  int64_t id = next_id_++;
  json req = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) req["params"] = std::move(params);
  std::string line = req.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  Status ws = sys::WriteAll(process_.stdin_fd().get(), line, fmt::format("to {}", label_));
  if (!ws.ok()) return Fail(ExitedError(method));

  auto deadline = Clock::now() + timeout;
  std::optional<json> response;
  bool out_open = true;
  // Lines read during the previous call (notifications sent after its response).
  for (size_t nl; !response && (nl = out_buf_.find('\n')) != std::string::npos;) {
    std::string l = out_buf_.substr(0, nl);
    out_buf_.erase(0, nl + 1);
    Status s = HandleStdoutLine(l, id, &response);
    if (!s.ok()) return Fail(s);
  }
  while (!response) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0)
      return Fail(DeadlineExceededError(fmt::format("{} did not answer '{}' within {} s", label_,
                                                    method, timeout.count())));
    pollfd fds[3] = {{process_.stdout_fd().get(), POLLIN, 0},
                     {process_.stderr_fd().get(), POLLIN, 0},
                     {sys::InterruptFd(), POLLIN, 0}};
    int n = ::poll(fds, 3, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) return Fail(ErrnoError(errno, "poll"));
    if (sys::InterruptCount() != signals_before) {
      return Fail(CancelledError("interrupted by signal"));
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      std::string& buf = i == 0 ? out_buf_ : err_buf_;
      char chunk[65536];
      ssize_t r = ::read(fds[i].fd, chunk, sizeof(chunk));
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0) {
        if (i == 0) out_open = false;
        else process_.stderr_fd().Reset();
        continue;
      }
      buf.append(chunk, static_cast<size_t>(r));
      size_t nl;
      // Stdout lines after the response stay buffered for the next call.
      while ((i == 1 || !response) && (nl = buf.find('\n')) != std::string::npos) {
        std::string l = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        if (i == 1) {
          observer_->Log(LogLevel::kInfo, "provider: " + l);
        } else {
          Status s = HandleStdoutLine(l, id, &response);
          if (!s.ok()) return Fail(s);
        }
      }
      if (buf.size() > kMaxLine)
        return Fail(InvalidArgumentError(fmt::format("{} wrote a line longer than {} bytes",
                                                     label_, kMaxLine)));
    }
    if (!out_open && !response) return Fail(ExitedError(method));
  }
  if (response->contains("error")) {
    const json& e = (*response)["error"];
    Code code = Code::kFailedPrecondition;
    if (e.contains("code") && e["code"] == -32601) code = Code::kNotFound;
    if (e.contains("code") && e["code"] == -32602) code = Code::kInvalidArgument;
    return Status(code, e["message"].get<std::string>());
  }
  return (*response)["result"];
}

Status ProtocolClient::Shutdown(std::chrono::seconds timeout) {
  if (!process_.running()) return Status::OK();
  Status s;
  if (!broken_) {
    auto r = Call("shutdown", nullptr, timeout);
    if (!r.ok()) s = r.status();
  }
  process_.stdin_fd().Reset();
  if (process_.running()) {
    auto st = process_.WaitFor(std::chrono::seconds(10));
    if (st.ok() && st->has_value()) {
      // Drain what stderr still holds.
      if (process_.stderr_fd().valid()) {
        char chunk[4096];
        ssize_t r;
        while ((r = ::read(process_.stderr_fd().get(), chunk, sizeof(chunk))) > 0)
          err_buf_.append(chunk, static_cast<size_t>(r));
      }
      if (s.ok() && !sys::ExitedOk(**st))
        s = UnavailableError(fmt::format("{} {} after shutdown", label_, sys::DescribeWaitStatus(**st)));
    } else {
      process_.KillAndReap();
      if (s.ok()) s = DeadlineExceededError(fmt::format("{} did not exit within 10 s after shutdown; killed", label_));
    }
  }
  if (!err_buf_.empty()) {
    observer_->Log(LogLevel::kInfo, "provider: " + err_buf_);
    err_buf_.clear();
  }
  return s;
}

void ProtocolClient::Abort() {
  if (!process_.running()) return;
  process_.stdin_fd().Reset();
  auto st = process_.WaitFor(std::chrono::milliseconds(broken_ ? 0 : 2000));
  if (!st.ok() || !st->has_value()) process_.KillAndReap();
}

}  // namespace ctdump::provider
