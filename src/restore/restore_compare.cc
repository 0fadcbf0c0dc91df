#include "restore/restore_compare.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "extract/dir_stream.h"
#include "extract/entry_check.h"
#include "extract/tar_reader.h"
#include "extract/tar_source.h"
#include "restore/test_restore.h"
#include "sys/file.h"
#include "sys/signals.h"
#include "sys/subprocess.h"
#include "sys/unique_fd.h"

namespace ctdump::restore {
namespace {

std::string TypeName(CatalogEntry::Type t) {
  switch (t) {
    case CatalogEntry::Type::kFile:
      return "regular file";
    case CatalogEntry::Type::kDir:
      return "directory";
    case CatalogEntry::Type::kSymlink:
      return "symlink";
    case CatalogEntry::Type::kHardlink:
      return "hardlink";
    case CatalogEntry::Type::kChar:
      return "character device";
    case CatalogEntry::Type::kBlock:
      return "block device";
    case CatalogEntry::Type::kFifo:
      return "fifo";
    default:
      return "other";
  }
}

std::string HostTypeName(mode_t m) {
  if (S_ISREG(m)) return "regular file";
  if (S_ISDIR(m)) return "directory";
  if (S_ISLNK(m)) return "symlink";
  if (S_ISCHR(m)) return "character device";
  if (S_ISBLK(m)) return "block device";
  if (S_ISFIFO(m)) return "fifo";
  return "other";
}

std::string HostPath(const std::string& rootfs, const std::string& path) {
  return path.empty() ? rootfs : rootfs + "/" + path;
}

// The archive's member name as a path relative to the root ("" for ".").
std::string Relative(const std::string& normalized) {
  if (normalized == ".") return "";
  return normalized.substr(2);  // "./a/b" -> "a/b"
}

// Walks a backup as a restore reads it and compares every entry with the
// restored root file system, the content of a spread sample byte for byte.
class Comparison {
 public:
  Comparison(const RestoreTestOptions& o, const std::string& rootfs, const IdMap& map,
             uint64_t regular_files)
      : o_(o), rootfs_(rootfs), map_(map), regular_files_(regular_files) {}

