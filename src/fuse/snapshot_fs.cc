#define FUSE_USE_VERSION 35

#include "fuse/snapshot_fs.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fuse_log.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "fuse/snapshot_tree.h"
#include "sys/dir_list.h"
#include "sys/signals.h"

namespace ctdump::fuse {
namespace {

using datastore::Entry;

// The snapshot never changes while mounted: the kernel may cache names,
// attributes and pages for as long as it likes.
constexpr double kCacheTimeout = 86400.0;
constexpr uint32_t kBlockSize = 4096;
constexpr uint32_t kNameMax = 255;

// ---------------------------------------------------------------------------
// Reading file data.

// Sink that copies a stream's pieces to consecutive positions of *out.
auto CopyTo(std::string* out, size_t pos) {
  return [out, pos](const char* data, size_t n) mutable -> Status {
    std::memcpy(out->data() + pos, data, n);
    pos += n;
    return Status::OK();
  };
}

Status BadRegions() { return DataLossError("the file's data regions are inconsistent"); }

// The offset of the next data (want_data) or hole at or after `off` < size.
std::optional<uint64_t> Seek(const Entry& e, uint64_t off, bool want_data) {
  if (off >= e.size) return std::nullopt;
  if (e.sparse.empty()) return want_data ? off : e.size;
  uint64_t pos = off;
  for (auto [roff, rlen] : e.sparse) {
    if (roff + rlen <= pos) continue;
    if (want_data) return std::max(roff, pos);
    if (roff > pos) break;  // pos lies in a hole
    pos = roff + rlen;      // skip this region; an adjacent one continues it
  }
  if (want_data) return std::nullopt;
  return std::min(pos, e.size);
}

// ---------------------------------------------------------------------------
// The FUSE operations. Each answers from the tree; only read touches the
// store.

struct Fs {
  SnapshotTree tree;
  datastore::SnapshotReader* reader;
  Observer* observer;
  std::string read_buf;  // reused: reads come one at a time
};

Fs& Ctx(fuse_req_t req) { return *static_cast<Fs*>(fuse_req_userdata(req)); }

fuse_ino_t InoOf(NodeId id) { return static_cast<fuse_ino_t>(id) + 1; }

// The node of `ino`, or nullopt when the kernel names one we never gave out.
std::optional<NodeId> NodeOf(const Fs& fs, fuse_ino_t ino) {
  if (ino == 0 || ino > fs.tree.size()) return std::nullopt;
  return static_cast<NodeId>(ino - 1);
}

void FillStat(const Fs& fs, NodeId id, struct stat* st) {
  const SnapshotNode& n = fs.tree.node(id);
  const Entry& e = n.entry;
  *st = {};
  st->st_ino = InoOf(id);
  st->st_mode = e.mode;
  st->st_nlink = n.nlink;
  st->st_uid = e.uid;
  st->st_gid = e.gid;
  st->st_rdev = static_cast<dev_t>(e.rdev);
  st->st_size = static_cast<off_t>(S_ISLNK(e.mode) ? e.link.size() : e.size);
  st->st_blksize = kBlockSize;
  st->st_blocks = static_cast<blkcnt_t>((e.data_length + 511) / 512);
  st->st_mtim.tv_sec = e.mtime_sec;
  st->st_mtim.tv_nsec = e.mtime_nsec;
  st->st_atim = st->st_mtim;
  st->st_ctim.tv_sec = e.ctime_sec;
  st->st_ctim.tv_nsec = e.ctime_nsec;
}

void FillEntryParam(const Fs& fs, NodeId id, fuse_entry_param* p) {
  *p = {};
  p->ino = InoOf(id);
  p->generation = 1;
  FillStat(fs, id, &p->attr);
  p->attr_timeout = kCacheTimeout;
  p->entry_timeout = kCacheTimeout;
}

// Resolves `ino` or answers the request with ENOENT.
std::optional<NodeId> NodeOrReply(fuse_req_t req, fuse_ino_t ino) {
  auto id = NodeOf(Ctx(req), ino);
  if (!id) fuse_reply_err(req, ENOENT);
  return id;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Fs& fs = Ctx(req);
  auto dir = NodeOrReply(req, parent);
  if (!dir) return;
  if (!S_ISDIR(fs.tree.node(*dir).entry.mode)) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  fuse_entry_param p{};
  if (auto child = fs.tree.Lookup(*dir, name))
    FillEntryParam(fs, *child, &p);
  else
    p.entry_timeout = kCacheTimeout;  // ino 0: a cached "no such entry"
  fuse_reply_entry(req, &p);
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto id = NodeOrReply(req, ino);
  if (!id) return;
  struct stat st;
  FillStat(Ctx(req), *id, &st);
  fuse_reply_attr(req, &st, kCacheTimeout);
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  auto id = NodeOrReply(req, ino);
  if (!id) return;
  const Entry& e = Ctx(req).tree.node(*id).entry;
  if (!S_ISLNK(e.mode))
    fuse_reply_err(req, EINVAL);
  else
    fuse_reply_readlink(req, e.link.c_str());
}

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto id = NodeOrReply(req, ino);
  if (!id) return;
  if (!S_ISDIR(Ctx(req).tree.node(*id).entry.mode)) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  fi->fh = *id;
  fi->keep_cache = 1;
  fi->cache_readdir = 1;
  fuse_reply_open(req, fi);
}

// Directory offsets: 0 ".", 1 "..", 2 + k the k-th child; an entry's `off`
// is the offset of the next one.
void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
  Fs& fs = Ctx(req);
  auto id = NodeOrReply(req, ino);
  if (!id) return;
  const SnapshotNode& dir = fs.tree.node(*id);
  std::string buf(size, '\0');
  size_t used = 0;
  const size_t count = dir.children.size() + 2;
  for (size_t i = static_cast<size_t>(std::max<off_t>(off, 0)); i < count; ++i) {
    const char* name = i == 0 ? "." : i == 1 ? ".." : dir.children[i - 2].name.c_str();
    NodeId node = i == 0 ? *id : i == 1 ? dir.parent : dir.children[i - 2].node;
    fuse_entry_param p;
    FillEntryParam(fs, node, &p);
    size_t n = plus ? fuse_add_direntry_plus(req, buf.data() + used, size - used, name, &p,
                                             static_cast<off_t>(i + 1))
                    : fuse_add_direntry(req, buf.data() + used, size - used, name, &p.attr,
                                        static_cast<off_t>(i + 1));
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  ReadDir(req, ino, size, off, false);
}

void OpReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  ReadDir(req, ino, size, off, true);
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto id = NodeOrReply(req, ino);
  if (!id) return;
  const Entry& e = Ctx(req).tree.node(*id).entry;
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
    fuse_reply_err(req, EROFS);
    return;
  }
  if (S_ISDIR(e.mode)) {
    fuse_reply_err(req, EISDIR);
    return;
  }
  if (!S_ISREG(e.mode)) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  fi->fh = *id;
  fi->keep_cache = 1;
  fuse_reply_open(req, fi);
}

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  Fs& fs = Ctx(req);
  auto id = NodeOrReply(req, ino);
  if (!id) return;
  Status s = ReadFileRange(*fs.reader, fs.tree.node(*id).entry, static_cast<uint64_t>(off), size,
                           &fs.read_buf);
  if (!s.ok()) {
    if (fs.observer)
      fs.observer->Log(LogLevel::kWarn,
                       fmt::format("Reading '{}' of backup '{}' failed: {}", fs.tree.PathOf(*id),
                                   fs.reader->volname(), s.message()));
    fuse_reply_err(req, EIO);
    return;
  }
  fuse_reply_buf(req, fs.read_buf.data(), fs.read_buf.size());
}

void OpLseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info*) {
  auto id = NodeOrReply(req, ino);
  if (!id) return;
  if (whence != SEEK_DATA && whence != SEEK_HOLE) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  auto pos = Seek(Ctx(req).tree.node(*id).entry, static_cast<uint64_t>(std::max<off_t>(off, 0)),
                  whence == SEEK_DATA);
  if (!pos)
    fuse_reply_err(req, ENXIO);
  else
    fuse_reply_lseek(req, static_cast<off_t>(*pos));
}

// The xattr protocol: size 0 asks for the length; a too small buffer is
// ERANGE.
void ReplyXattr(fuse_req_t req, size_t size, const std::string& value) {
  if (size == 0)
    fuse_reply_xattr(req, value.size());
  else if (size < value.size())
    fuse_reply_err(req, ERANGE);
  else
    fuse_reply_buf(req, value.data(), value.size());
}

void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  auto id = NodeOrReply(req, ino);
  if (!id) return;
  for (const auto& [n, v] : Ctx(req).tree.node(*id).entry.xattrs) {
    if (n == name) {
      ReplyXattr(req, size, v);
      return;
    }
  }
  fuse_reply_err(req, ENODATA);
}

void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  auto id = NodeOrReply(req, ino);
  if (!id) return;
  std::string names;
  for (const auto& [n, v] : Ctx(req).tree.node(*id).entry.xattrs) names.append(n).push_back('\0');
  ReplyXattr(req, size, names);
}

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  const Fs& fs = Ctx(req);
  struct statvfs st {};
  st.f_bsize = kBlockSize;
  st.f_frsize = kBlockSize;
  st.f_blocks = (fs.tree.stored_bytes() + kBlockSize - 1) / kBlockSize;
  st.f_files = fs.tree.size();
  st.f_namemax = kNameMax;
  fuse_reply_statfs(req, &st);
}

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops{};
  ops.lookup = OpLookup;
  ops.getattr = OpGetattr;
  ops.readlink = OpReadlink;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.readdirplus = OpReaddirplus;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.lseek = OpLseek;
  ops.getxattr = OpGetxattr;
  ops.listxattr = OpListxattr;
  ops.statfs = OpStatfs;
  return ops;
}

