#include "modes/tree_copy_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace ctdump::modes::copy {
namespace {

#define RETURN_FAILURE(expr)                     \
  do {                                           \
    if (auto failure_ = (expr)) return failure_; \
  } while (0)

// The xattrs a copy keeps: what the walks reading the copy keep.
bool CopiedXattr(std::string_view name) {
  return name.starts_with("user.") || name == "security.capability" ||
         name == "system.posix_acl_access" || name == "system.posix_acl_default";
}

std::optional<Failure> DropXattrs(int fd, const std::string& path, const Xattrs& keep) {
  Xattrs now;
  if (auto f = ReadXattrs(fd, path, false, &now)) return Fail("listxattr", false, f->err);
  for (const auto& [n, v] : now) {
    bool kept =
        std::any_of(keep.begin(), keep.end(), [&n = n](const auto& k) { return k.first == n; });
    if (kept) continue;
    int r = fd >= 0 ? ::fremovexattr(fd, n.c_str()) : ::lremovexattr(path.c_str(), n.c_str());
    if (r != 0 && errno != ENODATA) return Fail("removexattr " + n);
  }
  return std::nullopt;
}

}  // namespace

std::optional<Failure> Fail(std::string what, bool source, int err) {
  return Failure{err, std::move(what), source};
}

std::optional<Failure> Partial(std::optional<Failure> f) {
  if (f) f->partial = true;
  return f;
}

bool IsFatal(int err) {
  return err == ENOSPC || err == EDQUOT || err == EROFS || err == EMFILE || err == ENFILE ||
         err == ENOMEM;
}

std::string ProcPath(int dir_fd, const std::string& name) {
  return name.empty() ? fmt::format("/proc/self/fd/{}", dir_fd)
                      : fmt::format("/proc/self/fd/{}/{}", dir_fd, name);
}

std::optional<Failure> ReadXattrs(int fd, const std::string& path, bool follow, Xattrs* out) {
  std::vector<char> names(4096);
  for (;;) {
    ssize_t n = fd >= 0  ? ::flistxattr(fd, names.data(), names.size())
                : follow ? ::listxattr(path.c_str(), names.data(), names.size())
                         : ::llistxattr(path.c_str(), names.data(), names.size());
    if (n >= 0) {
      names.resize(static_cast<size_t>(n));
      break;
    }
    if (errno == ENOTSUP) return std::nullopt;
    if (errno != ERANGE) return Fail("listxattr", true);
    names.resize(names.size() * 4);
  }
  std::vector<char> value(4096);
  for (size_t pos = 0; pos < names.size();) {
    std::string name(names.data() + pos);
    pos += name.size() + 1;
    if (!CopiedXattr(name)) continue;
    for (;;) {
      ssize_t n = fd >= 0  ? ::fgetxattr(fd, name.c_str(), value.data(), value.size())
                  : follow ? ::getxattr(path.c_str(), name.c_str(), value.data(), value.size())
                           : ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
      if (n >= 0) {
        out->emplace_back(name, std::string(value.data(), static_cast<size_t>(n)));
        break;
      }
      if (errno == ENODATA) break;  // removed meanwhile
      if (errno != ERANGE) return Fail("getxattr " + name, true);
      value.resize(value.size() * 4);
    }
  }
  return std::nullopt;
}

