// RemoveTreeOnThreads (file.h): the files of a tree removed on several
// threads, then its directories as RemoveTree removes them.
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "sys/dir_list.h"
#include "sys/file.h"
#include "sys/unique_fd.h"

namespace ctdump::sys {
namespace {

constexpr size_t kMaxQueuedPath = 2048;

// The shared state of the file-removing threads: a queue of directories
// (relative to the root) still to empty.
class FileRemover {
 public:
  FileRemover(int root_fd, std::string root, const RemoveProgressFn& removed)
      : root_fd_(root_fd), root_(std::move(root)), removed_(removed) {}

  void Add(std::string rel) {
    std::lock_guard<std::mutex> l(mu_);
    queue_.push_back(std::move(rel));
    cv_.notify_one();
  }

  // A thread's loop: until the queue is empty and no thread can add more,
  // or the first error.
  void Run() {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      cv_.wait(l, [this] { return !queue_.empty() || busy_ == 0 || !error_.ok(); });
      if (!error_.ok() || queue_.empty()) break;  // error, or nothing left anywhere
      std::string rel = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
      l.unlock();
      Status s = Empty(rel);
      l.lock();
      --busy_;
      if (!s.ok() && error_.ok()) error_ = s;
      cv_.notify_all();
    }
    cv_.notify_all();
  }

  Status error() {
    std::lock_guard<std::mutex> l(mu_);
    return error_;
  }
  uint64_t entries() const { return entries_; }
  uint64_t bytes() const { return bytes_; }

 private:
  std::string Full(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }

  // Unlinks every non-directory in `rel` and queues its subdirectories.
  Status Empty(const std::string& rel) {
    // Beneath the root, no symlink followed, no mount crossed: a mount point
    // below the tree is an error, never a deletion of its content.
    struct open_how how = {};
    how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    const char* path = rel.empty() ? "." : rel.c_str();
    UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, root_fd_, path, &how, sizeof(how))));
    if (!fd.valid()) {
      if (errno == ENOENT || errno == ENAMETOOLONG) return Status::OK();  // see kMaxQueuedPath
      if (errno == EXDEV)
        return FailedPreconditionError(
            fmt::format("Refusing to remove \"{}\": it is a mount point", Full(rel)));
      return ErrnoError(errno, fmt::format("Failed to open \"{}\"", Full(rel)));
    }
    ASSIGN_OR_RETURN(std::vector<DirEntry> entries,
                     ListDirectoryAt(fd.get(), fmt::format("\"{}\"", Full(rel))));
    for (const auto& e : entries) {
      const std::string child = rel.empty() ? e.name : rel + "/" + e.name;
      struct stat st;
      if (::fstatat(fd.get(), e.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        return ErrnoError(errno, fmt::format("Failed to stat \"{}\"", Full(child)));
      }
      if (S_ISDIR(st.st_mode)) {
        // Paths near PATH_MAX cannot be opened by name: such a subtree is
        // left to the second phase, which walks with a descriptor per level.
        if (child.size() < kMaxQueuedPath) Add(child);
        continue;
      }
      if (::unlinkat(fd.get(), e.name.c_str(), 0) != 0 && errno != ENOENT)
        return ErrnoError(errno, fmt::format("Failed to remove \"{}\"", Full(child)));
      Count(S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0);
    }
    return Status::OK();
  }

  void Count(uint64_t size) {
    std::lock_guard<std::mutex> l(count_mu_);
    ++entries_;
    bytes_ += size;
    if (removed_) removed_(entries_, bytes_);
  }

  const int root_fd_;
  const std::string root_;
  const RemoveProgressFn& removed_;
  std::mutex mu_;  // guards queue_, busy_, error_
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  int busy_ = 0;  // threads emptying a directory (they may queue more)
  Status error_;
  std::mutex count_mu_;  // guards entries_, bytes_ and the calls of removed_
  uint64_t entries_ = 0, bytes_ = 0;
};

}  // namespace

Status RemoveTreeOnThreads(const std::string& path, int threads, const RemoveProgressFn& removed) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::OK();
    return ErrnoError(errno, fmt::format("Failed to stat \"{}\"", path));
  }
  if (!S_ISDIR(st.st_mode) || threads <= 1) return RemoveTree(path, removed);
  UniqueFd root(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", path));
  FileRemover files(root.get(), path, removed);
  files.Add("");
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back([&files] { files.Run(); });
  for (auto& t : pool) t.join();
  RETURN_IF_ERROR(files.error());
  // Only directories are left (and whatever appeared meanwhile): removed,
  // and counted after the files, as RemoveTree does.
  const uint64_t entries = files.entries(), bytes = files.bytes();
  RemoveProgressFn rest;
  if (removed) rest = [&](uint64_t e, uint64_t b) { removed(entries + e, bytes + b); };
  return RemoveTree(path, rest);
}

}  // namespace ctdump::sys