// ---------------------------------------------------------------------------
// The session.

// libfuse's messages go to the observer of the running mount, and its last
// error into the Status of a failed mount. One mount per process at a time.
Observer* g_log_observer = nullptr;
std::string g_last_fuse_error;

void FuseLog(enum fuse_log_level level, const char* format, va_list ap) {
  char line[1024];
  std::vsnprintf(line, sizeof(line), format, ap);
  std::string_view msg(line);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.remove_suffix(1);
  if (level <= FUSE_LOG_ERR) g_last_fuse_error = msg;
  if (!g_log_observer) return;
  LogLevel l = level <= FUSE_LOG_ERR       ? LogLevel::kErr
               : level == FUSE_LOG_WARNING ? LogLevel::kWarn
                                           : LogLevel::kInfo;
  g_log_observer->Log(l, msg);
}

class LogRedirect {
 public:
  explicit LogRedirect(Observer* observer) {
    g_log_observer = observer;
    g_last_fuse_error.clear();
    fuse_set_log_func(FuseLog);
  }
  ~LogRedirect() {
    fuse_set_log_func(nullptr);
    g_log_observer = nullptr;
  }
  LogRedirect(const LogRedirect&) = delete;
  LogRedirect& operator=(const LogRedirect&) = delete;
};

struct ArgsDeleter {
  void operator()(fuse_args* a) const {
    fuse_opt_free_args(a);
    delete a;
  }
};
struct SessionDeleter {
  void operator()(fuse_session* se) const { fuse_session_destroy(se); }
};
// Unmounts on scope exit (lazily when busy, as root).
struct MountDeleter {
  void operator()(fuse_session* se) const { fuse_session_unmount(se); }
};

// fuse_opt treats ',' as a separator and '\' as an escape.
std::string EscapeOpt(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == ',' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

Status CheckMountpoint(const std::string& mp) {
  struct stat st;
  if (::stat(mp.c_str(), &st) != 0) return ErrnoError(errno, fmt::format("Mount point \"{}\"", mp));
  if (!S_ISDIR(st.st_mode))
    return FailedPreconditionError(fmt::format("Mount point \"{}\" is not a directory", mp));
  auto entries = sys::ListDirectory(mp);
  if (!entries.ok())
    return Status(entries.status().code(),
                  fmt::format("Mount point: {}", entries.status().message()));
  if (!entries->empty())
    return FailedPreconditionError(fmt::format("Mount point \"{}\" is not empty", mp));
  return Status::OK();
}

Result<std::unique_ptr<fuse_args, ArgsDeleter>> MakeArgs(const std::string& volname,
                                                         const MountOptions& o) {
  std::unique_ptr<fuse_args, ArgsDeleter> args(new fuse_args(FUSE_ARGS_INIT(0, nullptr)));
  // nosuid, nodev: a backup's setuid files and device nodes must not become
  // usable on the host through the mount (libfuse's default, said outright).
  std::string opts =
      "ro,nosuid,nodev,default_permissions,subtype=ctdump,fsname=" + EscapeOpt("ctdump:" + volname);
  if (o.allow_other) opts += ",allow_other";
  for (const std::string& a : {std::string("ctdump"), std::string("-o"), opts}) {
    if (fuse_opt_add_arg(args.get(), a.c_str()) != 0) return InternalError("out of memory");
  }
  if (o.debug && fuse_opt_add_arg(args.get(), "-d") != 0) return InternalError("out of memory");
  return args;
}

// Serves requests until the file system is unmounted (OK) or a signal
// arrives (OK; the caller unmounts).
Status Serve(fuse_session* se, const std::string& what, Observer* observer) {
  const int fd = fuse_session_fd(se);
  // Non-blocking: a request withdrawn between poll and read must not leave
  // us blocked in read, deaf to signals.
  if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
    return ErrnoError(errno, "Failed to set up the FUSE device of " + what);
  const int interrupt_fd = sys::InterruptFd();
  std::unique_ptr<fuse_buf, void (*)(fuse_buf*)> buf(new fuse_buf{}, [](fuse_buf* b) {
    std::free(b->mem);
    delete b;
  });
  for (;;) {
    if (fuse_session_exited(se)) return Status::OK();
    if (int sig = sys::InterruptSignal(); sig != 0) {
      if (observer)
        observer->Log(LogLevel::kInfo, fmt::format("Signal {} received: unmounting {}", sig, what));
      return Status::OK();
    }
    pollfd pfds[2] = {{fd, POLLIN, 0}, {interrupt_fd, POLLIN, 0}};
    if (::poll(pfds, interrupt_fd >= 0 ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "Failed to wait for the FUSE device of " + what);
    }
    if (pfds[0].revents == 0) continue;
    int n = fuse_session_receive_buf(se, buf.get());
    if (n == -EINTR || n == -EAGAIN) continue;
    if (n < 0) return ErrnoError(-n, "Failed to read from the FUSE device of " + what);
    if (n == 0) return Status::OK();  // unmounted
    fuse_session_process_buf(se, buf.get());
  }
}

}  // namespace