std::optional<Failure> SetMetadata(int fd, int dfd, const std::string& name, const struct stat& st,
                                   const Xattrs& x, bool existed, bool chown) {
  const bool link = S_ISLNK(st.st_mode);
  int r = 0;
  if (chown) {
    r = fd >= 0 ? ::fchown(fd, st.st_uid, st.st_gid)
                : ::fchownat(dfd, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
  }
  if (r != 0) return Fail(fmt::format("chown to {}:{}", st.st_uid, st.st_gid));
  if (!link) {
    r = fd >= 0 ? ::fchmod(fd, st.st_mode & 07777)
                : ::fchmodat(dfd, name.c_str(), st.st_mode & 07777, 0);
    if (r != 0) return Fail("chmod");
    std::string path = fd >= 0 ? std::string() : ProcPath(dfd, name);
    if (existed) RETURN_FAILURE(DropXattrs(fd, path, x));
    for (const auto& [n, v] : x) {
      r = fd >= 0 ? ::fsetxattr(fd, n.c_str(), v.data(), v.size(), 0)
                  : ::lsetxattr(path.c_str(), n.c_str(), v.data(), v.size(), 0);
      if (r != 0) return Fail("setxattr " + n);
    }
  }
  if (S_ISDIR(st.st_mode)) return std::nullopt;
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  r = fd >= 0 ? ::futimens(fd, times) : ::utimensat(dfd, name.c_str(), times, AT_SYMLINK_NOFOLLOW);
  if (r != 0) return Fail("set times");
  return std::nullopt;
}

FileWriter::FileWriter(sys::TokenBucket* bucket, std::atomic<uint64_t>* bytes,
                       std::function<void()> tick)
    : bucket_(bucket), bytes_(bytes), tick_(std::move(tick)), buf_(1 << 20) {}

std::optional<Failure> FileWriter::Copy(int dfd, const std::string& name, const struct stat& st,
                                        int fd, bool in_place, bool chown) {
  int flags = O_WRONLY | O_NOFOLLOW | O_CLOEXEC | (in_place ? O_TRUNC : O_CREAT | O_EXCL);
  sys::UniqueFd out(::openat(dfd, name.c_str(), flags, 0600));
  if (!out.valid() && !in_place && errno == EEXIST) {
    // Not there when the walk looked (the first pass: an empty copy).
    if (::unlinkat(dfd, name.c_str(), 0) != 0) return Fail("remove the entry in the way");
    out.Reset(::openat(dfd, name.c_str(), flags, 0600));
  }
  if (!out.valid()) return Fail("create");
  if (auto f = CopyData(fd, out.get(), st)) {
    // No half file in a backup: it is left out, named in the warning.
    out.Reset();
    if (::unlinkat(dfd, name.c_str(), 0) != 0) return Fail("remove the half-copied file");
    return f;
  }
  Xattrs x;
  RETURN_FAILURE(Partial(ReadXattrs(fd, "", false, &x)));
  return Partial(SetMetadata(out.get(), -1, "", st, x, in_place, chown || in_place));
}

// The data ranges of `in` (SEEK_DATA/SEEK_HOLE) up to its size; the rest of
// `out` stays holes. A file with as many blocks as bytes has no holes (GNU
// tar's test): it is copied without asking.
std::optional<Failure> FileWriter::CopyData(int in, int out, const struct stat& st) {
  const off_t size = st.st_size;
  const bool dense = st.st_blocks * 512 >= size && size > 0;
  off_t off = 0, end = 0;
  while (off < size) {
    off_t data = off;
    off_t hole = size;
    if (!dense) {
      data = ::lseek(in, off, SEEK_DATA);
      if (data < 0) {
        if (errno == ENXIO) break;  // only holes from here
        if (errno != EINVAL && errno != EOPNOTSUPP) return Fail("seek", true);
        data = off;  // no hole support: all data
      } else {
        hole = ::lseek(in, data, SEEK_HOLE);
        if (hole < 0) hole = size;
      }
    }
    if (data >= size) break;
    hole = std::min(hole, size);
    bool shrunk = false;
    RETURN_FAILURE(CopyRange(in, out, data, hole - data, size < kShareMin, &shrunk));
    if (shrunk) break;  // changed while copied: the next pass copies it again
    off = end = hole;
  }
  if (end != size && ::ftruncate(out, size) != 0) return Fail("truncate");
  return std::nullopt;
}

std::optional<Failure> FileWriter::CopyRange(int in, int out, off_t off, off_t len,
                                             bool through_cache, bool* shrunk) {
  while (len > 0) {
    size_t want = static_cast<size_t>(std::min<off_t>(len, 8 << 20));
    if (bucket_) want = Throttle(want);
    ssize_t n = -1;
    if (copy_file_range_ && !through_cache) {
      loff_t ioff = off, ooff = off;
      n = ::copy_file_range(in, &ioff, out, &ooff, want, 0);
      errno_source_ = false;
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS ||
                    errno == EPERM)) {
        copy_file_range_ = errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP;
        n = ReadWrite(in, out, off, want);
      }
    } else {
      n = ReadWrite(in, out, off, want);
    }
    if (n < 0) return Fail(errno_source_ ? "read" : "write", errno_source_);
    if (n == 0) {
      *shrunk = true;
      return std::nullopt;
    }
    if (bucket_) bucket_->Consume(static_cast<uint64_t>(n));
    bytes_->fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    off += n;
    len -= n;
    if (tick_ && len > 0) tick_();  // a large file
  }
  return std::nullopt;
}

