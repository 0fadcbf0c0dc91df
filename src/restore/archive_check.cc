#include "restore/archive_check.h"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <vector>

#include "extract/dir_stream.h"
#include "extract/entry_check.h"
#include "extract/tar_reader.h"
#include "extract/tar_source.h"
#include "sys/file.h"
#include "sys/signals.h"
#include "sys/subprocess.h"

namespace ctdump::restore {
namespace {

struct ReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

Status Damaged(const std::string& path, archive* a) {
  const char* why = archive_error_string(a);
  return DataLossError(fmt::format("\"{}\" is damaged: {}", path, why ? why : "unknown error"));
}

// libarchive's gzip reader does not check the CRC-32 and length of gzip's
// trailers; zlib does, member by member (pigz and concatenations write several).
Status CheckGzipTrailers(int fd, const std::string& path) {
  unsigned char magic[2];
  if (::pread(fd, magic, 2, 0) != 2 || magic[0] != 0x1f || magic[1] != 0x8b) return Status::OK();
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return InternalError("zlib: cannot initialize");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&z, inflateEnd);
  std::vector<unsigned char> in(256 * 1024), out(256 * 1024);
  off_t offset = 0;
  int r = Z_OK;
  for (;;) {
    ssize_t n = ::pread(fd, in.data(), in.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, fmt::format("Failed to read \"{}\"", path));
    if (n == 0) break;
    offset += n;
    z.next_in = in.data();
    z.avail_in = static_cast<uInt>(n);
    while (z.avail_in > 0) {
      z.next_out = out.data();
      z.avail_out = static_cast<uInt>(out.size());
      r = inflate(&z, Z_NO_FLUSH);
      if (r == Z_STREAM_END) {
        // Another member may follow; zeros after the last one are padding.
        if (std::all_of(z.next_in, z.next_in + z.avail_in, [](unsigned char c) { return c == 0; }))
          break;
        inflateReset(&z);
        continue;
      }
      if (r != Z_OK && r != Z_BUF_ERROR)
        return DataLossError(
            fmt::format("\"{}\" is damaged: gzip: {}", path, z.msg ? z.msg : "invalid data"));
    }
  }
  if (r != Z_STREAM_END)
    return DataLossError(fmt::format("\"{}\" is damaged: gzip: unexpected end of file", path));
  return Status::OK();
}

Result<ArchiveCheck> CheckDirectory(const std::string& dir, Observer* observer) {
  ArchiveCheck check;
  const int signals_before = sys::InterruptCount();
  bool cancelled = false;
  extract::StreamSink sink{[&](const void*, size_t n) -> Status {
                             check.read_bytes += n;
                             if (sys::InterruptCount() != signals_before) cancelled = true;
                             return Status::OK();
                           },
                           [&]() { return cancelled; }};
  extract::DirStreamStats stats;
  RETURN_IF_ERROR(extract::StreamDirectory(dir, sink, observer, &stats));
  if (cancelled) return CancelledError(fmt::format("verifying \"{}\": interrupted by signal", dir));
  check.entries = stats.entries;
  check.data_bytes = stats.data_bytes;
  return check;
}

}  // namespace