  // Reads every entry of `a` (an opened tar reader).
  Status Walk(archive* a, const std::string& what) {
    const int signals_before = sys::InterruptCount();
    archive_entry* e = nullptr;
    for (;;) {
      if (sys::InterruptCount() != signals_before) return CancelledError("interrupted by signal");
      int r = archive_read_next_header(a, &e);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) return Damaged(a, what);
      const char* raw_name = archive_entry_pathname(e);
      auto normalized = extract::NormalizeEntryName(raw_name ? raw_name : "");
      if (!normalized.ok())
        return DataLossError(fmt::format("{}: member '{}': {}", what, raw_name ? raw_name : "",
                                         normalized.status().message()));
      if (extract::IsBelowDev(*normalized)) continue;  // the restore skips ./dev/*
      const auto& configs = ArchiveConfigMembers();    // and vzdump's configs
      if (std::find(configs.begin(), configs.end(), *normalized) != configs.end()) continue;
      CatalogEntry c;
      c.path = Relative(*normalized);
      c.mode = archive_entry_perm(e) & 07777;
      c.uid = static_cast<uint32_t>(archive_entry_uid(e));
      c.gid = static_cast<uint32_t>(archive_entry_gid(e));
      c.size = static_cast<uint64_t>(archive_entry_size(e));
      // libarchive gives the group bits of an entry with an access ACL from
      // its group:: entry; on disk they are the ACL's mask (as tar stored
      // the mode and as the restore writes it).
      if (archive_entry_acl_reset(e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS) > 0) {
        int type, permset, tag, qual;
        const char* acl_name;
        while (archive_entry_acl_next(e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, &type, &permset, &tag,
                                      &qual, &acl_name) == ARCHIVE_OK)
          if (tag == ARCHIVE_ENTRY_ACL_MASK)
            c.mode = (c.mode & ~070u) | ((static_cast<uint32_t>(permset) & 7u) << 3);
      }
      if (const char* h = archive_entry_hardlink(e)) {
        c.type = CatalogEntry::Type::kHardlink;
        auto t = extract::NormalizeHardlinkTarget(h);
        c.link = t.ok() ? Relative(*t) : std::string(h);
      } else {
        switch (archive_entry_filetype(e)) {
          case AE_IFREG:
            c.type = CatalogEntry::Type::kFile;
            break;
          case AE_IFDIR:
            c.type = CatalogEntry::Type::kDir;
            break;
          case AE_IFLNK:
            c.type = CatalogEntry::Type::kSymlink;
            c.link = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
            break;
          case AE_IFCHR:
            c.type = CatalogEntry::Type::kChar;
            break;
          case AE_IFBLK:
            c.type = CatalogEntry::Type::kBlock;
            break;
          case AE_IFIFO:
            c.type = CatalogEntry::Type::kFifo;
            break;
          default:
            c.type = CatalogEntry::Type::kOther;
        }
      }
      // Device nodes outside ./dev cannot be created in an unprivileged
      // container's user namespace: the restore reports them and goes on.
      if (c.type == CatalogEntry::Type::kChar || c.type == CatalogEntry::Type::kBlock ||
          c.type == CatalogEntry::Type::kOther) {
        report_.entries++;
        continue;
      }
      report_.entries++;
      for (auto& m : CompareEntry(c, rootfs_, map_)) Mismatch(c.path, m);
      if (c.type == CatalogEntry::Type::kFile) {
        uint64_t index = file_index_++;
        bool sample = InSample(index, std::max(regular_files_, file_index_), o_.sample_files) &&
                      report_.bytes_sampled + c.size <= o_.sample_bytes;
        if (sample) {
          ContentComparer cmp(HostPath(rootfs_, c.path));
          char buf[65536];
          la_ssize_t n;
          while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
            cmp.Feed(buf, static_cast<size_t>(n));
          if (n < 0) return Damaged(a, what);
          std::string m = cmp.Finish();
          if (!m.empty()) Mismatch(c.path, m);
          report_.files_sampled++;
          report_.bytes_sampled += c.size;
        } else {
          // Read through all the same: a damaged member fails the test.
          const void* block;
          size_t size;
          la_int64_t offset;
          while ((r = archive_read_data_block(a, &block, &size, &offset)) == ARCHIVE_OK) {
          }
          if (r != ARCHIVE_EOF) return Damaged(a, what);
        }
      }
    }
    if (report_.entries == 0) return DataLossError(fmt::format("{} holds no files", what));
    return Status::OK();
  }

  const CompareReport& report() const { return report_; }

 private:
  static Status Damaged(archive* a, const std::string& what) {
    const char* why = archive_error_string(a);
    return DataLossError(fmt::format("{} is damaged: {}", what, why ? why : "unknown error"));
  }
  void Mismatch(const std::string& path, const std::string& what) {
    report_.mismatches++;
    if (report_.first_mismatches.size() < 10)
      report_.first_mismatches.push_back(fmt::format("/{}: {}", path, what));
  }

  const RestoreTestOptions& o_;
  std::string rootfs_;
  const IdMap& map_;
  uint64_t regular_files_;
  uint64_t file_index_ = 0;
  CompareReport report_;
};

struct ReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

// A tar stream that `produce` writes, read through a pipe while it runs in a
// thread.
Status WalkStream(Comparison& cmp, const std::string& what,
                  const std::function<Status(const Provider::TarWriteFn&,
                                             const std::function<bool()>&)>& produce) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe");
  sys::UniqueFd rd(p[0]), wr(p[1]);
  std::atomic<bool> closed{false};
  Status produced;
  std::thread producer([&] {
    produced = produce(
        [&](const void* data, size_t size) -> Status {
          if (closed) return CancelledError("the comparison stopped reading");
          Status s = sys::WriteAll(wr.get(), std::string_view(static_cast<const char*>(data), size),
                                   "the comparison's pipe");
          if (!s.ok()) closed = true;
          return s;
        },
        [&] { return closed.load(); });
    wr.Reset();
  });
  std::unique_ptr<archive, ReadFree> a(archive_read_new());
  Status walked;
  if (!a) {
    walked = InternalError("out of memory creating a libarchive reader");
  } else {
    archive_read_support_format_tar(a.get());
    extract::SupportTarFilters(a.get());
    if (archive_read_open_fd(a.get(), rd.get(), 65536) != ARCHIVE_OK)
      walked = DataLossError(fmt::format("{}: {}", what, archive_error_string(a.get())));
    else
      walked = cmp.Walk(a.get(), what);
    // The rest of the stream (the tar end blocks) so the producer finishes.
    char buf[65536];
    while (walked.ok() && ::read(rd.get(), buf, sizeof(buf)) > 0) {
    }
  }
  closed = true;
  rd.Reset();  // a producer still writing gets EPIPE
  producer.join();
  if (!walked.ok()) return walked;
  if (!produced.ok() && produced.code() != Code::kCancelled) return produced;
  return Status::OK();
}

