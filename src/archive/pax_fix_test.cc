// Unit tests (label unit): the pax corrections of pax_fix.h, byte by byte on
// libarchive's output and through GNU tar.
#include "archive/pax_fix.h"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "archive/archive_handle.h"
#include "sys/file.h"
#include "sys/subprocess.h"

namespace ctdump::archive {
namespace {

TEST(PaxTimeTest, ParsesDecimalNumbersAsPosixDefinesThem) {
  struct Case {
    const char* text;
    int64_t sec;
    long nsec;
  } cases[] = {
      {"0", 0, 0},
      {"12", 12, 0},
      {"1.5", 1, 500000000},
      {"1796398325.839877162", 1796398325, 839877162},
      {"-3", -3, 0},
      {"-0.75", -1, 250000000},
      {"-631151999.75", -631152000, 250000000},
      {"-1.000000001", -2, 999999999},
      {"2.1234567899", 2, 123456789},  // beyond nanoseconds: dropped
  };
  for (const auto& c : cases) {
    auto t = ParsePaxTime(c.text);
    ASSERT_TRUE(t.has_value()) << c.text;
    EXPECT_EQ(t->sec, c.sec) << c.text;
    EXPECT_EQ(t->nsec, c.nsec) << c.text;
  }
  for (const char* bad : {"", "-", "1.", ".5", "a", "1.2x", "--1", "1e5", "- 1"})
    EXPECT_FALSE(ParsePaxTime(bad).has_value()) << bad;
}

TEST(PaxTimeTest, LibarchiveTimesBecomeTheirDecimalValue) {
  std::map<std::string, std::string> cases = {
      {"-1.25", "-0.75"},  // -1 s + 0.25 s
      {"-631152000.25", "-631151999.75"},
      {"-10.5", "-9.5"},
      {"-1.05", "-0.95"},
      {"-1.000000001", "-0.999999999"},
      {"-5", "-5"},      // no fraction: the same
      {"5.25", "5.25"},  // after 1970: the same
      {"1796398325.839877162", "1796398325.839877162"},
      {"-x.5", "-x.5"},  // not a time: left alone
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(PaxTimeFromLibarchive(in), want) << in;
  // Each result read as POSIX says is the time libarchive meant.
  auto t = ParsePaxTime(PaxTimeFromLibarchive("-631152000.25"));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->sec, -631152000);
  EXPECT_EQ(t->nsec, 250000000);
}

TEST(XattrKeywordTest, GnuTarCodingOfPercentAndEquals) {
  EXPECT_EQ(EncodeXattrKeyword("user.pct%41"), "user.pct%2541");
  EXPECT_EQ(EncodeXattrKeyword("user.eq=x"), "user.eq%3Dx");
  EXPECT_EQ(EncodeXattrKeyword("user.name with space"), "user.name with space");
  EXPECT_EQ(DecodeXattrKeyword("user.pct%2541"), "user.pct%41");
  EXPECT_EQ(DecodeXattrKeyword("user.eq%3Dx"), "user.eq=x");
  EXPECT_EQ(DecodeXattrKeyword("user.a%20b"), "user.a%20b");  // GNU tar decodes only those two
  EXPECT_EQ(DecodeXattrKeyword("%25%3D%2"), "%=%2");
  EXPECT_EQ(UrlDecode("user.name%20with%20space"), "user.name with space");
  EXPECT_EQ(UrlDecode("user.pct%2541%3d%zz%4"), "user.pct%41=%zz%4");
}

TEST(PaxRecordsTest, RoundTripWithCorrectLengths) {
  std::vector<PaxRecord> records = {{"mtime", "-0.75"},
                                    {"path", std::string(92, 'p')},
                                    {"SCHILY.xattr.user.a b", std::string("v\0=\n", 4)}};
  std::string body = FormatPaxRecords(records);
  EXPECT_TRUE(body.starts_with("15 mtime=-0.75\n")) << body;
  // 1 + 4 + 1 + 92 + 1 = 99 bytes of payload: the length has 3 digits.
  EXPECT_NE(body.find("102 path=" + std::string(92, 'p') + "\n"), std::string::npos) << body;
  auto parsed = ParsePaxRecords(body);
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->size(), 3u);
  EXPECT_EQ((*parsed)[2].value, std::string("v\0=\n", 4));
  for (const char* bad : {"5 a=b", "15 mtime=-0.75", "x a=b\n", "6 =bc\n", "99 a=b\n"})
    EXPECT_FALSE(ParsePaxRecords(bad).has_value()) << bad;
}

TEST(TarHeaderTest, ChecksumAndSize) {
  std::string block(kTarBlock, '\0');
  std::memcpy(block.data() + 124, "00000001750 ", 12);
  SetTarChecksum(block.data());
  EXPECT_TRUE(TarChecksumOk(block));
  EXPECT_EQ(TarHeaderSize(block), 01750u);
  block[0] = 'x';
  EXPECT_FALSE(TarChecksumOk(block));
  block[124] = static_cast<char>(0x80);  // base-256
  std::memset(block.data() + 125, 0, 11);
  block[134] = 1;
  block[135] = 2;
  EXPECT_EQ(TarHeaderSize(block), 0x102u);
}

// libarchive's pax writer through a PaxWriterFixer (as the tree writer and
// the datastore's tar export use it) into a string.
class FixedPaxWriter {
 public:
  FixedPaxWriter()
      : fixer_([this](const char* d, size_t n) {
          out_.append(d, n);
          return Status::OK();
        }) {
    a_.reset(archive_write_new());
    archive_write_set_format_pax(a_.get());
    archive_write_set_format_option(a_.get(), "pax", "xattrheader", "SCHILY");
    archive_write_set_bytes_per_block(a_.get(), 0);
    archive_write_open2(a_.get(), this, nullptr, Write, nullptr, nullptr);
  }