// Copies up to `want` bytes at `off`; sets errno_source_ on failure.
ssize_t FileWriter::ReadWrite(int in, int out, off_t off, size_t want) {
  want = std::min(want, buf_.size());
  ssize_t n;
  do n = ::pread(in, buf_.data(), want, off);
  while (n < 0 && errno == EINTR);
  errno_source_ = true;
  if (n <= 0) return n;
  for (ssize_t done = 0; done < n;) {
    ssize_t w = ::pwrite(out, buf_.data() + done, static_cast<size_t>(n - done), off + done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      errno_source_ = false;
      return -1;
    }
    done += w;
  }
  return n;
}

size_t FileWriter::Throttle(size_t want) {
  for (;;) {
    auto now = sys::TokenBucket::Clock::now();
    uint64_t allowed = bucket_->Allowance(want, now);
    if (allowed > 0) return static_cast<size_t>(allowed);
    std::this_thread::sleep_for(bucket_->Delay(want, now));
  }
}

FilePool::FilePool(size_t threads, sys::TokenBucket* bucket, std::atomic<uint64_t>* bytes,
                   std::function<void()> tick, Done done)
    : tick_(std::move(tick)), done_(std::move(done)), inline_(bucket, bytes, tick_), bytes_(bytes) {
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

FilePool::~FilePool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    queue_.clear();
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void FilePool::Run(Job& job, FileWriter& writer) {
  size_t slash = job.rel.rfind('/');
  std::string name = slash == std::string::npos ? job.rel : job.rel.substr(slash + 1);
  auto f = writer.Copy(job.dir.get(), name, job.st, job.src.get(), job.in_place, job.chown);
  job.src.Reset();
  job.dir.Reset();
  done_(job, f);
}

void FilePool::Submit(Job job) {
  if (threads_.empty()) {
    Run(job, inline_);
    return;
  }
  std::unique_lock lock(mu_);
  WaitTicking(lock, [&] { return queue_.size() < kMaxQueued; });
  busy_.insert(job.rel);
  queue_.push_back(std::move(job));
  lock.unlock();
  work_cv_.notify_one();
}

void FilePool::WaitFor(const std::string& rel) {
  std::unique_lock lock(mu_);
  WaitTicking(lock, [&] { return !busy_.count(rel); });
}

void FilePool::Drain() {
  std::unique_lock lock(mu_);
  WaitTicking(lock, [&] { return busy_.empty(); });
}

template <typename Pred>
void FilePool::WaitTicking(std::unique_lock<std::mutex>& lock, Pred pred) {
  while (!pred()) {
    if (done_cv_.wait_for(lock, std::chrono::milliseconds(250), pred)) break;
    if (tick_) {
      lock.unlock();
      tick_();
      lock.lock();
    }
  }
}

void FilePool::Work() {
  FileWriter writer(nullptr, bytes_, {});
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_
    Job job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    done_cv_.notify_all();  // room in the queue
    Run(job, writer);
    lock.lock();
    busy_.erase(job.rel);
    done_cv_.notify_all();
  }
}

}  // namespace ctdump::modes::copy
