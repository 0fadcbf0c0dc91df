#include "crypt/passphrase.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iterator>

#include "sys/file.h"
#include "sys/unique_fd.h"

namespace ctdump::crypt {
namespace {

struct Sources {
  const char* fd_env;
  const char* file_env;
};

constexpr Sources kCurrent{kPassphraseFdEnv, kPassphraseFileEnv};
constexpr Sources kNew{kNewPassphraseFdEnv, kNewPassphraseFileEnv};

// Reads `fd` to EOF (at most kMaxPassphraseSize bytes).
Result<std::string> ReadFdToEof(int fd, std::string_view what) {
  std::string out;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      WipeString(out);
      OPENSSL_cleanse(buf, sizeof(buf));
      return InvalidArgumentError(
          fmt::format("Failed to read the passphrase from {}: {}", what, std::strerror(errno)));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxPassphraseSize + 1) {
      WipeString(out);
      OPENSSL_cleanse(buf, sizeof(buf));
      return InvalidArgumentError(
          fmt::format("The passphrase from {} is longer than {} bytes: is it the right source?",
                      what, kMaxPassphraseSize));
    }
  }
  OPENSSL_cleanse(buf, sizeof(buf));
  return out;
}

Status CheckNotEmpty(const std::string& pass, std::string_view what) {
  if (!pass.empty()) return Status::OK();
  return InvalidArgumentError(fmt::format("The passphrase from {} is empty", what));
}

Result<std::string> FromFd(const char* env, const char* value) {
  int fd = -1;
  std::string_view v(value);
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), fd);
  if (ec != std::errc() || end != v.data() + v.size() || fd < 0 || v.empty()) {
    return InvalidArgumentError(
        fmt::format("{}=\"{}\" is not a file descriptor number", env, v.substr(0, 40)));
  }
  if (::fcntl(fd, F_GETFD) < 0) {
    return InvalidArgumentError(fmt::format("{}={}: file descriptor {} is not open", env, fd, fd));
  }
  std::string what = fmt::format("{}={}", env, fd);
  ASSIGN_OR_RETURN(std::string pass, ReadFdToEof(fd, what));
  if (!pass.empty() && pass.back() == '\n') pass.pop_back();
  if (!pass.empty() && pass.back() == '\r') pass.pop_back();
  if (Status s = CheckNotEmpty(pass, what); !s.ok()) return s;
  return pass;
}

Result<std::string> FromFile(const char* env, const char* path) {
  std::string what = fmt::format("{}=\"{}\"", env, path);
  sys::UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return InvalidArgumentError(
        fmt::format("Failed to open the passphrase file {}: {}", what, std::strerror(errno)));
  }
  ASSIGN_OR_RETURN(std::string text, ReadFdToEof(fd.get(), what));
  size_t eol = text.find('\n');
  std::string pass = text.substr(0, eol);
  WipeString(text);
  if (!pass.empty() && pass.back() == '\r') pass.pop_back();
  if (Status s = CheckNotEmpty(pass, what); !s.ok()) {
    WipeString(pass);
    return s;
  }
  return pass;
}

// The terminal settings to restore if a signal ends the process while echo
// is off (Ctrl-C at the prompt): read by the handler, so plain globals.
int g_tty_fd = -1;
termios g_tty_saved;

// Not SIGTSTP: after a stop and `fg` the prompt goes on, and must stay silent.
constexpr int kRestoreSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

void RestoreAndReraise(int sig) {
  if (g_tty_fd >= 0) ::tcsetattr(g_tty_fd, TCSAFLUSH, &g_tty_saved);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// Turns echo off; restores the terminal's settings on every exit path,
// including a signal that kills the process meanwhile.
class EchoOff {
 public:
  explicit EchoOff(int fd) : fd_(fd) {
    if (::tcgetattr(fd_, &saved_) != 0) return;
    g_tty_saved = saved_;
    g_tty_fd = fd_;
    struct sigaction sa {};
    sa.sa_handler = RestoreAndReraise;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < std::size(kRestoreSignals); ++i)
      ::sigaction(kRestoreSignals[i], &sa, &old_actions_[i]);
    termios t = saved_;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    t.c_lflag |= ECHONL;
    active_ = ::tcsetattr(fd_, TCSAFLUSH, &t) == 0;
  }
  ~EchoOff() {
    if (g_tty_fd != fd_) return;
    if (active_) ::tcsetattr(fd_, TCSAFLUSH, &saved_);
    for (size_t i = 0; i < std::size(kRestoreSignals); ++i)
      ::sigaction(kRestoreSignals[i], &old_actions_[i], nullptr);
    g_tty_fd = -1;
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  int fd_;
  termios saved_{};
  struct sigaction old_actions_[std::size(kRestoreSignals)]{};
  bool active_ = false;
};

// One line from the terminal, echo off.
Result<std::string> PromptOnce(int tty, std::string_view prompt) {
  EchoOff echo_off(tty);
  Status s = sys::WriteAll(tty, prompt, "/dev/tty");
  if (!s.ok()) return s;
  std::string line;
  for (;;) {
    char c;
    ssize_t n = ::read(tty, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      WipeString(line);
      return InvalidArgumentError(
          fmt::format("Failed to read the passphrase from /dev/tty: {}", std::strerror(errno)));
    }
    if (n == 0 || c == '\n') {
      if (n == 0 && line.empty())
        return InvalidArgumentError("No passphrase entered (end of input on /dev/tty)");
      break;
    }
    line.push_back(c);
    if (line.size() > kMaxPassphraseSize) {
      WipeString(line);
      return InvalidArgumentError(
          fmt::format("The passphrase is longer than {} bytes", kMaxPassphraseSize));
    }
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

Result<std::string> FromTty(const Sources& src, std::string_view prompt, bool confirm) {
  sys::UniqueFd tty(::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
  if (!tty.valid() || !::isatty(tty.get())) {
    return FailedPreconditionError(fmt::format(
        "A passphrase is needed and there is no terminal to ask it on: set {} (an open file "
        "descriptor to read it from), or {} (a file whose first line is the passphrase), or run "
        "on a terminal",
        src.fd_env, src.file_env));
  }
  ASSIGN_OR_RETURN(std::string pass, PromptOnce(tty.get(), prompt));
  if (pass.empty()) return InvalidArgumentError("The passphrase is empty");
  if (!confirm) return pass;
  Result<std::string> again = PromptOnce(tty.get(), "Verify passphrase: ");
  if (!again.ok()) {
    WipeString(pass);
    return again.status();
  }
  bool same = *again == pass;
  WipeString(*again);
  if (!same) {
    WipeString(pass);
    return InvalidArgumentError("The passphrases do not match");
  }
  return pass;
}

Result<std::string> Read(const Sources& src, std::string_view prompt, bool confirm) {
  if (const char* fd = std::getenv(src.fd_env); fd != nullptr && *fd != '\0')
    return FromFd(src.fd_env, fd);
  if (const char* file = std::getenv(src.file_env); file != nullptr && *file != '\0')
    return FromFile(src.file_env, file);
  return FromTty(src, prompt, confirm);
}

}  // namespace

void WipeString(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

Result<std::string> ReadPassphrase(std::string_view prompt, bool confirm) {
  return Read(kCurrent, prompt, confirm);
}

Result<std::string> ReadNewPassphrase(std::string_view prompt, bool confirm) {
  return Read(kNew, prompt, confirm);
}

}  // namespace ctdump::crypt
