#include "extract/file_writers.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

namespace ctdump::extract {
namespace {

// A writer's stack: libarchive's disk writer needs little; the default
// (RLIMIT_STACK, often 8 MiB) would count against the child's address-space
// limit for nothing.
constexpr size_t kWriterStack = 1 << 20;

}  // namespace

FileJob::~FileJob() {
  if (entry) archive_entry_free(entry);
}

FileWriters::FileWriters(int flags, std::function<std::string(::archive*)> error_text,
                         std::string archive_name, size_t max_bytes, size_t max_jobs)
    : flags_(flags),
      error_text_(std::move(error_text)),
      archive_name_(std::move(archive_name)),
      max_bytes_(max_bytes),
      max_jobs_(max_jobs) {}

FileWriters::~FileWriters() { Stop(); }

size_t FileWriters::Start(size_t threads) {
  for (size_t i = 0; i < threads; ++i) {
    ::archive* disk = archive_write_disk_new();
    if (!disk) break;
    archive_write_disk_set_options(disk, flags_);
    disks_.push_back(disk);
  }
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return 0;
  pthread_attr_setstacksize(&attr, kWriterStack);
  for (size_t i = 0; i < disks_.size(); ++i) {
    pthread_t t;
    if (pthread_create(&t, &attr, &FileWriters::ThreadMain, this) != 0) break;
    threads_.push_back(t);
  }
  pthread_attr_destroy(&attr);
  return threads_.size();
}

void* FileWriters::ThreadMain(void* self) {
  auto* w = static_cast<FileWriters*>(self);
  ::archive* disk;
  {
    std::lock_guard<std::mutex> lock(w->mu_);
    disk = w->disks_[w->next_disk_++];
  }
  w->Work(disk);
  return nullptr;
}

void FileWriters::Work(::archive* disk) {
  for (;;) {
    std::unique_ptr<FileJob> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++idle_;
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      --idle_;
      if (queue_.empty()) return;  // stopping
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      Write(disk, *job);
    } catch (const std::bad_alloc&) {
      job->error =
          fmt::format("Failed to extract '{}' from '{}': out of memory", job->name, archive_name_);
      job->fatal = true;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      busy_.erase(busy_.find(job->name));
      bytes_ -= job->data.size();
      --jobs_;
      done_.push_back(std::move(job));
      if (space_waiters_ == 0) continue;
    }
    space_cv_.notify_all();
  }
}

bool FileWriters::PlainApplicable(int flags, archive_entry* e) {
  if ((flags & ARCHIVE_EXTRACT_SECURE_SYMLINKS) || !(flags & ARCHIVE_EXTRACT_NO_OVERWRITE) ||
      !(flags & ARCHIVE_EXTRACT_OWNER) || !(flags & ARCHIVE_EXTRACT_PERM) ||
      !(flags & ARCHIVE_EXTRACT_TIME) || archive_entry_filetype(e) != AE_IFREG ||
      archive_entry_hardlink(e) || archive_entry_xattr_count(e) != 0 ||
      archive_entry_acl_types(e) != 0 || archive_entry_sparse_count(e) != 0) {
    return false;
  }
  unsigned long set = 0, clear = 0;
  archive_entry_fflags(e, &set, &clear);
  return !set && !clear;
}

bool FileWriters::WritePlain(FileJob& job) {
  archive_entry* e = job.entry;
  if (!job.plain) return false;
  int64_t end = 0;
  for (auto [offset, size] : job.blocks) {
    if (offset != end) return false;  // a hole
    end += static_cast<int64_t>(size);
  }
  mode_t perm = archive_entry_perm(e);
  int fd = ::openat(AT_FDCWD, job.name.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, perm & 0777);
  if (fd < 0) {
    // Kept, as the main thread's check would have kept it (tar
    // --skip-old-files); anything else goes to libarchive.
    if (errno == EEXIST) job.skipped = true;
    return errno == EEXIST;
  }
  auto fail = [&](std::string what) {
    job.error = fmt::format("Failed to write '{}': {}: {}", job.name, what, std::strerror(errno));
    job.fatal = true;  // a full or failing disk: the next files would fail too
    ::close(fd);
    return true;
  };
  const char* p = job.data.data();
  size_t left = job.data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("write");
    p += n;
    left -= static_cast<size_t>(n);
    job.written += static_cast<uint64_t>(n);
  }
  if (archive_entry_size_is_set(e) && archive_entry_size(e) > end &&
      ::ftruncate(fd, archive_entry_size(e)) != 0)
    return fail("truncate");
  // As libarchive: owner first (it clears setuid bits), then the mode.
  if (::fchown(fd, archive_entry_uid(e), archive_entry_gid(e)) != 0) {
    job.warnings.push_back(fmt::format("'{}': Can't set user={}/group={}: {}", job.name,
                                       archive_entry_uid(e), archive_entry_gid(e),
                                       std::strerror(errno)));
    perm &= ~(S_ISUID | S_ISGID);
  }
  // Created with perm & 0777 less the umask (022, or 0 for a moment while a
  // libarchive header runs).
  if ((perm & (07000 | 022)) != 0 && ::fchmod(fd, perm) != 0) {
    job.warnings.push_back(fmt::format("'{}': Can't set permissions to 0{:o}: {}", job.name, perm,
                                       std::strerror(errno)));
  }
  struct timespec times[2];
  times[0] = archive_entry_atime_is_set(e)
                 ? timespec{archive_entry_atime(e), archive_entry_atime_nsec(e)}
                 : timespec{0, UTIME_NOW};
  times[1] = archive_entry_mtime_is_set(e)
                 ? timespec{archive_entry_mtime(e), archive_entry_mtime_nsec(e)}
                 : timespec{0, UTIME_NOW};
  if (::futimens(fd, times) != 0) {
    job.warnings.push_back(
        fmt::format("'{}': Can't restore time: {}", job.name, std::strerror(errno)));
  }
  if (::close(fd) != 0) {
    job.error = fmt::format("Failed to write '{}': close: {}", job.name, std::strerror(errno));
    job.fatal = true;
  }
  return true;
}

