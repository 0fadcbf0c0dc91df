// The two entry points: check the inputs as host root, start the child in
// the target's user namespace (extract_child.h), and feed it
// (child_session.h) from a tar file or a directory walk (dir_stream.h).
#include "extract/extract.h"

#include <archive.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "archive/archive_handle.h"
#include "extract/child_session.h"
#include "extract/dir_stream.h"
#include "extract/extract_child.h"
#include "extract/tar_reader.h"
#include "extract/tar_source.h"
#include "sys/file.h"
#include "sys/signals.h"
#include "userns/userns.h"

namespace ctdump::extract {
namespace {

constexpr size_t kFeedBlock = 256 * 1024;

// The target root must be a directory; the child checks it enters the same.
Result<ChildConfig> PrepareChild(const std::string& archive_name, const std::string& root,
                                 const IdMap& map, const ExtractOptions& options) {
  struct stat st;
  if (::stat(root.c_str(), &st) != 0)
    return ErrnoError(errno, fmt::format("Failed to access target root '{}'", root));
  if (!S_ISDIR(st.st_mode)) return InvalidArgumentError(fmt::format("not a directory '{}'", root));
  if (!map.HostUid(options.fallback_uid) || !map.HostGid(options.fallback_gid)) {
    return InvalidArgumentError(
        fmt::format("fallback owner {}:{} is not representable in the target's ID map ({})",
                    options.fallback_uid, options.fallback_gid, map.ToString()));
  }
  ChildConfig c;
  c.archive = archive_name;
  c.root = root;
  c.root_dev = st.st_dev;
  c.root_ino = st.st_ino;
  c.map = map;
  c.options = options;
  // Missing or unreadable databases only mean that named-only ACL entries
  // cannot be resolved (they are then dropped and reported).
  if (auto users = sys::ReadFile("/etc/passwd"); users.ok()) c.host_users = ParseIdDatabase(*users);
  if (auto groups = sys::ReadFile("/etc/group"); groups.ok())
    c.host_groups = ParseIdDatabase(*groups);
  return c;
}

Result<sys::Subprocess> StartChild(const ChildConfig& config) {
  sys::SpawnOptions o;
  o.argv = {"ctdump-extract"};
  o.pipe_stdin = true;
  o.pipe_stderr = true;
  auto proc =
      userns::ForkAsContainerRoot(config.map, o, [&config]() { return RunExtractChild(config); });
  if (!proc.ok()) return proc.status().WithContext(fmt::format("extracting '{}'", config.archive));
  return proc;
}

Status CheckUntrustedFile(int fd, const std::string& path, Observer* observer) {
  if (observer) observer->Log(LogLevel::kInfo, "checking archive..");
  ASSIGN_OR_RETURN(auto source, OpenTarSource(fd, path));
  archive::ReadHandle a(archive_read_new());
  if (!a) return InternalError("out of memory creating a libarchive reader");
  SupportTarInput(a.get());
  if (OpenArchiveOn(a.get(), source.get()) != ARCHIVE_OK) {
    const char* why = archive_error_string(a.get());
    return DataLossError(fmt::format("Failed to read '{}': {}", path, why ? why : "unknown error"));
  }
  const int signals_before = sys::InterruptCount();
  auto cancelled = [&]() -> Status {
    if (sys::InterruptCount() == signals_before) return Status::OK();
    return CancelledError(fmt::format("checking '{}': interrupted by signal", path));
  };
  return CheckUntrustedArchive(a.get(), path, cancelled);
}

// lzop archives reach the child decompressed (tar_source.h); the others as
// they are, decoded by libarchive in the child.
Status FeedFile(int fd, const std::string& path, ChildSession& session) {
  ASSIGN_OR_RETURN(auto source, OpenTarSource(fd, path));
  std::unique_ptr<char[]> buf(new char[kFeedBlock]);
  while (!session.closed()) {
    ASSIGN_OR_RETURN(size_t n, source->Read(buf.get(), kFeedBlock));
    if (n == 0) break;
    RETURN_IF_ERROR(session.Write(buf.get(), n));
  }
  return Status::OK();
}

}  // namespace

Result<ExtractStats> ExtractTarFile(const std::string& tar_path, const std::string& root,
                                    const IdMap& map, const ExtractOptions& options,
                                    Observer* observer) {
  // O_NONBLOCK: opening a FIFO must not hang; it is refused right below.
  sys::UniqueFd fd(::open(tar_path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to open '{}'", tar_path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0)
    return ErrnoError(errno, fmt::format("Failed to stat '{}'", tar_path));
  if (!S_ISREG(st.st_mode))
    return InvalidArgumentError(fmt::format("not a regular file '{}'", tar_path));
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  if (options.untrusted && (map.empty() || map.root_uid() == 0 || map.root_gid() == 0))
    return PermissionDeniedError(
        "refusing to restore privileged container backup from external source");
  ASSIGN_OR_RETURN(ChildConfig config, PrepareChild(tar_path, root, map, options));
  if (options.untrusted) RETURN_IF_ERROR(CheckUntrustedFile(fd.get(), tar_path, observer));

  ASSIGN_OR_RETURN(sys::Subprocess proc, StartChild(config));
  ChildSession session(std::move(proc), fmt::format("'{}'", tar_path), options.bwlimit,
                       static_cast<uint64_t>(st.st_size), observer);
  RETURN_IF_ERROR(FeedFile(fd.get(), tar_path, session));
  return session.Finish();
}

Result<ExtractStats> CopyDirectory(const std::string& source_dir, const std::string& root,
                                   const IdMap& map, const ExtractOptions& options,
                                   Observer* observer) {
  // The walk below is physical: a symlink as the source would be copied as
  // one symlink (0 entries, "success"), whatever it points to.
  sys::UniqueFd dir(::open(source_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) {
    const int err = errno;
    struct stat st;
    if (err == ELOOP ||
        (err == ENOTDIR && ::lstat(source_dir.c_str(), &st) == 0 && S_ISLNK(st.st_mode)))
      return InvalidArgumentError(fmt::format(
          "restore directory '{}' is a symbolic link: refusing it (the provider must name the "
          "directory itself)",
          source_dir));
    if (err == ENOTDIR || err == ENOENT)
      return InvalidArgumentError(fmt::format("not a directory '{}'", source_dir));
    return ErrnoError(err, fmt::format("Failed to open restore directory '{}'", source_dir));
  }
  // Nor may a symlink higher up the path lead elsewhere ("<link>/."): the
  // provider names the directory by its real path, and never the host's root.
  char real[PATH_MAX];
  if (!::realpath(source_dir.c_str(), real))
    return ErrnoError(errno, fmt::format("Failed to resolve restore directory '{}'", source_dir));
  std::string given = std::filesystem::path(source_dir).lexically_normal().string();
  while (given.size() > 1 && given.back() == '/') given.pop_back();
  if (given != real)
    return InvalidArgumentError(fmt::format(
        "restore directory '{}' leads to '{}' through a symbolic link: refusing it (the provider "
        "must name the directory by its real path)",
        source_dir, real));
  if (std::string_view(real) == "/")
    return InvalidArgumentError("restore directory '/' is the host's root directory: refusing it");
  ASSIGN_OR_RETURN(ChildConfig config, PrepareChild(source_dir, root, map, options));
  ASSIGN_OR_RETURN(sys::Subprocess proc, StartChild(config));
  ChildSession session(std::move(proc), fmt::format("'{}'", source_dir), options.bwlimit,
                       std::nullopt, observer, options.logical_total);
  StreamSink sink{[&session](const void* d, size_t n) { return session.Write(d, n); },
                  [&session]() { return session.closed(); }};
  RETURN_IF_ERROR(StreamDirectory(source_dir, sink, observer));
  return session.Finish();
}

Result<ExtractStats> ExtractStream(
    const std::string& what,
    const std::function<Status(const std::function<Status(const void*, size_t)>& write,
                               const std::function<bool()>& closed)>& produce,
    const std::string& root, const IdMap& map, const ExtractOptions& options, Observer* observer) {
  ASSIGN_OR_RETURN(ChildConfig config, PrepareChild(what, root, map, options));
  ASSIGN_OR_RETURN(sys::Subprocess proc, StartChild(config));
  ChildSession session(std::move(proc), fmt::format("'{}'", what), options.bwlimit, std::nullopt,
                       observer, options.logical_total);
  Status s = produce([&session](const void* d, size_t n) { return session.Write(d, n); },
                     [&session]() { return session.closed(); });
  const bool child_stopped = session.closed();
  auto stats = session.Finish();
  // A producer that failed on its own explains the failure (the child then
  // saw a cut-off stream); a child that stopped reading explains it itself.
  if (!s.ok() && !child_stopped) return s;
  if (!stats.ok()) return stats.status();
  RETURN_IF_ERROR(s);
  return stats;
}

}  // namespace ctdump::extract
