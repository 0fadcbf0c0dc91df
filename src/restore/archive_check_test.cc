#include "restore/archive_check.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "sys/file.h"

namespace ctdump::restore {
namespace {

namespace fs = std::filesystem;

// Archives made by GNU tar and the compressor programs vzdump uses.
class CheckTarFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/ctdump-archive-check-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ + "/tree/etc/vzdump");
    ASSERT_TRUE(
        sys::WriteFileAtomic(dir_ + "/tree/etc/vzdump/pct.conf", "arch: amd64\n", 0644).ok());
    // Incompressible data: a flipped byte lands in stored data that decodes
    // fine, so only a checksum can notice it.
    std::mt19937 rng(3);
    std::string data;
    for (int i = 0; i < 400000; ++i) data += static_cast<char>(rng() & 0xff);
    ASSERT_TRUE(sys::WriteFileAtomic(dir_ + "/tree/data", data, 0644).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Make(const std::string& name, const std::string& compressor) {
    std::string path = dir_ + "/" + name;
    std::string cmd = "tar -C " + dir_ + "/tree -cf - ./etc/vzdump/pct.conf ./data";
    if (!compressor.empty()) cmd += " | " + compressor;
    EXPECT_EQ(std::system((cmd + " > " + path).c_str()), 0) << cmd;
    return path;
  }

  static void FlipByteAt(const std::string& path, double where) {
    auto bytes = sys::ReadFile(path);
    ASSERT_TRUE(bytes.ok());
    std::string b = *bytes;
    b[static_cast<size_t>(static_cast<double>(b.size()) * where)] ^= 0x01;
    ASSERT_TRUE(sys::WriteFileAtomic(path, b, 0644).ok());
  }

  std::string dir_;
};

struct Format {
  const char* suffix;
  const char* compressor;
};
const Format kFormats[] = {{".tar", ""},
                           {".tar.zst", "zstd -q -c"},
                           {".tar.gz", "gzip -c"},
                           {".tar.bz2", "bzip2 -c"},
                           {".tar.lzo", "lzop -c"}};

TEST_F(CheckTarFileTest, IntactArchivesOfEveryCompressionPass) {
  for (const auto& f : kFormats) {
    auto check = CheckTarFile(Make(std::string("a") + f.suffix, f.compressor));
    ASSERT_TRUE(check.ok()) << f.suffix << ": " << check.status().message();
    EXPECT_EQ(check->entries, 2u) << f.suffix;
    EXPECT_EQ(check->data_bytes, 400000u + 12u) << f.suffix;
  }
}

TEST_F(CheckTarFileTest, AFlippedByteIsFoundInEveryCompression) {
  for (const auto& f : kFormats) {
    if (std::string(f.suffix) == ".tar") continue;  // plain tar has no data checksum
    std::string path = Make(std::string("b") + f.suffix, f.compressor);
    FlipByteAt(path, 0.5);
    auto check = CheckTarFile(path);
    ASSERT_FALSE(check.ok()) << f.suffix << " passed with a flipped byte";
    EXPECT_EQ(check.status().code(), Code::kDataLoss) << check.status().message();
    EXPECT_NE(check.status().message().find(path), std::string::npos) << check.status().message();
  }
}

TEST_F(CheckTarFileTest, DamageInTheLastFrameAfterTheTarEndIsFound) {
  // zstd's checksum ends the frame, after the tar stream's zero blocks.
  std::string path = Make("c.tar.zst", "zstd -q -c");
  auto bytes = sys::ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  std::string b = *bytes;
  b[b.size() - 2] ^= 0x01;  // inside the 4-byte content checksum
  ASSERT_TRUE(sys::WriteFileAtomic(path, b, 0644).ok());
  EXPECT_FALSE(CheckTarFile(path).ok());
}

TEST_F(CheckTarFileTest, TruncatedArchivesFail) {
  for (const auto& f : kFormats) {
    std::string path = Make(std::string("d") + f.suffix, f.compressor);
    ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(fs::file_size(path) / 2)), 0);
    auto check = CheckTarFile(path);
    EXPECT_FALSE(check.ok()) << f.suffix << " passed truncated";
  }
}

