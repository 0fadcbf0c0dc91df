// The copier's file level (modes/tree_copy.h): one regular file's data and
// metadata, the metadata and xattrs of any entry, and a pool of threads that
// copies regular files while the walk goes on (the walk keeps the order that
// matters: directories before their contents, a hardlink's target before the
// link, a directory's times after everything in it).
//
// Internal to modes/.
#ifndef CTDUMP_MODES_TREE_COPY_FILE_H_
#define CTDUMP_MODES_TREE_COPY_FILE_H_

#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "sys/token_bucket.h"
#include "sys/unique_fd.h"

namespace ctdump::modes::copy {

// An operation of a copy step that failed: errno and what was being done.
struct Failure {
  int err = 0;
  std::string what;      // "open", "mknod", "setxattr security.capability", ...
  bool source = false;   // on the source side (ENOENT there: the entry vanished)
  bool partial = false;  // the entry is in the copy, some of its metadata is not
};

std::optional<Failure> Fail(std::string what, bool source = false, int err = errno);

// A failure after the entry was made: only its metadata is incomplete.
std::optional<Failure> Partial(std::optional<Failure> f);

// Errors that mean the copy itself cannot be written: the pass fails.
bool IsFatal(int err);

// "/proc/self/fd/<dir_fd>[/<name>]"
std::string ProcPath(int dir_fd, const std::string& name);

using Xattrs = std::vector<std::pair<std::string, std::string>>;

// The copied xattrs (user.*, security.capability, POSIX ACLs) of `fd` when
// >= 0, else of the object at `path`.
std::optional<Failure> ReadXattrs(int fd, const std::string& path, bool follow, Xattrs* out);

// Owner (unless !chown: the creator's owner is the source's), mode, xattrs,
// times (not a directory's) of `fd`, or of `name` in `dfd`. `existed`: drop
// xattrs the source lost.
std::optional<Failure> SetMetadata(int fd, int dfd, const std::string& name, const struct stat& st,
                                   const Xattrs& x, bool existed, bool chown = true);

// Copies regular files, one at a time (a pool thread each has its own).
class FileWriter {
 public:
  // Files from this size are copied with copy_file_range (a reflink on xfs
  // and btrfs: the copy shares the source's blocks, not its page cache);
  // smaller ones by read and write, so the copy's data is in the page cache
  // when the backup reads it.
  static constexpr off_t kShareMin = 1 << 20;

  // `bucket` (may be null: unlimited) is used unlocked: one writer only then.
  // `bytes` counts the file data copied; `tick` (may be empty) is called
  // after each piece of a large file.
  FileWriter(sys::TokenBucket* bucket, std::atomic<uint64_t>* bytes, std::function<void()> tick);

  // Makes `name` in `dfd` a copy of the open source file `fd` (`st` its
  // stat): created new (an entry in the way is unlinked), or rewritten when
  // `in_place`. A file whose data cannot be copied is removed again.
  std::optional<Failure> Copy(int dfd, const std::string& name, const struct stat& st, int fd,
                              bool in_place, bool chown);

 private:
  std::optional<Failure> CopyData(int in, int out, const struct stat& st);
  std::optional<Failure> CopyRange(int in, int out, off_t off, off_t len, bool through_cache,
                                   bool* shrunk);
  ssize_t ReadWrite(int in, int out, off_t off, size_t want);
  size_t Throttle(size_t want);

  sys::TokenBucket* bucket_;
  std::atomic<uint64_t>* bytes_;
  std::function<void()> tick_;
  std::vector<char> buf_;
  bool copy_file_range_ = true;
  bool errno_source_ = false;
};

// Copies regular files on `threads` threads (0: in the caller, when
// submitted). Each job's result goes to `done`, on the thread that copied it.
class FilePool {
 public:
  struct Job {
    sys::UniqueFd dir;  // the copy's directory (owned by the job)
    sys::UniqueFd src;  // the source file, open for reading
    std::string rel;    // the path below the tree (unique in a pass)
    struct stat st;
    bool in_place = false;
    bool chown = true;
  };
  using Done = std::function<void(const Job&, const std::optional<Failure>&)>;

  // `bucket`: a bandwidth limit needs threads == 0.
  FilePool(size_t threads, sys::TokenBucket* bucket, std::atomic<uint64_t>* bytes,
           std::function<void()> tick, Done done);
  ~FilePool();  // drops what is still queued, waits for what runs
  FilePool(const FilePool&) = delete;
  FilePool& operator=(const FilePool&) = delete;

  // Queues `job`; waits (calling `tick` now and then) while the queue is full.
  void Submit(Job job);
  // Waits until no job for `rel` is queued or running.
  void WaitFor(const std::string& rel);
  // Waits until every submitted job is done.
  void Drain();

  size_t threads() const { return threads_.size(); }

 private:
  void Work();
  void Run(Job& job, FileWriter& writer);
  template <typename Pred>
  void WaitTicking(std::unique_lock<std::mutex>& lock, Pred pred);

  static constexpr size_t kMaxQueued = 64;  // two fds each
  std::function<void()> tick_;
  Done done_;
  FileWriter inline_;
  std::atomic<uint64_t>* bytes_;
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<Job> queue_;
  std::unordered_set<std::string> busy_;  // queued or running
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace ctdump::modes::copy

#endif  // CTDUMP_MODES_TREE_COPY_FILE_H_