Status ReadFileRange(datastore::SnapshotReader& reader, const Entry& e, uint64_t offset,
                     uint64_t length, std::string* out) {
  out->clear();
  if (offset >= e.size) return Status::OK();
  length = std::min(length, e.size - offset);
  const uint64_t stream = reader.data().size();
  if (e.data_length > stream || e.data_offset > stream - e.data_length) return BadRegions();
  if (e.sparse.empty()) {
    if (e.data_length != e.size) return BadRegions();
    out->resize(length);
    return reader.data().Read(e.data_offset + offset, length, CopyTo(out, 0));
  }
  out->assign(length, '\0');
  const uint64_t end = offset + length;
  uint64_t stored = 0;  // stored bytes before the current region
  uint64_t prev_end = 0;
  for (auto [roff, rlen] : e.sparse) {
    if (roff < prev_end || rlen > e.size || roff > e.size - rlen) return BadRegions();
    if (rlen > e.data_length - stored) return BadRegions();
    if (roff >= end) break;
    uint64_t lo = std::max(roff, offset), hi = std::min(roff + rlen, end);
    if (lo < hi)
      RETURN_IF_ERROR(reader.data().Read(e.data_offset + stored + (lo - roff), hi - lo,
                                         CopyTo(out, lo - offset)));
    stored += rlen;
    prev_end = roff + rlen;
  }
  return Status::OK();
}

Status MountSnapshot(datastore::SnapshotReader& reader, const std::string& mountpoint,
                     const MountOptions& o, Observer* observer) {
  if (!o.foreground)
    return FailedPreconditionError(
        "ctdump mount serves in the foreground only (start it in the background from the shell "
        "or as a service)");
  RETURN_IF_ERROR(CheckMountpoint(mountpoint));
  sys::InstallInterruptHandlers();
  RETURN_IF_ERROR(sys::CheckInterrupted());
  const std::string what = fmt::format("backup '{}' on \"{}\"", reader.volname(), mountpoint);
  Fs fs{SnapshotTree(), &reader, observer, std::string()};
  ASSIGN_OR_RETURN(fs.tree, BuildTree(reader, observer));

  LogRedirect log(observer);
  ASSIGN_OR_RETURN(auto args, MakeArgs(reader.volname(), o));
  const fuse_lowlevel_ops ops = MakeOps();
  std::unique_ptr<fuse_session, SessionDeleter> se(
      fuse_session_new(args.get(), &ops, sizeof(ops), &fs));
  if (!se)
    return InternalError(
        fmt::format("Failed to set up the FUSE session for {}: {}", what,
                    g_last_fuse_error.empty() ? "bad options" : g_last_fuse_error));
  if (fuse_session_mount(se.get(), mountpoint.c_str()) != 0)
    return FailedPreconditionError(
        fmt::format("Failed to mount {}: {}", what,
                    g_last_fuse_error.empty() ? "see the messages above" : g_last_fuse_error));
  std::unique_ptr<fuse_session, MountDeleter> mounted(se.get());
  if (observer)
    observer->Log(LogLevel::kInfo,
                  fmt::format("Mounted {} read-only ({} entries); unmount with 'umount {}'", what,
                              fs.tree.size(), mountpoint));
  Status s = Serve(se.get(), what, observer);
  mounted.reset();
  if (s.ok() && observer) observer->Log(LogLevel::kInfo, "Unmounted " + what);
  return s;
}

}  // namespace ctdump::fuse
