#include "restore/test_restore.h"

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
#include <chrono>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "container/container.h"
#include "ctdump/provider.h"
#include "extract/dir_stream.h"
#include "extract/entry_check.h"
#include "extract/tar_reader.h"
#include "extract/tar_source.h"
#include "provider/volume_id.h"
#include "registry/registry.h"
#include "restore/guest_config.h"
#include "restore/restore_journal.h"
#include "sys/file.h"
#include "sys/lock_file.h"
#include "sys/signals.h"
#include "sys/subprocess.h"
#include "sys/unique_fd.h"

namespace ctdump::restore {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

bool Overlaps(const IdRange& a, const IdRange& b) {
  return a.start < b.start + b.count && b.start < a.start + a.count;
}

// "u 0 100000 65536" -> type and host range; false when malformed.
bool ParseIdmapValue(const std::string& v, char* type, IdRange* host) {
  char t = 0;
  unsigned long long ct = 0, hs = 0, n = 0;
  if (std::sscanf(v.c_str(), " %c %llu %llu %llu", &t, &ct, &hs, &n) != 4) return false;
  if (t != 'u' && t != 'g') return false;
  *type = t;
  *host = {hs, n};
  return true;
}

// The host ranges the ID maps of the containers under `lxcpath` use.
void TakenByContainers(const std::string& lxcpath, std::vector<IdRange>* uids,
                       std::vector<IdRange>* gids) {
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator(lxcpath, ec)) {
    auto text = sys::ReadFile(d.path().string() + "/config");
    if (!text.ok()) continue;
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
      auto k = line.find_first_not_of(" \t");
      if (k == std::string::npos || line.compare(k, 9, "lxc.idmap") != 0) continue;
      auto eq = line.find('=', k);
      if (eq == std::string::npos) continue;
      char t;
      IdRange r;
      if (ParseIdmapValue(line.substr(eq + 1), &t, &r)) (t == 'u' ? uids : gids)->push_back(r);
    }
  }
}

uint64_t Extent(const IdMap& map, char type) {
  uint64_t e = 0;
  for (const auto& x : map.entries())
    if (x.type == type) e = std::max<uint64_t>(e, uint64_t{x.ct_start} + x.count);
  return e;
}

// The new container's map: one range per type covering the ids the backup
// uses, from root's subordinate ids, overlapping neither the backed-up map
// nor (if possible) another container's.
Result<IdMap> PickTestMap(const BackedUpConfig& b, const std::string& lxcpath, Observer* log) {
  IdMap backed = IdMap();
  if (b.unprivileged) {
    auto m = IdMap::Parse(b.idmap_values, true);
    if (m.ok()) backed = *m;
  }
  uint64_t count =
      std::max<uint64_t>({Extent(backed, 'u'), Extent(backed, 'g'), IdMap::kDefaultCount});
  auto delegated = [](const char* path) {
    auto text = sys::ReadFile(path);
    return DelegatedRanges(text.ok() ? *text : "", "root", "0");
  };
  std::vector<IdRange> sub_u = delegated("/etc/subuid"), sub_g = delegated("/etc/subgid");
  std::vector<IdRange> taken_u = HostRanges(backed, 'u'), taken_g = HostRanges(backed, 'g');
  std::vector<IdRange> all_u = taken_u, all_g = taken_g;
  TakenByContainers(lxcpath, &all_u, &all_g);
  auto u = PickFreeIdBlock(sub_u, all_u, count);
  auto g = PickFreeIdBlock(sub_g, all_g, count);
  if (!u || !g) {
    u = PickFreeIdBlock(sub_u, taken_u, count);
    g = PickFreeIdBlock(sub_g, taken_g, count);
    if (u && g)
      log->Log(LogLevel::kWarn,
               "no subordinate id range free of every container's ID map; the test container "
               "shares host ids with another container (add a range to /etc/subuid and "
               "/etc/subgid to avoid that)");
  }
  if (!u || !g)
    return FailedPreconditionError(fmt::format(
        "no range of {} subordinate ids of root (/etc/subuid, /etc/subgid) that differs from the "
        "backed-up ID map ({}); the test container needs its own: add a line 'root:<start>:{}' "
        "with ids nobody else uses to both files",
        count, backed.empty() ? "none" : backed.ToString(), count));
  return IdMap::Parse({fmt::format("u 0 {} {}", *u, count), fmt::format("g 0 {} {}", *g, count)},
                      true);
}

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