Status WalkTarFile(Comparison& cmp, const std::string& path) {
  ASSIGN_OR_RETURN(sys::UniqueFd fd, sys::OpenRegularFile(path));
  ASSIGN_OR_RETURN(auto source, extract::OpenTarSource(fd.get(), path));
  std::unique_ptr<archive, ReadFree> a(archive_read_new());
  if (!a) return InternalError("out of memory creating a libarchive reader");
  extract::SupportTarFilters(a.get());
  archive_read_support_format_tar(a.get());
  std::string what = fmt::format("\"{}\"", path);
  if (extract::OpenArchiveOn(a.get(), source.get()) != ARCHIVE_OK)
    return DataLossError(fmt::format("{} is damaged: {}", what, archive_error_string(a.get())));
  return cmp.Walk(a.get(), what);
}

// Regular files (inodes: a hardlink is a member of its own in the archive).
uint64_t CountRegularFiles(const std::string& root) {
  uint64_t n = 0;
  std::set<std::pair<dev_t, ino_t>> linked;
  std::error_code ec;
  std::filesystem::recursive_directory_iterator it(
      root, std::filesystem::directory_options::skip_permission_denied, ec);
  for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (st.st_nlink > 1 && !linked.insert({st.st_dev, st.st_ino}).second) continue;
    ++n;
  }
  return n;
}

// WalkTarFile in a child whose address space is limited as the restore's
// extraction is (archive_check.h): a crafted archive's headers cannot take
// the host's memory. The child reports the comparison as JSON on stdout.
Result<CompareReport> CompareTarFileInChild(const std::string& path, const std::string& rootfs,
                                            const IdMap& map, const RestoreTestOptions& o,
                                            uint64_t regular_files) {
  constexpr uint64_t kMemoryLimit = uint64_t{2} << 30;
  sys::SpawnOptions so;
  so.argv = {"ctdump-restore-test-compare"};
  so.pipe_stdout = true;
  so.cwd = "/";
  sys::SpawnHooks hooks;
  hooks.run = [&]() {
    struct rlimit limit = {kMemoryLimit, kMemoryLimit};
    ::setrlimit(RLIMIT_AS, &limit);
    Comparison cmp(o, rootfs, map, regular_files);
    Status s = WalkTarFile(cmp, path);
    nlohmann::json j;
    if (s.ok()) {
      const CompareReport& r = cmp.report();
      j = {{"entries", r.entries},
           {"files_sampled", r.files_sampled},
           {"bytes_sampled", r.bytes_sampled},
           {"mismatches", r.mismatches},
           {"first", r.first_mismatches}};
    } else {
      j = {{"code", static_cast<int>(s.code())}, {"message", s.message()}};
    }
    std::string out = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return sys::WriteAll(1, out, "the comparison's result").ok() ? 0 : 1;
  };
  ASSIGN_OR_RETURN(sys::Subprocess child, sys::Spawn(so, &hooks));
  std::string out;
  const int signals_before = sys::InterruptCount();
  while (child.stdout_fd().valid()) {
    pollfd fds[2] = {{child.stdout_fd().get(), POLLIN, 0}, {sys::InterruptFd(), POLLIN, 0}};
    if (::poll(fds, 2, 1000) < 0 && errno != EINTR) return ErrnoError(errno, "poll");
    if (sys::InterruptCount() != signals_before) return CancelledError("interrupted by signal");
    if (!fds[0].revents) continue;
    char buf[4096];
    ssize_t n = ::read(child.stdout_fd().get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      child.stdout_fd().Reset();
    else if (out.size() < (1 << 20))
      out.append(buf, static_cast<size_t>(n));
  }
  ASSIGN_OR_RETURN(int st, child.Wait());
  nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return DataLossError(fmt::format(
        "comparing \"{}\" failed: the comparison {} (it may use at most {} MiB: crafted or "
        "damaged archive?)",
        path, sys::DescribeWaitStatus(st), kMemoryLimit >> 20));
  try {
    if (j.contains("code"))
      return Status(static_cast<Code>(j.at("code").get<int>()), j.at("message").get<std::string>());
    CompareReport r;
    r.entries = j.at("entries").get<uint64_t>();
    r.files_sampled = j.at("files_sampled").get<uint64_t>();
    r.bytes_sampled = j.at("bytes_sampled").get<uint64_t>();
    r.mismatches = j.at("mismatches").get<uint64_t>();
    r.first_mismatches = j.at("first").get<std::vector<std::string>>();
    return r;
  } catch (const std::exception& e) {
    return InternalError(fmt::format("the comparison's result is malformed: {}", e.what()));
  }
}

}  // namespace

