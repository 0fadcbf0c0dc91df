// The extraction child's writer threads (extract_child.cc): regular files
// that the main thread has read and checked, data in memory, are written by
// several threads at once, each with its own archive_write_disk, inside the
// same chroot and with the same flags. File creation on ext4 and xfs is
// mostly kernel work (inode allocation, directory entries, page cache
// copies) that runs in parallel on several cores, where a single writer
// leaves the other cores idle (and, on an aged ext4 without a journal,
// waits for each inode scan in turn).
//
// Ordering: the main thread keeps extracting every other entry (directories,
// symlinks, large files) itself and asks Busy() before each: an entry whose
// path, an ancestor of it, or a path below it is still being written waits
// for the writers (Drain), as does a hardlink whose target is. So every
// directory exists before files go into it, a hardlink's target is complete
// before the link, and directory times and modes (libarchive's deferred
// fixups on the main thread's writer) are set after Drain, at the end.
// Results come back to the main thread (TakeDone), which reports and counts
// them, so the report's order of errors may differ from the stream's, its
// counts do not.
#ifndef CTDUMP_EXTRACT_FILE_WRITERS_H_
#define CTDUMP_EXTRACT_FILE_WRITERS_H_

#include <pthread.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

struct archive;
struct archive_entry;

namespace ctdump::extract {

struct FileJob {
  FileJob() = default;
  ~FileJob();
  FileJob(const FileJob&) = delete;
  FileJob& operator=(const FileJob&) = delete;

  // In: the checked entry (owned; pathname normalized, owners mapped) and
  // its data blocks (offset, length into `data`; sparse files keep holes).
  archive_entry* entry = nullptr;
  std::string name;
  std::string data;
  std::vector<std::pair<int64_t, size_t>> blocks;
  bool privileges_stripped = false;
  // PlainApplicable, as the main thread found it before it left out its
  // check for an existing file: the writer skips one (O_EXCL) instead.
  bool plain = false;
  // Out: libarchive's warnings, and the error that failed the file (empty:
  // written). `fatal`: a failing disk, the extraction stops.
  std::vector<std::string> warnings;
  std::string error;
  bool fatal = false;
  uint64_t written = 0;  // data bytes
  bool skipped = false;  // an existing file kept (plain only)
};

class FileWriters {
 public:
  // `flags`: archive_write_disk_set_options'. `error_text` describes a
  // libarchive error (called on the writer threads). `archive_name` for
  // messages. At most `max_bytes` of file data and `max_jobs` files wait.
  FileWriters(int flags, std::function<std::string(::archive*)> error_text,
              std::string archive_name, size_t max_bytes, size_t max_jobs);
  ~FileWriters();  // Stop()
  FileWriters(const FileWriters&) = delete;
  FileWriters& operator=(const FileWriters&) = delete;

  // True if WritePlain writes this entry with `flags` (the entry's
  // xattrs and ACLs as stored, before any filtering).
  static bool PlainApplicable(int flags, archive_entry* e);

  // Starts up to `threads` writers (each with its own disk writer, made
  // here on the calling thread: archive_write_disk_new changes the umask
  // for a moment). How many started; 0: run serially.
  size_t Start(size_t threads);
  // Queues `job` (blocks while the queue is full).
  void Submit(std::unique_ptr<FileJob> job);
  // True if `path`, one of its ancestors or a path below it is queued or
  // being written.
  bool Busy(const std::string& path) const;
  // Waits until every queued file is written.
  void Drain();
  // Finished jobs since the last call, in completion order.
  std::vector<std::unique_ptr<FileJob>> TakeDone();
  // Drains, then ends and joins the threads (their disk writers closed).
  void Stop();
  // Held around every archive_write_header, the main thread's too:
  // libarchive sets the process's umask to 0 and back in each, and creates
  // the file with the umask it read (a race would leave a file with the
  // wrong mode or a parent directory world-writable).
  std::mutex& header_mutex() { return header_mu_; }

 private:
  static void* ThreadMain(void* self);
  void Work(::archive* disk);
  void Write(::archive* disk, FileJob& job);
  // The common case without libarchive: a new plain file (no xattrs, ACLs,
  // sparse map or file flags) in an existing directory, no overwrite, no
  // symlink checks: openat(O_EXCL|O_NOFOLLOW), write, fchown, fchmod,
  // futimens. False if not applicable or the file could not be created
  // (libarchive then tries, creating parents, and names any error).
  bool WritePlain(FileJob& job);

  const int flags_;
  const std::function<std::string(::archive*)> error_text_;
  const std::string archive_name_;
  const size_t max_bytes_, max_jobs_;
  std::vector<pthread_t> threads_;
  std::vector<::archive*> disks_;
  size_t next_disk_ = 0;  // handed to the next thread that starts

  std::mutex header_mu_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;   // queue not empty or stopping
  std::condition_variable space_cv_;  // room in the queue, or all done
  std::deque<std::unique_ptr<FileJob>> queue_;
  std::vector<std::unique_ptr<FileJob>> done_;
  std::multiset<std::string> busy_;  // names queued or being written
  size_t bytes_ = 0, jobs_ = 0;      // queued or being written
  size_t idle_ = 0;                  // writers waiting for work
  size_t space_waiters_ = 0;         // Submit or Drain waiting
  bool stopping_ = false;
};

}  // namespace ctdump::extract

#endif  // CTDUMP_EXTRACT_FILE_WRITERS_H_
