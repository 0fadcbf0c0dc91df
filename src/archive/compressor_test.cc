#include "archive/compressor.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "sys/file.h"
#include "sys/unique_fd.h"

namespace ctdump::archive {
namespace {

namespace fs = std::filesystem;

class CompressorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/ctdump-compressor-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // Compressible and incompressible parts, larger than one zstd block.
    std::mt19937 rng(7);
    for (int i = 0; i < 300000; ++i) data_ += static_cast<char>(rng() & 0xff);
    for (int i = 0; i < 20000; ++i) data_ += "line of a config file\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Compress(Compression c, const std::string& name, int threads = 1) {
    std::string path = dir_ + "/" + name;
    sys::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    EXPECT_TRUE(fd.valid());
    CompressorOptions o;
    o.zstd_threads = threads;
    auto w = MakeCompressor(c, fd.get(), o);
    EXPECT_TRUE(w.ok()) << w.status().message();
    if (!w.ok()) return path;
    // Uneven pieces, as the worker relay hands them over.
    for (size_t pos = 0; pos < data_.size();) {
      size_t n = std::min<size_t>(data_.size() - pos, 1 + (pos * 7919) % 70000);
      EXPECT_TRUE((*w)->Write(std::string_view(data_).substr(pos, n)).ok());
      pos += n;
    }
    Status s = (*w)->Finish();
    EXPECT_TRUE(s.ok()) << s.message();
    return path;
  }

  // Runs `cmd` (with the file's path appended) and returns its stdout.
  std::string Run(const std::string& cmd, int* code) {
    std::string out_path = dir_ + "/out";
    *code = std::system((cmd + " > " + out_path + " 2>" + dir_ + "/err").c_str());
    auto out = sys::ReadFile(out_path);
    return out.ok() ? *out : "";
  }

  std::string dir_;
  std::string data_;
};

TEST_F(CompressorTest, ZstdFramesCarryAChecksumAndDecompressWithTheCli) {
  for (int threads : {1, 2}) {
    std::string path = Compress(Compression::kZstd, "a.tar.zst", threads);
    auto bytes = sys::ReadFile(path);
    ASSERT_TRUE(bytes.ok());
    // RFC 8878 3.1.1.1.1: the frame header descriptor follows the 4-byte
    // magic; bit 2 is Content_Checksum_flag.
    ASSERT_GT(bytes->size(), 5u);
    EXPECT_EQ(bytes->substr(0, 4), std::string("\x28\xb5\x2f\xfd", 4));
    EXPECT_TRUE(static_cast<unsigned char>((*bytes)[4]) & 0x04) << "threads " << threads;
    int code;
    EXPECT_EQ(Run("zstd -q -d -c " + path, &code), data_);
    EXPECT_EQ(code, 0);
  }
}

TEST_F(CompressorTest, ZstdChecksumCatchesADamagedFrame) {
  // Stored (incompressible) data: a flipped bit decodes, only the checksum sees it.
  std::string path = Compress(Compression::kZstd, "b.tar.zst");
  auto bytes = sys::ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  std::string damaged = *bytes;
  damaged[1000] ^= 0x10;
  ASSERT_TRUE(sys::WriteFileAtomic(path, damaged, 0600).ok());
  int code;
  Run("zstd -q -t " + path, &code);
  EXPECT_NE(code, 0);
}

TEST_F(CompressorTest, GzipRoundTripWithTrailer) {
  std::string path = Compress(Compression::kGzip, "c.tar.gz");
  int code;
  EXPECT_EQ(Run("gzip -d -c " + path, &code), data_);
  EXPECT_EQ(code, 0);
  Run("gzip -t " + path, &code);
  EXPECT_EQ(code, 0);
}

TEST_F(CompressorTest, LzoIsWhatLzopReads) {
  if (::access("/usr/bin/lzop", X_OK) != 0) GTEST_SKIP() << "lzop is not installed";
  std::string path = Compress(Compression::kLzo, "d.tar.lzo");
  int code;
  EXPECT_EQ(Run("lzop -d -c " + path, &code), data_);
  EXPECT_EQ(code, 0);
}

TEST_F(CompressorTest, NonePassesThrough) {
  std::string path = Compress(Compression::kNone, "e.tar");
  EXPECT_EQ(*sys::ReadFile(path), data_);
}

TEST_F(CompressorTest, WriteErrorNamesTheOutput) {
  sys::UniqueFd fd(::open("/dev/full", O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  CompressorOptions o;
  o.what = "\"x.tar.zst\"";
  auto w = MakeCompressor(Compression::kZstd, fd.get(), o);
  ASSERT_TRUE(w.ok());
  Status s = (*w)->Write(data_);
  if (s.ok()) s = (*w)->Finish();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("x.tar.zst"), std::string::npos) << s.message();
}

TEST_F(CompressorTest, ZstdToASinkInBoundedPieces) {
  std::string out;
  size_t pieces = 0, largest = 0;
  auto w = MakeZstdCompressor(
      [&](std::string_view d) {
        out.append(d);
        ++pieces;
        largest = std::max(largest, d.size());
        return Status::OK();
      },
      CompressorOptions{});
  ASSERT_TRUE(w.ok()) << w.status().message();
  ASSERT_TRUE((*w)->Write(data_).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  EXPECT_GT(pieces, 1u);
  EXPECT_LE(largest, 129u * 1024);  // ZSTD_CStreamOutSize(): a block and its headers
  std::string path = dir_ + "/sink.zst";
  ASSERT_TRUE(sys::WriteFileAtomic(path, out, 0600).ok());
  int code;
  EXPECT_EQ(Run("zstd -q -d -c " + path, &code), data_);
  EXPECT_EQ(code, 0);
}

TEST_F(CompressorTest, ZstdSinkErrorEndsTheStream) {
  auto w = MakeZstdCompressor(
      [](std::string_view) { return CancelledError("the client went away"); }, CompressorOptions{});
  ASSERT_TRUE(w.ok());
  Status s = (*w)->Write(data_);
  if (s.ok()) s = (*w)->Finish();
  EXPECT_EQ(s.code(), Code::kCancelled) << s.message();
}

TEST(ParseCompressionTest, VzdumpValues) {
  EXPECT_EQ(*ParseCompression("1"), Compression::kLzo);  // vzdump: compress 1 = lzo
  EXPECT_EQ(*ParseCompression("lzo"), Compression::kLzo);
  EXPECT_EQ(*ParseCompression("zstd"), Compression::kZstd);
  EXPECT_EQ(*ParseCompression("gzip"), Compression::kGzip);
  EXPECT_EQ(*ParseCompression("0"), Compression::kNone);
  EXPECT_FALSE(ParseCompression("bzip2").ok());
  EXPECT_STREQ(ArchiveSuffix(Compression::kLzo), ".tar.lzo");
}

}  // namespace
}  // namespace ctdump::archive