// Compares the backup `volname` of `p` with the restored root.
Result<CompareReport> CompareBackup(Provider& p, const std::string& volname,
                                    const RestoreTestOptions& o, const std::string& rootfs,
                                    const IdMap& map, Observer* log) {
  const uint64_t regular_files = CountRegularFiles(rootfs);
  Comparison cmp(o, rootfs, map, regular_files);
  Status s;
  if (p.StreamsRestore() && !p.external()) {
    s = WalkStream(cmp, fmt::format("backup '{}'", volname),
                   [&](const Provider::TarWriteFn& write, const std::function<bool()>& closed) {
                     return p.StreamRestore(volname, write, closed);
                   });
  } else {
    ASSIGN_OR_RETURN(RestoreMechanism m, p.RestoreGetMechanism(volname));
    auto source = p.RestoreContainerInit(volname, m);
    if (!source.ok()) {
      p.RestoreContainerCleanup(volname).IgnoreError();
      return source.status();
    }
    if (m == RestoreMechanism::kTar) {
      auto r = CompareTarFileInChild(*source, rootfs, map, o, regular_files);
      Status cleanup = p.RestoreContainerCleanup(volname);
      RETURN_IF_ERROR(r.status());
      RETURN_IF_ERROR(cleanup.WithContext("restore cleanup failed"));
      return r;
    } else {
      s = WalkStream(cmp, fmt::format("directory \"{}\"", *source),
                     [&](const Provider::TarWriteFn& write, const std::function<bool()>& closed) {
                       return extract::StreamDirectory(*source, {write, closed}, log);
                     });
    }
    Status cleanup = p.RestoreContainerCleanup(volname);
    if (s.ok() && !cleanup.ok()) s = cleanup.WithContext("restore cleanup failed");
  }
  RETURN_IF_ERROR(s);
  return cmp.report();
}

