#include "archive/compressor.h"

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "sys/file.h"
#include "sys/subprocess.h"

namespace ctdump::archive {
namespace {

constexpr const char* kLzop = "/usr/bin/lzop";

class PlainWriter : public Compressor {
 public:
  PlainWriter(int fd, std::string what) : fd_(fd), what_(std::move(what)) {}
  Status Write(std::string_view data) override { return sys::WriteAll(fd_, data, what_); }
  Status Finish() override { return Status::OK(); }

 private:
  int fd_;
  std::string what_;
};

struct CctxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};

class ZstdWriter : public Compressor {
 public:
  ZstdWriter(int fd, const CompressorOptions& o)
      : out_fn_([fd, what = o.what](std::string_view d) { return sys::WriteAll(fd, d, what); }),
        what_(o.what) {}
  ZstdWriter(std::function<Status(std::string_view)> out, const CompressorOptions& o)
      : out_fn_(std::move(out)), what_(o.what) {}

  Status Init(const CompressorOptions& o) {
    cctx_.reset(ZSTD_createCCtx());
    if (!cctx_) return InternalError("zstd: out of memory");
    RETURN_IF_ERROR(
        Check(ZSTD_CCtx_setParameter(cctx_.get(), ZSTD_c_compressionLevel, o.zstd_level)));
    RETURN_IF_ERROR(Check(ZSTD_CCtx_setParameter(cctx_.get(), ZSTD_c_checksumFlag, 1)));
    int threads = ResolveZstdThreads(o.zstd_threads);
    // One thread compresses inline (as `zstd -T1`); more run as zstd's workers.
    if (threads > 1)
      RETURN_IF_ERROR(Check(ZSTD_CCtx_setParameter(cctx_.get(), ZSTD_c_nbWorkers, threads)));
    out_.resize(ZSTD_CStreamOutSize());
    return Status::OK();
  }

  Status Write(std::string_view data) override {
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    while (in.pos < in.size) RETURN_IF_ERROR(Step(&in, ZSTD_e_continue).status());
    return Status::OK();
  }

  Status Finish() override {
    ZSTD_inBuffer in{nullptr, 0, 0};
    for (;;) {
      ASSIGN_OR_RETURN(size_t left, Step(&in, ZSTD_e_end));
      if (left == 0) return Status::OK();
    }
  }

 private:
  Result<size_t> Step(ZSTD_inBuffer* in, ZSTD_EndDirective mode) {
    ZSTD_outBuffer out{out_.data(), out_.size(), 0};
    size_t r = ZSTD_compressStream2(cctx_.get(), &out, in, mode);
    RETURN_IF_ERROR(Check(r));
    if (out.pos > 0) RETURN_IF_ERROR(out_fn_(std::string_view(out_.data(), out.pos)));
    return r;
  }

  Status Check(size_t r) const {
    if (!ZSTD_isError(r)) return Status::OK();
    return InternalError(
        fmt::format("zstd compression of {} failed: {}", what_, ZSTD_getErrorName(r)));
  }

  std::function<Status(std::string_view)> out_fn_;
  std::string what_;
  std::unique_ptr<ZSTD_CCtx, CctxDeleter> cctx_;
  std::vector<char> out_;
};

class GzipWriter : public Compressor {
 public:
  GzipWriter(int fd, const CompressorOptions& o) : fd_(fd), what_(o.what) {}
  ~GzipWriter() override {
    if (initialized_) deflateEnd(&z_);
  }

  Status Init(int level) {
    // windowBits 15 + 16: a gzip header and CRC-32 trailer, as gzip(1) writes.
    if (deflateInit2(&z_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      return InternalError("zlib: cannot initialize gzip compression");
    initialized_ = true;
    out_.resize(256 * 1024);
    return Status::OK();
  }

  Status Write(std::string_view data) override {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z_.avail_in = static_cast<uInt>(data.size());
    while (z_.avail_in > 0) RETURN_IF_ERROR(Step(Z_NO_FLUSH).status());
    return Status::OK();
  }

  Status Finish() override {
    z_.next_in = nullptr;
    z_.avail_in = 0;
    for (;;) {
      ASSIGN_OR_RETURN(int r, Step(Z_FINISH));
      if (r == Z_STREAM_END) return Status::OK();
    }
  }

 private:
  Result<int> Step(int flush) {
    z_.next_out = reinterpret_cast<Bytef*>(out_.data());
    z_.avail_out = static_cast<uInt>(out_.size());
    int r = deflate(&z_, flush);
    if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR)
      return InternalError(fmt::format("gzip compression of {} failed (zlib error {})", what_, r));
    size_t n = out_.size() - z_.avail_out;
    RETURN_IF_ERROR(sys::WriteAll(fd_, std::string_view(out_.data(), n), what_));
    return r;
  }

  int fd_;
  std::string what_;
  z_stream z_{};
  bool initialized_ = false;
  std::vector<char> out_;
};

// lzop reads the tar stream on a pipe and writes the .lzo file itself.
class LzopWriter : public Compressor {
 public:
  explicit LzopWriter(const CompressorOptions& o) : what_(o.what) {}

