#include "provider/protocol_client.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "provider/message.h"
#include "sys/file.h"
#include "sys/signals.h"

namespace ctdump::provider {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxLine = 16 << 20;    // a longer stdout line is not a valid message
constexpr size_t kMaxStderrLine = 4096;  // longer stderr lines are cut

std::string Printable(std::string_view in, size_t max) {
  std::string s(in.substr(0, max));
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  if (in.size() > max) s += "...";
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

std::optional<uint64_t> AsCount(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0)
    return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

// The self-pipe stays readable after a signal; empty it so poll() sleeps.
void DrainInterruptFd() {
  char buf[64];
  if (sys::InterruptFd() >= 0)
    while (::read(sys::InterruptFd(), buf, sizeof(buf)) > 0) {
    }
}

}  // namespace

ProtocolClient::ProtocolClient(std::string label, sys::Subprocess process, Observer* observer)
    : label_(std::move(label)), process_(std::move(process)), observer_(observer) {
  if (process_.leads_group()) group_ = process_.pid();
  for (int fd : {process_.stdin_fd().get(), process_.stdout_fd().get(), process_.stderr_fd().get()})
    if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

ProtocolClient::~ProtocolClient() { Abort(); }

Status ProtocolClient::Fail(Status s) {
  broken_ = true;
  Abort();
  return s;
}

void ProtocolClient::LogStderrLine(std::string line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  observer_->Log(LogLevel::kInfo, "provider: " + Printable(line, kMaxStderrLine));
}

void ProtocolClient::HandleNotification(const json& msg) {
  const std::string& method = msg["method"].get_ref<const std::string&>();
  static const json kEmpty = json::object();
  const json& params = msg.contains("params") ? msg["params"] : kEmpty;
  if (method == "log") {
    if (!params.is_object() || !params.contains("message") || !params["message"].is_string()) {
      observer_->Log(LogLevel::kWarn,
                     fmt::format("{} sent a log notification without a message", label_));
      return;
    }
    const std::string& text = params["message"].get_ref<const std::string&>();
    LogLevel level = params.contains("level") ? ParseLevel(params["level"]) : LogLevel::kInfo;
    size_t start = 0;
    for (;;) {
      size_t nl = text.find('\n', start);
      std::string part =
          text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      if (!part.empty() || start == 0) observer_->Log(level, Printable(part, 1 << 16));
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
    observer_->Log(LogLevel::kWarn,
                   fmt::format("{} sent unknown notification '{}'", label_, Printable(method, 64)));
  }
}

Status ProtocolClient::HandleStdoutLine(const std::string& line, int64_t id,
                                        std::optional<json>* response) {
  auto m = ParseMessage(line);
  if (!m.ok())
    return InvalidArgumentError(
        fmt::format("{} {}: '{}'", label_, m.status().message(), Printable(line, 120)));
  if (m->kind == Message::Kind::kNotification) {
    HandleNotification(m->body);
    return Status::OK();
  }
  const int64_t got = m->body["id"].get<int64_t>();
  if (abandoned_id_ != 0 && got == abandoned_id_) {
    abandoned_id_ = 0;  // the late answer to a call given up on after a signal
    return Status::OK();
  }
  if (id == 0 || got != id)
    return InvalidArgumentError(
        fmt::format("{} answered with an unexpected id: '{}'", label_, Printable(line, 120)));
  const char* member = m->is_error ? "error" : "result";
  response->emplace(json::object({{member, std::move(m->body[member])}}));
  return Status::OK();
}

Status ProtocolClient::ReadAvailable(int64_t id, std::optional<json>* response, bool* eof) {
  for (int i = 0; i < 2; ++i) {
    sys::UniqueFd& fd = i == 0 ? process_.stdout_fd() : process_.stderr_fd();
    std::string& buf = i == 0 ? out_buf_ : err_buf_;
    char chunk[65536];
    while (fd.valid()) {
      ssize_t r = ::read(fd.get(), chunk, sizeof(chunk));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) break;  // EAGAIN: nothing more for now
      if (r == 0) {
        if (i == 0) *eof = true;
        if (i == 1 && !buf.empty()) LogStderrLine(std::exchange(buf, std::string()));
        fd.Reset();
        break;
      }
      buf.append(chunk, static_cast<size_t>(r));
      if (i == 1) {
        size_t nl;
        while ((nl = buf.find_first_of("\n\r")) != std::string::npos) {
          LogStderrLine(buf.substr(0, nl));
          buf.erase(0, nl + 1);
        }
        if (buf.size() > kMaxStderrLine) LogStderrLine(std::exchange(buf, std::string()));
      }
    }
  }
  // Stdout lines after the response stay buffered for the next call.
  size_t nl;
  while (!*response && (nl = out_buf_.find('\n')) != std::string::npos) {
    std::string l = out_buf_.substr(0, nl);
    out_buf_.erase(0, nl + 1);
    RETURN_IF_ERROR(HandleStdoutLine(l, id, response));
  }
  if (out_buf_.size() > kMaxLine)
    return InvalidArgumentError(
        fmt::format("{} wrote a line longer than {} bytes", label_, kMaxLine));
  return Status::OK();
}

Status ProtocolClient::ExitedError(const std::string& method) {
  std::string how = "closed its output";
  auto st = DrainUntilExit(std::chrono::milliseconds(2000));
  if (st) how = sys::DescribeWaitStatus(*st);
  return UnavailableError(
      fmt::format("{} exited unexpectedly during '{}' ({})", label_, method, how));
}

Result<json> ProtocolClient::Call(const std::string& method, const json& params,
                                  std::chrono::seconds timeout) {
  if (broken_ || !process_.running())
    return UnavailableError(fmt::format("{} is not running (calling '{}')", label_, method));
  // A signal that arrives during this call ends it; an earlier one does not, so
  // cleanup calls after an interruption still reach the provider.
  const int signals_before = sys::InterruptCount();
  DrainInterruptFd();
  int64_t id = next_id_++;
  json req = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) req["params"] = params;
  std::string out;
  try {
    out = req.dump() + "\n";
  } catch (const json::exception&) {
    return InvalidArgumentError(fmt::format(
        "cannot send '{}' to {}: a parameter (e.g. the guest config) is not valid UTF-8", method,
        label_));
  }

  auto deadline = Clock::now() + timeout;
  std::optional<json> response;
  bool eof = false;
  size_t written = 0;
  for (;;) {
    if (written < out.size()) {
      ssize_t n = ::write(process_.stdin_fd().get(), out.data() + written, out.size() - written);
      if (n > 0)
        written += static_cast<size_t>(n);
      else if (n < 0 && errno != EAGAIN && errno != EINTR)
        return Fail(ExitedError(method));
    }
    {
      Status s = ReadAvailable(id, &response, &eof);
      // A protocol violation (garbage, a wrong id, an endless line) names
      // the method it broke, as the protocol's §8 asks of every error.
      if (!s.ok())
        return Fail(Status(s.code(), fmt::format("{} during '{}'", s.message(), method)));
    }
    if (response) break;
    if (eof) return Fail(ExitedError(method));
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0)
      return Fail(DeadlineExceededError(
          fmt::format("{} did not answer '{}' within {} s", label_, method, timeout.count())));
    pollfd fds[4] = {{process_.stdout_fd().get(), POLLIN, 0},
                     {process_.stderr_fd().get(), POLLIN, 0},
                     {sys::InterruptFd(), POLLIN, 0},
                     {written < out.size() ? process_.stdin_fd().get() : -1, POLLOUT, 0}};
    int n = ::poll(fds, 4, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) return Fail(ErrnoError(errno, "poll"));
    if (sys::InterruptCount() != signals_before) {
      if (signals_before == 0 && written == out.size()) {
        abandoned_id_ = id;  // keep the process for cleanup calls
        return CancelledError("interrupted by signal");
      }
      return Fail(CancelledError("interrupted by signal"));
    }
  }
  json& r = *response;
  if (r.contains("error")) {
    const json& e = r["error"];
    Code code = Code::kFailedPrecondition;
    if (e.contains("code") && e["code"] == -32601) code = Code::kNotFound;
    if (e.contains("code") && e["code"] == -32602) code = Code::kInvalidArgument;
    return Status(code, Printable(e["message"].get_ref<const std::string&>(), 1 << 16));
  }
  return std::move(r["result"]);
}