  void Add(archive_entry* e, const std::string& data = "") {
    fixer_.BeginHeader(HeaderPerm(e));
    ASSERT_EQ(archive_write_header(a_.get(), e), ARCHIVE_OK) << archive_error_string(a_.get());
    ASSERT_TRUE(fixer_.EndHeader().ok());
    if (data.empty()) return;
    ASSERT_EQ(archive_write_data(a_.get(), data.data(), data.size()),
              static_cast<la_ssize_t>(data.size()));
  }

  std::string Finish() {
    EXPECT_EQ(archive_write_close(a_.get()), ARCHIVE_OK);
    EXPECT_TRUE(fixer_.Flush().ok());
    return out_;
  }

 private:
  static la_ssize_t Write(struct archive*, void* client, const void* buf, size_t n) {
    auto* self = static_cast<FixedPaxWriter*>(client);
    return self->fixer_.Write(static_cast<const char*>(buf), n).ok() ? static_cast<la_ssize_t>(n)
                                                                     : -1;
  }

  std::string out_;
  PaxWriterFixer fixer_;
  WriteHandle a_;
};

EntryHandle File(const std::string& name, mode_t perm, size_t size) {
  EntryHandle e(archive_entry_new());
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), perm);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
  archive_entry_set_mtime(e.get(), 1700000000, 5);
  return e;
}

// The ustar header block of the member named `name` (its mode field etc.).
std::string UstarHeader(const std::string& tar, const std::string& name) {
  for (size_t pos = 0; pos + kTarBlock <= tar.size(); pos += kTarBlock) {
    std::string_view b(tar.data() + pos, kTarBlock);
    if (b[156] != 'x' && b.substr(0, name.size() + 1) == name + std::string(1, '\0') &&
        TarChecksumOk(b))
      return std::string(b);
  }
  return "";
}

class PaxWriterFixerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ctdump-paxfix-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  // GNU tar extracts `tar` (as vzdump's restore does); returns the directory.
  std::string GnuExtract(const std::string& tar) {
    std::string file = dir_ + "/a.tar", dest = dir_ + "/x";
    std::ofstream(file, std::ios::binary) << tar;
    EXPECT_EQ(::mkdir(dest.c_str(), 0755), 0);
    sys::SpawnOptions o;
    o.argv = {"tar",
              "--numeric-owner",
              "-p",
              "--xattrs",
              "--xattrs-include=user.*",
              "--acls",
              "-xf",
              file,
              "-C",
              dest};
    auto r = sys::RunCommand(o);
    EXPECT_TRUE(r.ok() && sys::ExitedOk(r->wait_status)) << (r.ok() ? r->output : "");
    // GNU tar warns about every time before 1970 ("implausibly old time
    // stamp"); anything else (a bad header, an xattr it cannot set) fails.
    std::string other;
    std::istringstream lines(r.ok() ? r->output : "");
    for (std::string line; std::getline(lines, line);)
      if (line.find("implausibly old time stamp") == std::string::npos) other += line + "\n";
    EXPECT_EQ(other, "");
    return dest;
  }

  std::string dir_;
};

