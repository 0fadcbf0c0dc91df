#include "extract/tar_source.h"

#include <archive.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "sys/signals.h"
#include "sys/subprocess.h"

namespace ctdump::extract {
namespace {

constexpr const char* kLzop = "/usr/bin/lzop";
constexpr char kLzopMagic[] = "\x89LZO\x00\r\n\x1a\n";
constexpr size_t kLzopMagicSize = 9;
constexpr uid_t kNobody = 65534;
constexpr size_t kBlock = 256 * 1024;
constexpr size_t kMaxStderr = 4096;

class FileSource : public TarSource {
 public:
  explicit FileSource(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Result<size_t> Read(char* buf, size_t n) override {
    for (;;) {
      ssize_t r = ::pread(fd_, buf, n, offset_);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return ErrnoError(errno, fmt::format("Failed to read '{}'", path_));
      offset_ += r;
      return static_cast<size_t>(r);
    }
  }

 private:
  int fd_;
  std::string path_;
  off_t offset_ = 0;
};

// Feeds the file to lzop -d on its stdin while reading its stdout, in one
// poll loop (neither pipe can fill up while the other waits).
class LzopSource : public TarSource {
 public:
  LzopSource(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  Status Start() {
    if (::access(kLzop, X_OK) != 0)
      return FailedPreconditionError(fmt::format(
          "'{}' is lzop-compressed: reading it needs lzop (apt-get install lzop)", path_));
    sys::SpawnOptions o;
    o.argv = {kLzop, "-d", "-c", "-q"};
    o.pipe_stdin = o.pipe_stdout = o.pipe_stderr = true;
    o.new_session = true;  // ^C reaches ctdump, which stops it
    o.cwd = "/";
    sys::SpawnHooks hooks;
    // Untrusted input: lzop runs as nobody, without groups or a way back up.
    hooks.child = [](const char** stage) -> int {
      *stage = "drop privileges for lzop";
      if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
          ::setresuid(kNobody, kNobody, kNobody) != 0 ||
          ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return errno;
      return 0;
    };
    ASSIGN_OR_RETURN(proc_, sys::Spawn(o, &hooks));
    for (int p : {proc_.stdin_fd().get(), proc_.stdout_fd().get(), proc_.stderr_fd().get()})
      ::fcntl(p, F_SETFL, ::fcntl(p, F_GETFL) | O_NONBLOCK);
    return Status::OK();
  }

  Result<size_t> Read(char* buf, size_t n) override {
    if (done_) return size_t{0};
    const int signals_before = sys::InterruptCount();
    for (;;) {
      RETURN_IF_ERROR(FillInput());
      pollfd fds[4] = {{proc_.stdout_fd().get(), POLLIN, 0},
                       {proc_.stderr_fd().get(), POLLIN, 0},
                       {proc_.stdin_fd().get(), POLLOUT, 0},
                       {sys::InterruptFd(), POLLIN, 0}};
      if (pending_.size() == pending_pos_) fds[2].fd = -1;
      if (::poll(fds, 4, 1000) < 0 && errno != EINTR)
        return ErrnoError(errno, "poll on lzop failed");
      if (sys::InterruptCount() != signals_before)
        return CancelledError(fmt::format("reading '{}': interrupted by signal", path_));
      if (fds[1].revents) DrainStderr();
      if (fds[2].revents) RETURN_IF_ERROR(Feed());
      if (fds[0].revents) {
        ssize_t r = ::read(proc_.stdout_fd().get(), buf, n);
        if (r > 0) return static_cast<size_t>(r);
        if (r == 0) return Finish();
        if (errno != EAGAIN && errno != EINTR)
          return ErrnoError(errno, fmt::format("Failed to read lzop's output for '{}'", path_));
      }
    }
  }

 private:
  Status FillInput() {
    if (input_done_ || pending_pos_ < pending_.size()) return Status::OK();
    pending_.resize(kBlock);
    pending_pos_ = 0;
    ssize_t r;
    do r = ::pread(fd_, pending_.data(), kBlock, offset_);
    while (r < 0 && errno == EINTR);
    if (r < 0) return ErrnoError(errno, fmt::format("Failed to read '{}'", path_));
    pending_.resize(static_cast<size_t>(r));
    offset_ += r;
    if (r == 0) {
      input_done_ = true;
      proc_.stdin_fd().Reset();  // lzop sees the end of its input
    }
    return Status::OK();
  }

  Status Feed() {
    ssize_t w = ::write(proc_.stdin_fd().get(), pending_.data() + pending_pos_,
                        pending_.size() - pending_pos_);
    if (w > 0) {
      pending_pos_ += static_cast<size_t>(w);
    } else if (w < 0 && errno == EPIPE) {
      // lzop stopped reading (damaged input): its exit status tells why.
      input_done_ = true;
      pending_.clear();
      pending_pos_ = 0;
      proc_.stdin_fd().Reset();
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
      return ErrnoError(errno, "Failed to write to lzop");
    }
    return Status::OK();
  }

  void DrainStderr() {
    char b[1024];
    ssize_t r;
    while ((r = ::read(proc_.stderr_fd().get(), b, sizeof(b))) > 0)
      if (stderr_.size() < kMaxStderr) stderr_.append(b, static_cast<size_t>(r));
  }

  Result<size_t> Finish() {
    done_ = true;
    proc_.stdin_fd().Reset();
    ASSIGN_OR_RETURN(int st, proc_.Wait());
    DrainStderr();
    if (!sys::ExitedOk(st)) {
      while (!stderr_.empty() && stderr_.back() == '\n') stderr_.pop_back();
      return DataLossError(fmt::format("Failed to decompress '{}': lzop {}{}", path_,
                                       sys::DescribeWaitStatus(st),
                                       stderr_.empty() ? "" : ": " + stderr_));
    }
    return size_t{0};
  }

  int fd_;
  std::string path_;
  sys::Subprocess proc_;  // killed and reaped quietly if not finished
  std::vector<char> pending_;
  size_t pending_pos_ = 0;
  off_t offset_ = 0;
  bool input_done_ = false;
  bool done_ = false;
  std::string stderr_;
};

}  // namespace

int OpenArchiveOn(struct archive* a, TarSource* source) {
  source->callback_buffer_.reset(new char[kBlock]);
  auto read = [](struct archive* ar, void* data, const void** out) -> la_ssize_t {
    auto* src = static_cast<TarSource*>(data);
    *out = src->callback_buffer_.get();
    auto n = src->Read(src->callback_buffer_.get(), kBlock);
    if (n.ok()) return static_cast<la_ssize_t>(*n);
    archive_set_error(ar, EIO, "%s", n.status().message().c_str());
    return -1;
  };
  return archive_read_open(a, source, nullptr, read, nullptr);
}

bool IsLzopFile(int fd) {
  char head[kLzopMagicSize];
  return ::pread(fd, head, sizeof(head), 0) == static_cast<ssize_t>(sizeof(head)) &&
         std::memcmp(head, kLzopMagic, kLzopMagicSize) == 0;
}

Result<std::unique_ptr<TarSource>> OpenTarSource(int fd, const std::string& path) {
  if (!IsLzopFile(fd)) return std::unique_ptr<TarSource>(new FileSource(fd, path));
  auto s = std::make_unique<LzopSource>(fd, path);
  RETURN_IF_ERROR(s->Start());
  return std::unique_ptr<TarSource>(std::move(s));
}

}  // namespace ctdump::extract
