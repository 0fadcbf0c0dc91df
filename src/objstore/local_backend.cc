#include "objstore/local_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "objstore/names.h"
#include "sys/dir_list.h"
#include "sys/file.h"
#include "sys/unique_fd.h"

namespace ctdump {
namespace {

// Empty if `component` is valid, else what is wrong with it.
std::string ComponentProblem(std::string_view component) {
  if (component.empty()) return "empty component";
  if (component == "." || component == "..") return "\".\" or \"..\" component";
  if (component.size() > kMaxObjectNameComponentLength) {
    return fmt::format("component longer than {} bytes", kMaxObjectNameComponentLength);
  }
  for (char c : component) {
    if (!objstore::IsObjectNameChar(c)) {
      return fmt::format("byte 0x{:02x} is not in [A-Za-z0-9._-]", static_cast<unsigned char>(c));
    }
  }
  return {};
}

}  // namespace

Status ValidateObjectName(std::string_view name) {
  auto invalid = [&](std::string_view why) {
    return InvalidArgumentError(
        fmt::format("Invalid object name {}: {}", objstore::QuoteObjectName(name), why));
  };
  if (name.empty()) return invalid("empty");
  if (name.size() > kMaxObjectNameLength) {
    return invalid(fmt::format("longer than {} bytes", kMaxObjectNameLength));
  }
  if (name.front() == '/') return invalid("absolute");
  for (size_t start = 0;;) {
    size_t end = std::min(name.find('/', start), name.size());
    std::string problem = ComponentProblem(name.substr(start, end - start));
    if (!problem.empty()) return invalid(problem);
    if (end == name.size()) return Status::OK();
    start = end + 1;
  }
}

namespace objstore {
namespace {

using sys::UniqueFd;

// A temp file in a directory, unlinked on destruction unless committed.
class TempFile {
 public:
  TempFile(int dir_fd, std::string name) : dir_fd_(dir_fd), name_(std::move(name)) {}
  TempFile(TempFile&& o) noexcept : dir_fd_(o.dir_fd_), name_(std::exchange(o.name_, {})) {}
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile() {
    if (!name_.empty()) ::unlinkat(dir_fd_, name_.c_str(), 0);
  }
  const std::string& name() const { return name_; }
  // The temp name is gone (renamed into place): nothing to clean up.
  void Commit() { name_.clear(); }

 private:
  int dir_fd_;
  std::string name_;
};

std::string RandomSuffix() {
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  unsigned char bytes[12];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = ::getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  std::string out;
  for (unsigned char b : bytes) out += kAlphabet[b % (sizeof(kAlphabet) - 1)];
  return out;
}

// "a/b/c" -> {"a/b", "c"}; "c" -> {"", "c"}.
std::pair<std::string, std::string> SplitName(const std::string& name) {
  size_t pos = name.rfind('/');
  if (pos == std::string::npos) return {"", name};
  return {name.substr(0, pos), name.substr(pos + 1)};
}

class LocalBackend final : public ObjectBackend {
 public:
  LocalBackend(std::string root, UniqueFd root_fd, LocalBackendOptions options)
      : root_(std::move(root)), root_fd_(std::move(root_fd)), options_(options) {}

  std::string Describe() const override { return "local:" + root_; }