std::vector<std::string> CompareEntry(const CatalogEntry& e, const std::string& rootfs,
                                      const IdMap& map) {
  std::vector<std::string> out;
  std::string host = HostPath(rootfs, e.path);
  struct stat st;
  if (::lstat(host.c_str(), &st) != 0) {
    out.push_back(errno == ENOENT ? "missing in the restored container"
                                  : fmt::format("cannot be read: {}", std::strerror(errno)));
    return out;
  }
  if (e.type == CatalogEntry::Type::kHardlink) {
    struct stat target;
    std::string t = HostPath(rootfs, e.link);
    if (::lstat(t.c_str(), &target) != 0 || target.st_ino != st.st_ino ||
        target.st_dev != st.st_dev)
      out.push_back(fmt::format("not a hardlink of /{}", e.link));
    return out;  // its metadata is the target's
  }
  mode_t want = 0;
  switch (e.type) {
    case CatalogEntry::Type::kFile:
      want = S_IFREG;
      break;
    case CatalogEntry::Type::kDir:
      want = S_IFDIR;
      break;
    case CatalogEntry::Type::kSymlink:
      want = S_IFLNK;
      break;
    case CatalogEntry::Type::kChar:
      want = S_IFCHR;
      break;
    case CatalogEntry::Type::kBlock:
      want = S_IFBLK;
      break;
    case CatalogEntry::Type::kFifo:
      want = S_IFIFO;
      break;
    default:
      return out;
  }
  if ((st.st_mode & S_IFMT) != want) {
    out.push_back(
        fmt::format("is a {}, the backup has a {}", HostTypeName(st.st_mode), TypeName(e.type)));
    return out;
  }
  // A symlink's own mode is not restored (Linux has no lchmod).
  if (e.type != CatalogEntry::Type::kSymlink && (st.st_mode & 07777) != e.mode)
    out.push_back(fmt::format("mode {:04o}, the backup has {:04o}", st.st_mode & 07777, e.mode));
  auto hu = map.empty() ? std::optional<uint32_t>(e.uid) : map.HostUid(e.uid);
  auto hg = map.empty() ? std::optional<uint32_t>(e.gid) : map.HostGid(e.gid);
  if (hu && st.st_uid != *hu)
    out.push_back(
        fmt::format("owner uid {} on the host, the backup's {} maps to {}", st.st_uid, e.uid, *hu));
  if (hg && st.st_gid != *hg)
    out.push_back(
        fmt::format("group gid {} on the host, the backup's {} maps to {}", st.st_gid, e.gid, *hg));
  if (e.type == CatalogEntry::Type::kFile && static_cast<uint64_t>(st.st_size) != e.size)
    out.push_back(fmt::format("size {}, the backup has {}", st.st_size, e.size));
  if (e.type == CatalogEntry::Type::kSymlink) {
    std::string target(PATH_MAX + 1, '\0');
    ssize_t n = ::readlink(host.c_str(), target.data(), target.size());
    target.resize(n < 0 ? 0 : static_cast<size_t>(n));
    if (target != e.link)
      out.push_back(fmt::format("symlink to '{}', the backup has '{}'", target, e.link));
  }
  return out;
}

ContentComparer::ContentComparer(const std::string& host_path) {
  fd_ = ::open(host_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd_ < 0) mismatch_ = fmt::format("content cannot be read: {}", std::strerror(errno));
}

ContentComparer::~ContentComparer() {
  if (fd_ >= 0) ::close(fd_);
}

void ContentComparer::Feed(const void* data, size_t size) {
  if (!mismatch_.empty()) return;
  const char* want = static_cast<const char*>(data);
  char buf[65536];
  while (size > 0) {
    size_t chunk = std::min(size, sizeof(buf));
    ssize_t n = ::pread(fd_, buf, chunk, static_cast<off_t>(offset_));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      mismatch_ = fmt::format("content cannot be read: {}", std::strerror(errno));
      return;
    }
    size_t got = static_cast<size_t>(n);
    size_t same = 0;
    while (same < got && buf[same] == want[same]) ++same;
    if (same < got || got < chunk) {
      mismatch_ = got < chunk && same == got
                      ? fmt::format("content ends at byte {}, the backup's goes on", offset_ + got)
                      : fmt::format("content differs from the backup at byte {}", offset_ + same);
      return;
    }
    offset_ += got;
    want += got;
    size -= got;
  }
}

std::string ContentComparer::Finish() {
  if (mismatch_.empty()) {
    char c;
    ssize_t n = ::pread(fd_, &c, 1, static_cast<off_t>(offset_));
    if (n > 0) mismatch_ = fmt::format("content is longer than the backup's ({} bytes)", offset_);
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  return mismatch_;
}

bool InSample(uint64_t index, uint64_t total, uint64_t want) {
  if (want == 0 || index >= total) return false;
  if (total <= want) return true;
  // Exactly `want` of the `total` indexes, evenly spread, 0 among them.
  return (index * want) % total < want;
}

Result<CompareReport> CompareTarWithRoot(const std::string& tar_path, const std::string& rootfs,
                                         const IdMap& map, const RestoreTestOptions& options) {
  return CompareTarFileInChild(tar_path, rootfs, map, options, CountRegularFiles(rootfs));
}

}  // namespace ctdump::restore