// The throw-away container: stopped and destroyed, and its journal
// cleared, whatever way the test ends.
class Guard {
 public:
  Guard(const Paths& paths, std::string name, Observer* log)
      : paths_(paths), name_(std::move(name)), log_(log) {}
  ~Guard() { Destroy(); }

  // True when nothing of the container is left.
  bool Destroy() {
    if (done_) return clean_;
    done_ = true;
    std::string ct_dir = fmt::format("{}/{}", paths_.lxcpath, name_);
    bool clean = true;
    auto ct = container::Container::Open(name_, paths_.lxcpath);
    if (ct.ok()) {
      auto t = Clock::now();
      bool was_running = ct->IsRunning();
      Status s = ct->Stop();
      if (!s.ok()) {
        log_->Log(LogLevel::kErr,
                  fmt::format("unable to stop test container '{}': {}", name_, s.message()));
        clean = false;
      } else {
        if (was_running)
          log_->Log(LogLevel::kInfo,
                    fmt::format("stopped container '{}' ({:.1f} s)", name_, Since(t)));
        s = ct->Destroy();
        if (!s.ok()) log_->Log(LogLevel::kWarn, s.message());  // removed below
      }
    }
    if (clean && sys::PathExists(ct_dir)) {
      Status s = sys::RemoveTree(ct_dir);
      if (!s.ok()) {
        log_->Log(LogLevel::kErr, s.message());
        clean = false;
      }
    }
    // What is left stays in the journal for `ctdump cleanup`.
    if (clean) {
      Status s = ClearRestoreJournal(paths_.run_dir, name_);
      if (!s.ok()) log_->Log(LogLevel::kWarn, s.message());
      // The name is never used again: its lock files go too.
      ::unlink(RestoreLockPath(paths_.run_dir, name_).c_str());
      container::RemoveLxcLockFiles(name_, paths_.lxcpath);
    }
    clean_ = clean;
    return clean;
  }

 private:
  Paths paths_;
  std::string name_;
  Observer* log_;
  bool done_ = false;
  bool clean_ = false;
};

std::string FreeName(const std::string& lxcpath) {
  for (int n = 0;; ++n) {
    std::string name = fmt::format("ctdump-rt-{}-{}", ::getpid(), n);
    if (!sys::PathExists(lxcpath + "/" + name)) return name;
  }
}

}  // namespace

std::vector<IdRange> HostRanges(const IdMap& map, char type) {
  std::vector<IdRange> out;
  for (const auto& e : map.entries())
    if (e.type == type) out.push_back({e.host_start, e.count});
  return out;
}