  Status Start(int out_fd) {
    if (::access(kLzop, X_OK) != 0)
      return FailedPreconditionError(
          "compression 'lzo' needs lzop (apt-get install lzop), or choose zstd or gzip");
    sys::SpawnOptions so;
    so.argv = {kLzop, "-c", "-q"};
    so.pipe_stdin = true;
    so.pipe_stderr = true;
    sys::SpawnHooks hooks;
    hooks.child = [out_fd](const char** stage) -> int {
      *stage = "dup2 lzop output";
      return ::dup2(out_fd, 1) < 0 ? errno : 0;
    };
    ASSIGN_OR_RETURN(proc_, sys::Spawn(so, &hooks));
    return Status::OK();
  }

  Status Write(std::string_view data) override {
    Status s = sys::WriteAll(proc_.stdin_fd().get(), data, "to lzop");
    if (!s.ok()) return Failed(s);
    return Status::OK();
  }

  Status Finish() override {
    proc_.stdin_fd().Reset();
    std::string err = DrainStderr();
    ASSIGN_OR_RETURN(int st, proc_.Wait());
    if (!sys::ExitedOk(st))
      return IOError(fmt::format("lzop compressing {} {}{}", what_, sys::DescribeWaitStatus(st),
                                 err.empty() ? "" : ": " + err));
    return Status::OK();
  }

 private:
  // A write to a dead lzop fails with EPIPE: its own message says why.
  Status Failed(const Status& s) {
    proc_.stdin_fd().Reset();
    std::string err = DrainStderr();
    proc_.KillAndReap();
    return IOError(fmt::format("lzop compressing {} failed{}", what_,
                               err.empty() ? ": " + s.message() : ": " + err));
  }

  std::string DrainStderr() {
    std::string err;
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(proc_.stderr_fd().get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (err.size() < 4096) err.append(buf, static_cast<size_t>(n));
    }
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return err;
  }

  std::string what_;
  sys::Subprocess proc_;
};

}  // namespace

int ResolveZstdThreads(int threads) {
  if (threads > 0) return threads;
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  return static_cast<int>(std::max(1L, (cpus + 1) / 2));  // vzdump: half the cores
}

Result<std::unique_ptr<Compressor>> MakeCompressor(Compression c, int out_fd,
                                                   const CompressorOptions& options) {
  switch (c) {
    case Compression::kNone:
      return std::unique_ptr<Compressor>(new PlainWriter(out_fd, options.what));
    case Compression::kZstd: {
      auto w = std::make_unique<ZstdWriter>(out_fd, options);
      RETURN_IF_ERROR(w->Init(options));
      return std::unique_ptr<Compressor>(std::move(w));
    }
    case Compression::kGzip: {
      auto w = std::make_unique<GzipWriter>(out_fd, options);
      RETURN_IF_ERROR(w->Init(options.gzip_level));
      return std::unique_ptr<Compressor>(std::move(w));
    }
    case Compression::kLzo: {
      auto w = std::make_unique<LzopWriter>(options);
      RETURN_IF_ERROR(w->Start(out_fd));
      return std::unique_ptr<Compressor>(std::move(w));
    }
  }
  return InvalidArgumentError("unknown compression");
}

Result<std::unique_ptr<Compressor>> MakeZstdCompressor(std::function<Status(std::string_view)> out,
                                                       const CompressorOptions& options) {
  auto w = std::make_unique<ZstdWriter>(std::move(out), options);
  RETURN_IF_ERROR(w->Init(options));
  return std::unique_ptr<Compressor>(std::move(w));
}

}  // namespace ctdump::archive