  Result<bool> PutIfAbsent(const std::string& name, std::string_view data,
                           Durability durability) override {
    RETURN_IF_ERROR(ValidateObjectName(name));
    const bool sync = durability == Durability::kSync;
    auto [dir, base] = SplitName(name);
    UniqueFd dir_fd;
    std::optional<TempFile> temp;
    for (int attempt = 0; !temp; ++attempt) {
      ASSIGN_OR_RETURN(dir_fd, OpenDir(dir, name));
      // A dedup hit costs one stat, not a write of the whole object.
      ASSIGN_OR_RETURN(bool exists, IsObjectIn(dir_fd.get(), base, name));
      if (exists) return sync ? ExistedDurably(dir_fd.get(), name) : Result<bool>(false);
      auto written = WriteTemp(dir_fd.get(), base, data, name, sync);
      // Removed as empty (RemoveLeftovers) since we opened it: create it again.
      if (!written.ok() && written.status().code() == Code::kNotFound && attempt < 8) continue;
      if (!written.ok()) return written.status();
      temp.emplace(std::move(*written));
    }
    int err = 0;
    if (::renameat2(dir_fd.get(), temp->name().c_str(), dir_fd.get(), base.c_str(),
                    RENAME_NOREPLACE) == 0) {
      temp->Commit();
    } else if (errno == EINVAL || errno == ENOSYS) {
      // No RENAME_NOREPLACE here: link() fails with EEXIST just as atomically,
      // and the TempFile then removes the temp name.
      if (::linkat(dir_fd.get(), temp->name().c_str(), dir_fd.get(), base.c_str(), 0) != 0) {
        err = errno;
      }
    } else {
      err = errno;
    }
    if (err == EEXIST) {
      ASSIGN_OR_RETURN(bool now_exists, IsObjectIn(dir_fd.get(), base, name));
      if (now_exists) return sync ? ExistedDurably(dir_fd.get(), name) : Result<bool>(false);
    }
    if (err != 0) return ErrnoError(err, fmt::format("Failed to publish {}", Path(name)));
    if (sync) RETURN_IF_ERROR(SyncDir(dir_fd.get(), name));
    return true;
  }

  Status Sync() override {
    if (::syncfs(root_fd_.get()) != 0)
      return ErrnoError(errno, fmt::format("Failed to sync the file system of {}", Describe()));
    return Status::OK();
  }