TEST_F(PaxWriterFixerTest, TimesXattrNamesAndAclModeAsGnuTarWritesThem) {
  FixedPaxWriter w;
  auto a = File("./a", 0664, 3);
  archive_entry_set_mtime(a.get(), -1, 250000000);  // -0.75 s
  archive_entry_set_atime(a.get(), -631152000, 250000000);
  archive_entry_xattr_add_entry(a.get(), "user.name with space", "1", 1);
  archive_entry_xattr_add_entry(a.get(), "user.pct%41", "2", 1);
  archive_entry_xattr_add_entry(a.get(), "user.eq=x", "3", 1);
  std::string big(1500, 'v');  // the extended header spans blocks
  archive_entry_xattr_add_entry(a.get(), "user.big", big.data(), big.size());
  // The mask (rw-) is the file's group bits; group:: is r--.
  ASSERT_EQ(archive_entry_acl_from_text(a.get(), "user::rw-,group::r--,mask::rw-,other::r--",
                                        ARCHIVE_ENTRY_ACL_TYPE_ACCESS),
            ARCHIVE_OK);
  EXPECT_EQ(archive_entry_perm(a.get()), 0644u);  // libarchive's single mode
  EXPECT_EQ(HeaderPerm(a.get()), 0664u);
  w.Add(a.get(), "abc");  // 3 bytes: the next header follows padding
  auto b = File("./b", 0640, 1);
  archive_entry_set_mtime(b.get(), -10, 500000000);  // -9.5 s
  w.Add(b.get(), "z");
  std::string tar = w.Finish();

  EXPECT_NE(tar.find("15 mtime=-0.75\n"), std::string::npos);
  EXPECT_NE(tar.find("23 atime=-631151999.75\n"), std::string::npos);
  EXPECT_NE(tar.find("14 mtime=-9.5\n"), std::string::npos);
  EXPECT_EQ(tar.find("-1.25"), std::string::npos);
  EXPECT_NE(tar.find(" SCHILY.xattr.user.name with space=1\n"), std::string::npos);
  EXPECT_NE(tar.find(" SCHILY.xattr.user.pct%2541=2\n"), std::string::npos);
  EXPECT_NE(tar.find(" SCHILY.xattr.user.eq%3Dx=3\n"), std::string::npos);
  size_t acl = tar.find("SCHILY.acl.access=");
  ASSERT_NE(acl, std::string::npos);
  std::string acl_text = tar.substr(acl, tar.find('\n', acl) - acl);
  EXPECT_NE(acl_text.find("group::r--"), std::string::npos) << acl_text;
  EXPECT_NE(acl_text.find("mask::rw-"), std::string::npos) << acl_text;
  std::string h = UstarHeader(tar, "./a");
  ASSERT_FALSE(h.empty());
  EXPECT_EQ(h.substr(100, 6), "000664");
  EXPECT_EQ(UstarHeader(tar, "./b").substr(100, 6), "000640");

  std::string dest = GnuExtract(tar);
  struct stat st;
  ASSERT_EQ(::lstat((dest + "/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, -1);
  EXPECT_EQ(st.st_mtim.tv_nsec, 250000000);
  EXPECT_EQ(st.st_mode & 07777, 0664u);
  auto data = sys::ReadFile(dest + "/a");
  EXPECT_TRUE(data.ok() && *data == "abc");
  for (const char* name : {"user.name with space", "user.pct%41", "user.eq=x", "user.big"})
    EXPECT_GT(::lgetxattr((dest + "/a").c_str(), name, nullptr, 0), 0) << name;
  ASSERT_EQ(::lstat((dest + "/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, -10);
  EXPECT_EQ(st.st_mtim.tv_nsec, 500000000);
}

TEST_F(PaxWriterFixerTest, OutputIsCoalescedAndComplete) {
  std::vector<size_t> pieces;
  std::string out;
  PaxWriterFixer f([&](const char* d, size_t n) {
    pieces.push_back(n);
    out.append(d, n);
    return Status::OK();
  });
  std::string small(100, 's'), large(PaxWriterFixer::kCoalesce, 'l');
  for (int i = 0; i < 700; ++i) ASSERT_TRUE(f.Write(small.data(), small.size()).ok());
  ASSERT_TRUE(f.Write(large.data(), large.size()).ok());
  ASSERT_TRUE(f.Write(small.data(), small.size()).ok());
  ASSERT_TRUE(f.Flush().ok());
  EXPECT_EQ(out, std::string(70000, 's') + large + small);
  for (size_t i = 0; i + 1 < pieces.size(); ++i) EXPECT_GE(pieces[i], 100u);
  EXPECT_LE(pieces.size(), 4u);
  EXPECT_EQ(f.bytes_out(), out.size());
}

TEST_F(PaxWriterFixerTest, AHeaderWindowThatIsNoHeaderIsAnError) {
  PaxWriterFixer f([](const char*, size_t) { return Status::OK(); });
  f.BeginHeader(std::nullopt);
  std::string junk(kTarBlock, 'j');
  ASSERT_TRUE(f.Write(junk.data(), junk.size()).ok());
  Status s = f.EndHeader();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("header"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace ctdump::archive
