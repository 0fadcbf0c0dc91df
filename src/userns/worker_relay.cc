#include "userns/worker_relay.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <vector>

#include "sys/file.h"
#include "sys/signals.h"

namespace ctdump::userns {
namespace {

constexpr size_t kMaxWorkerLine = 64 * 1024;

// A message travels as one line: '\\' and '\n' stand for a backslash and a
// newline (a file name may hold newlines; it must not split the message).
std::string EncodeLine(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  for (char c : message) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void HandleLine(std::string_view raw, Observer* observer, Status* error) {
  const std::string decoded = DecodeLine(raw);
  std::string_view line = decoded;
  std::string_view text = line.size() >= 2 ? line.substr(2) : std::string_view();
  if (line.starts_with("W ")) {
    observer->Log(LogLevel::kWarn, text);
  } else if (line.starts_with("E ")) {
    // "E <code> <message>": the first error is the worker's result.
    int code = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), code);
    bool known = ec == std::errc() && code > 0 && code <= static_cast<int>(Code::kIOError);
    std::string_view msg = p < text.data() + text.size() ? text.substr(p - text.data() + 1) : "";
    if (error->ok())
      *error = Status(known ? static_cast<Code>(code) : Code::kInternal, std::string(msg));
  } else if (line.starts_with("P ")) {
    if (auto pr = ParseProgress(text)) observer->OnProgress(*pr);
  } else if (line.starts_with("I ")) {
    observer->Log(LogLevel::kInfo, text);
  } else if (!line.empty()) {
    observer->Log(LogLevel::kInfo, line);
  }
}

void PumpMessages(sys::UniqueFd& from, std::string* pending, Observer* observer, Status* error,
                  std::vector<char>& buf) {
  ssize_t n = ::read(from.get(), buf.data(), buf.size());
  if (n < 0 && errno == EINTR) return;
  if (n <= 0) {
    from.Reset();
    HandleLine(*pending, observer, error);  // an unterminated last line
    pending->clear();
    return;
  }
  pending->append(buf.data(), static_cast<size_t>(n));
  for (size_t nl; (nl = pending->find('\n')) != std::string::npos;) {
    HandleLine(std::string_view(*pending).substr(0, nl), observer, error);
    pending->erase(0, nl + 1);
  }
  if (pending->size() > kMaxWorkerLine) pending->clear();
}

// The next space-separated field of `text`, advancing it.
std::string_view NextField(std::string_view& text) {
  size_t sp = text.find(' ');
  std::string_view field = text.substr(0, sp);
  text = sp == std::string_view::npos ? std::string_view() : text.substr(sp + 1);
  return field;
}

bool ParseCount(std::string_view field, uint64_t* out) {
  auto [p, ec] = std::from_chars(field.data(), field.data() + field.size(), *out);
  return ec == std::errc() && p == field.data() + field.size() && !field.empty();
}

bool ParseOptionalCount(std::string_view field, std::optional<uint64_t>* out) {
  if (field == "-") return true;
  uint64_t v;
  if (!ParseCount(field, &v)) return false;
  *out = v;
  return true;
}

}  // namespace

std::string DecodeLine(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size() && (line[i + 1] == '\\' || line[i + 1] == 'n')) {
      out += line[i + 1] == 'n' ? '\n' : '\\';
      ++i;
    } else {
      out += line[i];
    }
  }
  return out;
}

std::string FormatProgress(const Progress& p) {
  auto opt = [](const std::optional<uint64_t>& v) {
    return v ? fmt::format("{}", *v) : std::string("-");
  };
  // A phase is a name without spaces ("rsync-first"); anything else would
  // shift the fields.
  std::string phase = p.phase.empty() || p.phase.find(' ') != std::string::npos ? "-" : p.phase;
  std::string out = fmt::format("{} {} {} {} {}", p.bytes, p.files, opt(p.total_bytes),
                                opt(p.total_files), phase);
  if (!p.current.empty()) out += " " + p.current;
  return out;
}

std::optional<Progress> ParseProgress(std::string_view text) {
  Progress p;
  if (!ParseCount(NextField(text), &p.bytes) || !ParseCount(NextField(text), &p.files))
    return std::nullopt;
  if (text.empty()) return p;  // the short form
  if (!ParseOptionalCount(NextField(text), &p.total_bytes) ||
      !ParseOptionalCount(NextField(text), &p.total_files))
    return std::nullopt;
  std::string_view phase = NextField(text);
  if (phase.empty()) return std::nullopt;
  if (phase != "-") p.phase = phase;
  p.current = text;
  return p;
}

void LineObserver::Log(LogLevel level, std::string_view message) noexcept {
  Send(level == LogLevel::kInfo ? 'I' : 'W', message);
}

void LineObserver::OnProgress(const Progress& p) noexcept {
  try {
    Write(fmt::format("P {}\n", EncodeLine(FormatProgress(p))));
  } catch (...) {  // out of memory: progress is not worth failing for
  }
}

void LineObserver::SendError(const Status& s) noexcept {
  Write(fmt::format("E {} {}\n", static_cast<int>(s.code()), EncodeLine(s.message())));
}

void LineObserver::Send(char kind, std::string_view message) noexcept {
  Write(fmt::format("{} {}\n", kind, EncodeLine(message)));
}

void LineObserver::Write(const std::string& line) noexcept {
  sys::WriteAll(fd_, line, "worker messages").IgnoreError();
}

Status RelayWorker(sys::Subprocess& worker, const std::string& what, Observer* observer,
                   const std::function<Status(const char* data, size_t size)>& on_data) {
  ::fcntl(worker.stdout_fd().get(), F_SETPIPE_SZ, 1 << 20);  // fewer wake-ups; best effort
  std::vector<char> buf(1 << 20);
  std::vector<char> msg_buf(64 * 1024);
  std::string pending;
  Status error;  // the worker's own report
  while (worker.stdout_fd().valid() || worker.stderr_fd().valid()) {
    struct pollfd fds[3] = {{worker.stdout_fd().get(), POLLIN, 0},
                            {worker.stderr_fd().get(), POLLIN, 0},
                            {sys::InterruptFd(), POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0 && errno != EINTR) {
      worker.KillAndReap();
      return ErrnoError(errno, fmt::format("poll on the {}", what));
    }
    Status s = sys::CheckInterrupted();
    if (s.ok() && fds[0].fd >= 0 && fds[0].revents != 0) {
      ssize_t n = ::read(worker.stdout_fd().get(), buf.data(), buf.size());
      if (n < 0 && errno != EINTR) {
        s = ErrnoError(errno, fmt::format("Failed to read from the {}", what));
      } else if (n == 0) {
        worker.stdout_fd().Reset();
      } else if (n > 0) {
        s = on_data(buf.data(), static_cast<size_t>(n));
      }
    }
    if (!s.ok()) {
      worker.KillAndReap();  // its whole process group
      return s;
    }
    if (fds[1].fd >= 0 && fds[1].revents != 0)
      PumpMessages(worker.stderr_fd(), &pending, observer, &error, msg_buf);
  }
  ASSIGN_OR_RETURN(int status, worker.Wait());
  if (sys::ExitedOk(status)) return Status::OK();
  if (!error.ok()) return error;
  return InternalError(fmt::format("{} {}", what, sys::DescribeWaitStatus(status)));
}

}  // namespace ctdump::userns