// As Extractor::Process and CopyData write an entry, with the same messages.
void FileWriters::Write(::archive* disk, FileJob& job) {
  if (WritePlain(job)) return;
  int r;
  {
    std::lock_guard<std::mutex> lock(header_mu_);
    r = archive_write_header(disk, job.entry);
  }
  if (r == ARCHIVE_WARN)
    job.warnings.push_back(fmt::format("'{}': {}", job.name, error_text_(disk)));
  if (r < ARCHIVE_WARN) {
    job.fatal = r == ARCHIVE_FATAL;
    job.error = fmt::format("Failed to extract '{}' from '{}': {}", job.name, archive_name_,
                            error_text_(disk));
    return;
  }
  size_t pos = 0;
  for (auto [offset, size] : job.blocks) {
    la_ssize_t w = archive_write_data_block(disk, job.data.data() + pos, size, offset);
    pos += size;
    if (w >= 0) job.written += size;
    // As the main thread: a failed write(2) is only a warning to libarchive.
    bool failed = w < ARCHIVE_WARN || (w == ARCHIVE_WARN && archive_errno(disk) != 0);
    if (w == ARCHIVE_WARN && !failed)
      job.warnings.push_back(fmt::format("'{}': {}", job.name, error_text_(disk)));
    if (failed) {
      job.fatal = true;  // a full or failing disk: the next files would fail too
      job.error = fmt::format("Failed to write '{}': {}", job.name, error_text_(disk));
      // Close the file (its metadata as far as it got) before the next one.
      archive_write_finish_entry(disk);
      return;
    }
  }
  r = archive_write_finish_entry(disk);
  if (r == ARCHIVE_WARN)
    job.warnings.push_back(fmt::format("'{}': {}", job.name, error_text_(disk)));
  if (r < ARCHIVE_WARN) {
    job.error = fmt::format("Failed to extract '{}' from '{}': {}", job.name, archive_name_,
                            error_text_(disk));
  }
}

void FileWriters::Submit(std::unique_ptr<FileJob> job) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    ++space_waiters_;
    space_cv_.wait(lock, [&] {
      return jobs_ == 0 || (jobs_ < max_jobs_ && bytes_ + job->data.size() <= max_bytes_);
    });
    --space_waiters_;
    busy_.insert(job->name);
    bytes_ += job->data.size();
    ++jobs_;
    queue_.push_back(std::move(job));
    if (idle_ == 0) return;
  }
  work_cv_.notify_one();
}

bool FileWriters::Busy(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (busy_.empty()) return false;
  if (busy_.count(path)) return true;
  for (size_t slash = path.find('/'); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    if (busy_.count(path.substr(0, slash))) return true;
  }
  std::string below = path + "/";
  auto it = busy_.lower_bound(below);
  return it != busy_.end() && it->compare(0, below.size(), below) == 0;
}

void FileWriters::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  ++space_waiters_;
  space_cv_.wait(lock, [&] { return jobs_ == 0; });
  --space_waiters_;
}

std::vector<std::unique_ptr<FileJob>> FileWriters::TakeDone() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::unique_ptr<FileJob>> out;
  out.swap(done_);
  return out;
}

void FileWriters::Stop() {
  if (!threads_.empty()) {
    Drain();
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    work_cv_.notify_all();
    for (pthread_t t : threads_) pthread_join(t, nullptr);
    threads_.clear();
  }
  for (::archive* disk : disks_) {
    archive_write_close(disk);
    archive_write_free(disk);
  }
  disks_.clear();
}

}  // namespace ctdump::extract