// Two readers: `raw` decompresses the whole file (so the checksums at the
// end of the compressed stream are checked even after the tar stream's
// end-of-archive marker); `tar` parses what `raw` yields. Every member name
// and hardlink target must pass the rules the restore applies.
Result<ArchiveCheck> CheckTarFileHere(const std::string& path) {
  ASSIGN_OR_RETURN(sys::UniqueFd fd, sys::OpenRegularFile(path));
  ASSIGN_OR_RETURN(auto source, extract::OpenTarSource(fd.get(), path));
  std::unique_ptr<archive, ReadFree> raw(archive_read_new()), tar(archive_read_new());
  if (!raw || !tar) return InternalError("out of memory creating a libarchive reader");
  extract::SupportTarFilters(raw.get());
  archive_read_support_format_raw(raw.get());
  archive_entry* e = nullptr;
  if (extract::OpenArchiveOn(raw.get(), source.get()) != ARCHIVE_OK ||
      archive_read_next_header(raw.get(), &e) != ARCHIVE_OK)
    return Damaged(path, raw.get());
  archive_read_support_format_tar(tar.get());
  struct Chain {
    archive* raw;
    char buf[65536];
  } chain{raw.get(), {}};
  auto read = [](archive* a, void* data, const void** out) -> la_ssize_t {
    auto* c = static_cast<Chain*>(data);
    *out = c->buf;
    la_ssize_t n = archive_read_data(c->raw, c->buf, sizeof(c->buf));
    if (n < 0) archive_set_error(a, EIO, "%s", archive_error_string(c->raw));
    return n;
  };
  if (archive_read_open(tar.get(), &chain, nullptr, read, nullptr) != ARCHIVE_OK)
    return Damaged(path, tar.get());
  ArchiveCheck check;
  const int signals_before = sys::InterruptCount();
  for (;;) {
    if (sys::InterruptCount() != signals_before)
      return CancelledError(fmt::format("verifying \"{}\": interrupted by signal", path));
    int r = archive_read_next_header(tar.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return Damaged(path, tar.get());
    const char* name = archive_entry_pathname(e);
    auto normalized = extract::NormalizeEntryName(name ? name : "");
    if (!normalized.ok())
      return DataLossError(
          extract::RefusalMessage(name ? name : "", path, normalized.status().message()));
    if (const char* target = archive_entry_hardlink(e)) {
      auto t = extract::NormalizeHardlinkTarget(target);
      if (!t.ok()) return DataLossError(extract::RefusalMessage(name, path, t.status().message()));
    }
    ++check.entries;
    const void* block;
    size_t size;
    la_int64_t offset;
    while ((r = archive_read_data_block(tar.get(), &block, &size, &offset)) == ARCHIVE_OK)
      check.data_bytes += size;
    if (r != ARCHIVE_EOF) return Damaged(path, tar.get());
  }
  if (check.entries == 0)
    return DataLossError(fmt::format("\"{}\" is damaged: it holds no files", path));
  for (;;) {
    la_ssize_t n = archive_read_data(raw.get(), chain.buf, sizeof(chain.buf));
    if (n < 0) return Damaged(path, raw.get());
    if (n == 0) break;
  }
  check.read_bytes = static_cast<uint64_t>(archive_filter_bytes(raw.get(), -1));
  RETURN_IF_ERROR(CheckGzipTrailers(fd.get(), path));
  return check;
}

// The check runs in a child under an address-space limit, as the restore's
// extraction does: a crafted archive (a sparse map of millions of entries in
// a few KB) cannot make verify take the host's memory. The child reports
// "OK <entries> <data> <read>" or "<code> <message>" on its stdout.
Result<ArchiveCheck> CheckTarFile(const std::string& path, uint64_t memory_limit) {
  const rlim_t limit_bytes = static_cast<rlim_t>(memory_limit);
  sys::SpawnOptions o;
  o.argv = {"ctdump-verify"};
  o.pipe_stdout = o.pipe_stderr = true;
  o.cwd = "/";
  sys::SpawnHooks hooks;
  hooks.run = [&path, limit_bytes]() {
    struct rlimit limit = {limit_bytes, limit_bytes};
    ::setrlimit(RLIMIT_AS, &limit);
    auto check = CheckTarFileHere(path);
    std::string line = check.ok() ? fmt::format("OK {} {} {}", check->entries, check->data_bytes,
                                                check->read_bytes)
                                  : fmt::format("{} {}", static_cast<int>(check.status().code()),
                                                check.status().message());
    return sys::WriteAll(1, line, "the check's result").ok() ? 0 : 1;
  };
  ASSIGN_OR_RETURN(sys::Subprocess child, sys::Spawn(o, &hooks));
  std::string out, err;  // the result line; what libarchive may print before it exits
  const int signals_before = sys::InterruptCount();
  while (child.stdout_fd().valid() || child.stderr_fd().valid()) {
    pollfd fds[3] = {{child.stdout_fd().get(), POLLIN, 0},
                     {child.stderr_fd().get(), POLLIN, 0},
                     {sys::InterruptFd(), POLLIN, 0}};
    if (::poll(fds, 3, 1000) < 0 && errno != EINTR) return ErrnoError(errno, "poll");
    if (sys::InterruptCount() != signals_before)
      return CancelledError(fmt::format("verifying \"{}\": interrupted by signal", path));
    for (int i = 0; i < 2; ++i) {
      if (!fds[i].revents) continue;
      sys::UniqueFd& fd = i == 0 ? child.stdout_fd() : child.stderr_fd();
      std::string& into = i == 0 ? out : err;
      char buf[4096];
      ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fd.Reset();
      } else if (into.size() < 65536) {
        into.append(buf, static_cast<size_t>(n));
      }
    }
  }
  ASSIGN_OR_RETURN(int st, child.Wait());
  ArchiveCheck check;
  if (std::sscanf(out.c_str(), "OK %" SCNu64 " %" SCNu64 " %" SCNu64, &check.entries,
                  &check.data_bytes, &check.read_bytes) == 3)
    return check;
  const std::string limit_note =
      fmt::format(" (reading it needed more than {} MiB: crafted or damaged?)", memory_limit >> 20);
  int code = 0;
  auto [p, ec] = std::from_chars(out.data(), out.data() + out.size(), code);
  if (ec == std::errc() && code > 0 && code <= static_cast<int>(Code::kIOError) &&
      p < out.data() + out.size()) {
    std::string msg(p + 1, static_cast<const char*>(out.data() + out.size()));
    if (msg.find("allocate") != std::string::npos || msg.find("memory") != std::string::npos)
      msg += limit_note;
    return Status(static_cast<Code>(code), msg);
  }
  // libarchive ends the process itself when an allocation fails in places
  // ("Fatal Internal Error in libarchive: Out of memory").
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
  const bool memory = err.find("memory") != std::string::npos;
  return DataLossError(fmt::format("verifying \"{}\" failed: the check {}{}{}", path,
                                   sys::DescribeWaitStatus(st), err.empty() ? "" : ": " + err,
                                   memory ? limit_note : " (crafted or damaged archive?)"));
}

Result<ArchiveCheck> CheckBackup(Provider& provider, const std::string& volname,
                                 Observer* observer) {
  ASSIGN_OR_RETURN(RestoreMechanism mechanism, provider.RestoreGetMechanism(volname));
  // A restore needs it: a backup whose config cannot be read is damaged.
  RETURN_IF_ERROR(provider.ArchiveGetGuestConfig(volname).status());
  ASSIGN_OR_RETURN(std::string path, provider.RestoreContainerInit(volname, mechanism));
  Result<ArchiveCheck> check =
      mechanism == RestoreMechanism::kTar ? CheckTarFile(path) : CheckDirectory(path, observer);
  Status cleanup = provider.RestoreContainerCleanup(volname);
  if (check.ok() && !cleanup.ok()) return cleanup;
  return check;
}

}  // namespace ctdump::restore