  Status Touch(const std::string& name) override {
    RETURN_IF_ERROR(ValidateObjectName(name));
    struct stat st;
    if (::fstatat(root_fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      return LookupError(errno, name, "touch");
    RETURN_IF_ERROR(CheckRegular(st, name));
    if (::utimensat(root_fd_.get(), name.c_str(), nullptr, AT_SYMLINK_NOFOLLOW) != 0)
      return LookupError(errno, name, "touch");
    return Status::OK();
  }

  Status Put(const std::string& name, std::string_view data) override {
    RETURN_IF_ERROR(ValidateObjectName(name));
    auto [dir, base] = SplitName(name);
    for (int attempt = 0;; ++attempt) {
      ASSIGN_OR_RETURN(UniqueFd dir_fd, OpenDir(dir, name));
      auto temp = WriteTemp(dir_fd.get(), base, data, name, true);
      // Removed as empty (RemoveLeftovers) since we opened it: create it again.
      if (!temp.ok() && temp.status().code() == Code::kNotFound && attempt < 8) continue;
      if (!temp.ok()) return temp.status();
      if (::renameat(dir_fd.get(), temp->name().c_str(), dir_fd.get(), base.c_str()) != 0) {
        if (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST) return DirConflict(name);
        return ErrnoError(errno, fmt::format("Failed to publish {}", Path(name)));
      }
      temp->Commit();
      return SyncDir(dir_fd.get(), name);
    }
  }

  Result<std::string> Get(const std::string& name, uint64_t max_size) override {
    RETURN_IF_ERROR(ValidateObjectName(name));
    // O_NONBLOCK: a FIFO put in an object's place must not block the open
    // (it is refused below, as is a device or a symlink).
    UniqueFd fd(
        ::openat(root_fd_.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd.valid()) return LookupError(errno, name, "open");
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return LookupError(errno, name, "stat");
    RETURN_IF_ERROR(CheckRegular(st, name));
    auto too_big = [&](uint64_t size) {
      return DataLossError(fmt::format("{} is {} bytes, more than the {} bytes it can be",
                                       Path(name), size, max_size));
    };
    if (static_cast<uint64_t>(st.st_size) > max_size) return too_big(st.st_size);
    std::string out;
    out.reserve(static_cast<size_t>(st.st_size));
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoError(errno, fmt::format("Failed to read {}", Path(name)));
      if (n == 0) return out;
      out.append(buf, static_cast<size_t>(n));
      if (out.size() > max_size) return too_big(out.size());  // grew while read
    }
  }

  Result<ObjectStat> Stat(const std::string& name) override {
    RETURN_IF_ERROR(ValidateObjectName(name));
    struct stat st;
    if (::fstatat(root_fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return LookupError(errno, name, "stat");
    }
    RETURN_IF_ERROR(CheckRegular(st, name));
    return ObjectStat{static_cast<uint64_t>(st.st_size),
                      static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
  }

  Result<std::vector<std::string>> List(const std::string& prefix) override {
    RETURN_IF_ERROR(objstore::ValidateListPrefix(prefix));
    size_t slash = prefix.rfind('/');
    std::string dir = slash == std::string::npos ? "" : prefix.substr(0, slash);
    std::string tail = slash == std::string::npos ? prefix : prefix.substr(slash + 1);
    std::vector<std::string> out;
    UniqueFd dir_fd(::openat(root_fd_.get(), dir.empty() ? "." : dir.c_str(),
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir_fd.valid()) {
      if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) return out;
      return ErrnoError(errno, fmt::format("Failed to open {}", Path(dir)));
    }
    RETURN_IF_ERROR(Walk(std::move(dir_fd), dir.empty() ? "" : dir + "/", tail, &out));
    std::sort(out.begin(), out.end());
    return out;
  }

  Result<bool> IsEmpty() override {
    // A descriptor of its own: readdir moves its offset.
    UniqueFd own(::openat(root_fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!own.valid()) return ErrnoError(errno, fmt::format("Failed to list {}", Path("")));
    bool empty = true;
    RETURN_IF_ERROR(
        sys::VisitDirectoryAt(own.get(), Path(""), [&empty](std::string_view n, unsigned char) {
          if (n == "lost+found") return true;  // a file system's own
          // Another process's object being published (or an interrupted one)
          // is no content: two first backups racing to create a store both
          // see it empty until one config is there.
          if (n.find(kLocalTempMarker) != std::string_view::npos) return true;
          empty = false;
          return false;
        }));
    return empty;
  }

  Result<LeftoverCount> RemoveLeftovers(const std::string& prefix, int64_t temps_older_than_ns,
                                        bool empty_dirs) override {
    std::string dir = prefix;
    if (!dir.empty()) {
      if (dir.back() != '/' || !ValidateObjectName(dir.substr(0, dir.size() - 1)).ok())
        return InvalidArgumentError(
            fmt::format("Invalid leftover prefix {}: not a name followed by '/'",
                        objstore::QuoteObjectName(prefix)));
      dir.pop_back();
    }
    LeftoverCount count;
    UniqueFd fd(::openat(root_fd_.get(), dir.empty() ? "." : dir.c_str(),
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) return count;
      return ErrnoError(errno, fmt::format("Failed to open {}", Path(dir)));
    }
    RETURN_IF_ERROR(Sweep(std::move(fd), dir, temps_older_than_ns, empty_dirs, &count));
    return count;
  }

  Status Delete(const std::string& name) override {
    RETURN_IF_ERROR(ValidateObjectName(name));
    // No directory fsync: a deletion a crash undoes is redone by the next GC.
    if (::unlinkat(root_fd_.get(), name.c_str(), 0) != 0) {
      return LookupError(errno == EISDIR ? ENOENT : errno, name, "delete");
    }
    return Status::OK();
  }

 private:
  std::string Path(const std::string& name) const {
    return objstore::QuoteObjectName(name.empty() ? root_ : root_ + "/" + name);
  }

  Status NotFound(const std::string& name) const {
    return NotFoundError(
        fmt::format("Object {} not found in {}", objstore::QuoteObjectName(name), Describe()));
  }

  Status DirConflict(const std::string& name) const {
    return FailedPreconditionError(
        fmt::format("Object {} in {} conflicts with a directory of other objects",
                    objstore::QuoteObjectName(name), Describe()));
  }

  Status LookupError(int err, const std::string& name, std::string_view what) const {
    if (err == ENOENT || err == ENOTDIR) return NotFound(name);
    if (err == ELOOP) return CheckRegular(S_IFLNK, name);
    return ErrnoError(err, fmt::format("Failed to {} {}", what, Path(name)));
  }

  // Directories are "not found" (they are not objects); anything else that is
  // not a regular file was put there by someone else.
  Status CheckRegular(mode_t mode, const std::string& name) const {
    if (S_ISREG(mode)) return Status::OK();
    if (S_ISDIR(mode)) return NotFound(name);
    return FailedPreconditionError(
        fmt::format("{} is not a regular file, so not an object of {}", Path(name), Describe()));
  }
  Status CheckRegular(const struct stat& st, const std::string& name) const {
    return CheckRegular(st.st_mode, name);
  }

  // True if `base` in `dir_fd` is an object, false if absent; a directory of
  // that name is a conflict the caller's layout should have avoided.
  Result<bool> IsObjectIn(int dir_fd, const std::string& base, const std::string& name) const {
    struct stat st;
    if (::fstatat(dir_fd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return false;
      return ErrnoError(errno, fmt::format("Failed to stat {}", Path(name)));
    }
    if (S_ISDIR(st.st_mode)) return DirConflict(name);
    RETURN_IF_ERROR(CheckRegular(st, name));
    return true;
  }

  // "Already existed" must be as durable as "written": the object may have
  // been published a moment ago by a writer that has not yet synced its
  // directory, and our caller is about to reference it.
  Result<bool> ExistedDurably(int dir_fd, const std::string& name) const {
    RETURN_IF_ERROR(SyncDir(dir_fd, name));
    return false;
  }

  Status SyncDir(int dir_fd, const std::string& name) const {
    if (::fsync(dir_fd) != 0) {
      return ErrnoError(errno, fmt::format("Failed to fsync the directory of {}", Path(name)));
    }
    return Status::OK();
  }

  // Opens (creating as needed, with dir_mode) the directory `dir` below root.
  Result<UniqueFd> OpenDir(const std::string& dir, const std::string& name) const {
    constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    const char* path = dir.empty() ? "." : dir.c_str();
    UniqueFd fd(::openat(root_fd_.get(), path, kFlags));
    if (!fd.valid() && errno == ENOENT) {
      for (size_t end = 0; end != std::string::npos;) {
        end = dir.find('/', end + 1);
        std::string part = dir.substr(0, end);
        if (::mkdirat(root_fd_.get(), part.c_str(), options_.dir_mode) == 0) {
          // Exact mode whatever the umask: other readers of the store rely on it.
          ::fchmodat(root_fd_.get(), part.c_str(), options_.dir_mode, 0);
        } else if (errno != EEXIST) {
          if (errno == ENOTDIR) return DirConflict(name);
          return ErrnoError(errno, fmt::format("Failed to create directory {}", Path(part)));
        }
      }
      fd = UniqueFd(::openat(root_fd_.get(), path, kFlags));
    }
    if (!fd.valid()) {
      if (errno == ENOTDIR) return DirConflict(name);
      return ErrnoError(errno, fmt::format("Failed to open directory {}", Path(dir)));
    }
    return fd;
  }

  // Writes `data` to a fresh temp file beside `base` (fsynced if `sync`).
  Result<TempFile> WriteTemp(int dir_fd, const std::string& base, std::string_view data,
                             const std::string& name, bool sync) const {
    for (int attempt = 0;; ++attempt) {
      std::string temp_name = base + std::string(kLocalTempMarker) + RandomSuffix();
      UniqueFd fd(
          ::openat(dir_fd, temp_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      if (!fd.valid()) {
        if (errno == EEXIST && attempt < 8) continue;
        return ErrnoError(errno, fmt::format("Failed to create a temp file for {}", Path(name)));
      }
      TempFile temp(dir_fd, std::move(temp_name));
      // Errors name the object, not the temp file (gone with them).
      std::string what = Path(name);
      if (::fchmod(fd.get(), options_.file_mode) != 0) {
        return ErrnoError(errno, fmt::format("Failed to chmod {}", what));
      }
      RETURN_IF_ERROR(sys::WriteAll(fd.get(), data, what));
      if (sync && ::fsync(fd.get()) != 0)
        return ErrnoError(errno, fmt::format("Failed to fsync {}", what));
      return temp;
    }
  }

  // RemoveLeftovers below the directory `fd` (the directory `dir`).
  Status Sweep(UniqueFd fd, const std::string& dir, int64_t temps_older_than_ns, bool empty_dirs,
               LeftoverCount* count) const {
    std::vector<std::string> names;
    // The listing reads a duplicate; `fd` stays for the *at calls below.
    RETURN_IF_ERROR(sys::VisitDirectoryAt(
        fd.get(), Path(dir), [&names](std::string_view n, unsigned char type) {
          // One stat per directory and temp, not per object: a store holds
          // millions of chunks.
          bool maybe_dir = type == DT_DIR || type == DT_UNKNOWN;
          if (maybe_dir || n.find(kLocalTempMarker) != std::string_view::npos)
            names.emplace_back(n);
          return true;
        }));
    for (const std::string& n : names) {
      struct stat st;
      if (::fstatat(fd.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone
      std::string child = dir.empty() ? n : dir + "/" + n;
      if (S_ISDIR(st.st_mode) && ComponentProblem(n).empty()) {
        UniqueFd sub(
            ::openat(fd.get(), n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub.valid()) continue;
        RETURN_IF_ERROR(Sweep(std::move(sub), child, temps_older_than_ns, empty_dirs, count));
        // Fails (ENOTEMPTY) if anything is or has just been put in it.
        if (empty_dirs && ::unlinkat(fd.get(), n.c_str(), AT_REMOVEDIR) == 0) ++count->dirs;
      } else if (S_ISREG(st.st_mode) && n.find(kLocalTempMarker) != std::string::npos) {
        int64_t mtime =
            static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
        if (mtime < temps_older_than_ns && ::unlinkat(fd.get(), n.c_str(), 0) == 0) ++count->temps;
      }
    }
    return Status::OK();
  }

  // Appends the objects below the directory `fd` (whose key prefix is `key`)
  // to `out`; at this level only entries starting with `filter`.
  Status Walk(UniqueFd fd, const std::string& key, std::string_view filter,
              std::vector<std::string>* out) const {
    Status walked;
    RETURN_IF_ERROR(sys::VisitDirectoryAt(
        fd.get(), Path(key), [&](std::string_view entry_name, unsigned char type) {
          // Temps ("~tmp.") and foreign files fail this, so they are never listed.
          if (!ComponentProblem(entry_name).empty() || !entry_name.starts_with(filter)) return true;
          std::string name(entry_name);
          if (type == DT_UNKNOWN) {
            struct stat st;
            if (::fstatat(fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return true;
            type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : DT_UNKNOWN;
          }
          std::string child = key + name;
          if (type == DT_REG) {
            out->push_back(std::move(child));
          } else if (type == DT_DIR) {
            UniqueFd sub(
                ::openat(fd.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            walked = sub.valid() ? Walk(std::move(sub), child + "/", "", out)
                                 : ErrnoError(errno, fmt::format("Failed to open {}", Path(child)));
          }
          return walked.ok();
        }));
    return walked;
  }

  const std::string root_;
  const UniqueFd root_fd_;
  const LocalBackendOptions options_;
};

}  // namespace

Result<std::unique_ptr<ObjectBackend>> OpenLocalBackend(const std::string& root,
                                                        const LocalBackendOptions& options) {
  if (root.empty()) return InvalidArgumentError("Local store path is empty");
  std::string clean = root;
  while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
  UniqueFd fd(::open(clean.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) {
      return NotFoundError(fmt::format("Local store directory \"{}\" does not exist", clean));
    }
    if (errno == ENOTDIR) {
      return FailedPreconditionError(
          fmt::format("Local store path \"{}\" is not a directory", clean));
    }
    return ErrnoError(errno, fmt::format("Failed to open local store directory \"{}\"", clean));
  }
  return std::unique_ptr<ObjectBackend>(
      std::make_unique<LocalBackend>(std::move(clean), std::move(fd), options));
}

}  // namespace objstore
}  // namespace ctdump