std::optional<int> ProtocolClient::DrainUntilExit(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::optional<json> ignored;
  for (;;) {
    bool eof = false;
    // Keep reading so a provider blocked on a full pipe can finish; what it
    // says now is only logged.
    ReadAvailable(0, &ignored, &eof).IgnoreError();
    auto st = process_.WaitFor(std::chrono::milliseconds(0));
    if (st.ok() && st->has_value()) {
      // A crashed or killed provider's children (a backup tool it ran, still
      // writing to its repository) must not work on beside the next
      // instance: the group dies with its leader.
      if (group_ > 0) ::kill(-group_, SIGKILL);
      ReadAvailable(0, &ignored, &eof).IgnoreError();
      return **st;
    }
    if (!process_.running()) return std::nullopt;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd fds[3] = {{process_.stdout_fd().get(), POLLIN, 0},
                     {process_.stderr_fd().get(), POLLIN, 0},
                     {process_.pidfd(), POLLIN, 0}};
    ::poll(fds, 3, static_cast<int>(std::min<int64_t>(left.count(), 100)));
  }
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
    auto st = DrainUntilExit(std::chrono::seconds(10));
    if (st) {
      if (s.ok() && !sys::ExitedOk(*st))
        s = UnavailableError(
            fmt::format("{} {} after shutdown", label_, sys::DescribeWaitStatus(*st)));
    } else {
      process_.KillAndReap();
      if (s.ok())
        s = DeadlineExceededError(
            fmt::format("{} did not exit within 10 s after shutdown; killed", label_));
    }
  }
  return s;
}

void ProtocolClient::Abort() {
  if (!process_.running()) return;
  process_.stdin_fd().Reset();
  auto st = DrainUntilExit(std::chrono::milliseconds(broken_ ? 0 : 2000));
  if (!st) process_.KillAndReap();
}

}  // namespace ctdump::provider