TEST_F(CheckTarFileTest, NotAnArchiveFifoOrDeviceFailsWithoutHanging) {
  std::string fifo = dir_ + "/fifo.tar.zst";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto c = CheckTarFile(fifo);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("not a regular file"), std::string::npos);
  std::string zero = dir_ + "/zero.tar.zst";
  ASSERT_EQ(::symlink("/dev/zero", zero.c_str()), 0);
  EXPECT_FALSE(CheckTarFile(zero).ok());
  std::string empty = dir_ + "/empty.tar";
  ASSERT_TRUE(sys::WriteFileAtomic(empty, "", 0644).ok());
  EXPECT_FALSE(CheckTarFile(empty).ok());
  std::string junk = dir_ + "/junk.tar";
  ASSERT_TRUE(sys::WriteFileAtomic(junk, std::string(10000, 'x'), 0644).ok());
  EXPECT_FALSE(CheckTarFile(junk).ok());
}

// An old-GNU sparse member with 200,000 extension blocks of empty regions:
// 100 MB of tar, a few hundred KB compressed, and libarchive keeps every
// region in memory.
TEST_F(CheckTarFileTest, SparseMapBombFailsInsideTheMemoryLimit) {
  std::string path = dir_ + "/bomb.tar.zst";
  std::string gen = dir_ + "/gen.py";
  ASSERT_TRUE(sys::WriteFileAtomic(gen, R"(import sys
def hdr(name, typ, size=0, extra=b''):
    b = bytearray(512); b[0:len(name)] = name
    b[100:108] = b'0000644\0'; b[108:116] = b'0000000\0'; b[116:124] = b'0000000\0'
    b[124:136] = b'%011o\0' % size; b[136:148] = b'00000000000\0'; b[156:157] = typ
    b[257:265] = b'ustar  \0'; b[386:386 + len(extra)] = extra
    b[148:156] = b' ' * 8; b[148:156] = b'%06o\0 ' % sum(b); return bytes(b)
out = sys.stdout.buffer
conf = b'arch: amd64\n'
out.write(hdr(b'./etc/vzdump/pct.conf', b'0', len(conf)))
out.write(conf + bytes(512 - len(conf)))
entry = b'00000000000\0' * 2
out.write(hdr(b'./root/oldsparse', b'S', 0, entry * 4 + b'\1' + b'00000000000\0'))
ext = entry * 21 + b'\1' + bytes(7)
for i in range(200000): out.write(ext)
out.write(entry * 21 + bytes(8)); out.write(bytes(1024))
)",
                                   0644)
                  .ok());
  ASSERT_EQ(std::system(("python3 " + gen + " | zstd -q -c > " + path).c_str()), 0);
  // Without the limit this verifies as intact at about 200 MB.
  auto check = CheckTarFile(path, uint64_t{64} << 20);
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.status().code(), Code::kDataLoss) << check.status().message();
  EXPECT_NE(check.status().message().find("needed more than 64 MiB"), std::string::npos)
      << check.status().message();
}

TEST_F(CheckTarFileTest, MembersTheRestoreRefusesAreDamage) {
  for (const char* evil : {"abs", "dotdot", "link"}) {
    std::string path = dir_ + "/" + evil + ".tar";
    std::string script =
        std::string("import tarfile, io\n") + "t = tarfile.open('" + path + "', 'w')\n" +
        "i = tarfile.TarInfo('./etc/vzdump/pct.conf'); i.size = 3\n" +
        "t.addfile(i, io.BytesIO(b'a:b'))\n" +
        (std::string(evil) == "abs"      ? "i = tarfile.TarInfo('/etc/x')\n"
         : std::string(evil) == "dotdot" ? "i = tarfile.TarInfo('./a/../../x')\n"
                                         : "i = tarfile.TarInfo('./root/shadow'); i.type = "
                                           "tarfile.LNKTYPE; i.linkname = '/etc/shadow'\n") +
        "t.addfile(i, io.BytesIO(b''))\nt.close()\n";
    ASSERT_TRUE(sys::WriteFileAtomic(dir_ + "/mk.py", script, 0644).ok());
    ASSERT_EQ(std::system(("python3 " + dir_ + "/mk.py").c_str()), 0);
    auto check = CheckTarFile(path);
    ASSERT_FALSE(check.ok()) << evil;
    EXPECT_NE(check.status().message().find("refusing entry"), std::string::npos)
        << check.status().message();
  }
}

}  // namespace
}  // namespace ctdump::restore