std::optional<uint64_t> PickFreeIdBlock(const std::vector<IdRange>& delegated,
                                        const std::vector<IdRange>& taken, uint64_t count) {
  if (count == 0) return std::nullopt;
  for (const auto& d : delegated) {
    for (uint64_t start = d.start; start + count <= d.start + d.count; start += count) {
      if (start == 0 || start + count - 1 > UINT32_MAX) continue;
      IdRange cand{start, count};
      if (std::none_of(taken.begin(), taken.end(),
                       [&](const IdRange& t) { return Overlaps(cand, t); }))
        return start;
    }
  }
  return std::nullopt;
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

std::string IsolateConfig(const std::string& lxc_config) {
  std::istringstream in(lxc_config);
  std::string line, out;
  while (std::getline(in, line)) {
    auto k = line.find_first_not_of(" \t");
    if (k != std::string::npos &&
        (line.compare(k, 8, "lxc.net.") == 0 || line.compare(k, 7, "lxc.net") == 0 ||
         line.compare(k, 14, "lxc.start.auto") == 0 || line.compare(k, 7, "lxc.network") == 0))
      continue;
    out += line + "\n";
  }
  out += "# restore test (ctdump restore-test): no network, no autostart\n";
  out += "lxc.net.0.type = empty\n";
  out += "lxc.start.auto = 0\n";
  return out;
}

Result<RestoreTestResult> RunRestoreTest(const RestoreTestOptions& o, const Paths& paths,
                                         Observer* log) {
  ASSIGN_OR_RETURN(provider::VolumeId volid, provider::ParseVolumeId(o.volid));
  RestoreTestResult result;
  result.volid = o.volid;
  const auto start_all = Clock::now();
  const int signals_before = sys::InterruptCount();
  auto interrupted = [&] { return sys::InterruptCount() != signals_before; };

  std::string phase = "restore";
  Clock::time_point phase_start = Clock::now();
  auto begin = [&](const std::string& p) {
    phase = p;
    phase_start = Clock::now();
  };
  auto end = [&](bool ok) {
    double s = Since(phase_start);
    result.phases.push_back({phase, s, ok});
    return s;
  };
  auto fail = [&](const Status& s) {
    end(false);
    result.failed_phase = phase;
    result.error = interrupted() && s.code() != Code::kCancelled
                       ? "interrupted by signal (" + s.message() + ")"
                       : s.message();
    log->Log(LogLevel::kErr, fmt::format("restore test: {} failed - {}", phase, result.error));
  };

  std::string name = FreeName(paths.lxcpath);
  result.container = name;
  log->Log(LogLevel::kInfo, fmt::format("starting restore test of '{}' in throw-away container "
                                        "'{}'",
                                        o.volid, name));
  std::optional<Guard> guard;
  std::unique_ptr<Provider> provider;
  IdMap map;
  do {
    begin("restore");
    auto storages = registry::LoadStorageConfig(paths.config_dir);
    if (!storages.ok()) {
      fail(storages.status());
      break;
    }
    auto p = registry::OpenStorage(*storages, volid.storage, log);
    if (!p.ok()) {
      fail(p.status());
      break;
    }
    provider = std::move(*p);
    auto raw = provider->ArchiveGetGuestConfig(volid.volname);
    auto backed_up = raw.ok() ? InspectGuestConfig(*raw) : Result<BackedUpConfig>(raw.status());
    if (!backed_up.ok()) {
      fail(backed_up.status());
      break;
    }
    auto picked = PickTestMap(*backed_up, paths.lxcpath, log);
    if (!picked.ok()) {
      fail(picked.status());
      break;
    }
    map = *picked;
    result.idmap = map.ToString();
    RestoreOptions ro;
    ro.volid = o.volid;
    ro.name = name;
    ro.unprivileged = true;
    for (const auto& e : map.entries())
      ro.idmap.push_back(fmt::format("{} {} {} {}", e.type, e.ct_start, e.host_start, e.count));
    ro.unique = true;
    ro.throwaway = true;
    guard.emplace(paths, name, log);
    Status restored = RunRestore(ro, paths, log);
    if (restored.ok() && interrupted()) restored = CancelledError("interrupted by signal");
    if (!restored.ok()) {
      fail(restored);
      break;
    }
    std::string ct_dir = fmt::format("{}/{}", paths.lxcpath, name);
    auto cfg = sys::ReadFile(ct_dir + "/config");
    Status isolated = cfg.ok() ? sys::WriteFileAtomic(ct_dir + "/config", IsolateConfig(*cfg), 0640)
                               : cfg.status();
    if (!isolated.ok()) {
      fail(isolated);
      break;
    }
    log->Log(LogLevel::kInfo, fmt::format("restore finished ({:.1f} s); ID map {}, no network",
                                          end(true), result.idmap));

    begin("compare");
    std::string rootfs = ct_dir + "/rootfs";
    auto cmp = CompareBackup(*provider, volid.volname, o, rootfs, map, log);
    if (cmp.ok()) result.compare = *cmp;
    if (!cmp.ok()) {
      fail(cmp.status());
      break;
    }
    if (interrupted()) {
      fail(CancelledError("interrupted by signal"));
      break;
    }
    if (cmp->mismatches) {
      for (const auto& m : cmp->first_mismatches) log->Log(LogLevel::kErr, "differs: " + m);
      fail(DataLossError(
          fmt::format("{} of {} entries differ from the backup ({} files compared byte for byte)",
                      cmp->mismatches, cmp->entries, cmp->files_sampled)));
      break;
    }
    log->Log(LogLevel::kInfo,
             fmt::format("compared {} entries with the backup, {} files ({}) byte for byte; all "
                         "equal ({:.1f} s)",
                         cmp->entries, cmp->files_sampled,
                         fmt::format("{:.1f} MiB", cmp->bytes_sampled / 1048576.0), end(true)));

    begin("start");
    auto ct = container::Container::Open(name, paths.lxcpath);
    if (!ct.ok()) {
      fail(ct.status());
      break;
    }
    Status started = ct->Start(std::chrono::seconds(o.timeout_s));
    if (!started.ok()) {
      fail(started);
      break;
    }
    log->Log(LogLevel::kInfo, fmt::format("container started ({:.1f} s)", end(true)));
    if (interrupted()) {
      begin("init");
      fail(CancelledError("interrupted by signal"));
      break;
    }

    begin("init");
    Status ready = ct->WaitForInit(std::chrono::seconds(o.timeout_s));
    if (!ready.ok()) {
      fail(ready);
      break;
    }
    // A systemd container: until it has finished booting (running, or
    // degraded: a unit failed, reported as a warning).
    auto boot = ct->RunCommand({"/bin/sh", "-c",
                                "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; "
                                "then systemctl is-system-running --wait; fi"},
                               std::chrono::seconds(o.timeout_s));
    if (!boot.ok()) {
      fail(boot.status().WithContext("waiting for systemd in the container"));
      break;
    }
    std::string systemd = boot->output;
    while (!systemd.empty() && (systemd.back() == '\n' || systemd.back() == ' '))
      systemd.pop_back();
    if (!systemd.empty() && systemd != "running")
      log->Log(LogLevel::kWarn, fmt::format("systemd in the container is '{}'", systemd));
    log->Log(LogLevel::kInfo,
             fmt::format("init ready: RUNNING, init pid {}, attach runs commands{} ({:.1f} s)",
                         ct->InitPid(), systemd.empty() ? "" : ", systemd " + systemd, end(true)));

    begin("check");
    std::vector<std::string> argv = o.check.empty()
                                        ? std::vector<std::string>{"/bin/true"}
                                        : std::vector<std::string>{"/bin/sh", "-c", o.check};
    log->Log(LogLevel::kInfo,
             fmt::format("running check: {}", o.check.empty() ? "/bin/true" : o.check));
    auto ran = ct->RunCommand(argv, std::chrono::seconds(o.timeout_s));
    if (!ran.ok()) {
      fail(ran.status());
      break;
    }
    result.check_exit = ran->exit_code;
    result.check_output = ran->output;
    std::istringstream lines(ran->output);
    std::string line;
    while (std::getline(lines, line)) log->Log(LogLevel::kInfo, "check: " + line);
    if (ran->exit_code != 0) {
      fail(IOError(fmt::format("check command exited with {}", ran->exit_code)));
      break;
    }
    log->Log(LogLevel::kInfo, fmt::format("check passed ({:.1f} s)", end(true)));
  } while (false);

  // Destroy in every case.
  begin("destroy");
  bool cleaned = guard ? guard->Destroy() : true;
  if (provider) {
    Status s = provider->Shutdown();
    if (!s.ok()) log->Log(LogLevel::kWarn, s.message());
  }
  result.cleaned = cleaned;
  if (!cleaned) {
    bool first_failure = result.failed_phase.empty();
    end(false);
    if (first_failure) {
      result.failed_phase = "destroy";
      result.error = fmt::format(
          "container '{}' could not be removed completely (`ctdump "
          "cleanup` retries)",
          name);
    }
  } else {
    log->Log(LogLevel::kInfo, fmt::format("destroyed container '{}' ({:.1f} s)", name, end(true)));
  }
  result.total_seconds = Since(start_all);
  result.passed = result.failed_phase.empty();
  if (result.passed)
    log->Log(LogLevel::kInfo,
             fmt::format("restore test of '{}' passed ({:.1f} s)", o.volid, result.total_seconds));
  else
    log->Log(LogLevel::kErr,
             fmt::format("restore test of '{}' FAILED in phase {} ({:.1f} s): {}", o.volid,
                         result.failed_phase, result.total_seconds, result.error));
  return result;
}

}  // namespace ctdump::restore
