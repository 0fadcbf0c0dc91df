// File restore of datastore snapshots: the path handling (base64,
// normalization, hostile inputs) and the two routes, called through a real
// api::Router with a recording sink, on a datastore holding a snapshot
// written by the real writer.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <variant>

#include "api/router.h"
#include "base/base64.h"
#include "crypt/crypt.h"
#include "datastore/datastore_test_util.h"
#include "server/file_path.h"
#include "server/route_test_util.h"
#include "server/routes.h"
#include "sys/file.h"

namespace ctdump::server {
namespace {

using json = nlohmann::json;

constexpr int64_t kSnapshotTime = 1705096802;

std::string B64(std::string_view s) { return Base64Encode(s); }

SnapshotPath Parsed(std::string_view filepath) {
  auto r = ParseFilepath(filepath);
  if (auto* e = std::get_if<api::ApiError>(&r)) {
    ADD_FAILURE() << filepath << ": " << e->message;
    return {};
  }
  return std::get<SnapshotPath>(r);
}

// The 400 on `filepath`; its message is valid JSON text (no client bytes).
std::string Refused(std::string_view filepath) {
  auto r = ParseFilepath(filepath);
  auto* e = std::get_if<api::ApiError>(&r);
  if (!e) {
    ADD_FAILURE() << filepath << " accepted as " << std::get<SnapshotPath>(r).path;
    return "";
  }
  EXPECT_EQ(e->status, 400);
  EXPECT_TRUE(e->errors.count("filepath")) << e->message;
  EXPECT_NO_THROW((void)json(e->message).dump());
  return e->message;
}

TEST(ParseFilepathTest, ArchiveLevel) {
  EXPECT_TRUE(Parsed("/").archives);
  EXPECT_TRUE(Parsed(B64("/")).archives);
  EXPECT_TRUE(Parsed(B64("//")).archives);
}

TEST(ParseFilepathTest, InsideTheArchive) {
  EXPECT_FALSE(Parsed(B64("/root.pxar.didx")).archives);
  EXPECT_EQ(Parsed(B64("/root.pxar.didx")).path, "");
  EXPECT_EQ(Parsed(B64("root.pxar.didx/")).path, "");
  EXPECT_EQ(Parsed(B64("/root.pxar.didx/etc/hosts")).path, "etc/hosts");
  EXPECT_EQ(Parsed(B64("root.pxar.didx//etc/./hosts/")).path, "etc/hosts");
  // Padding optional.
  std::string bare = Base64Encode("/root.pxar.didx/a", false);
  EXPECT_EQ(Parsed(bare).path, "a");
  // Names are bytes: kept exactly.
  EXPECT_EQ(Parsed(B64("/root.pxar.didx/bad\xff\xfe/x y")).path, "bad\xff\xfe/x y");
}

TEST(ParseFilepathTest, HostileInputsAre400) {
  Refused(B64("/root.pxar.didx/../etc/shadow"));
  Refused(B64("/root.pxar.didx/etc/.."));
  Refused(B64("/root.pxar.didx/a/../../.."));
  Refused(B64("root.pxar.didx/.."));
  Refused(B64("/../root.pxar.didx"));
  Refused(B64("/etc/shadow"));             // absolute host path: not the archive
  Refused(B64("/root.pxar.didxfoo/etc"));  // not the archive either
  Refused(B64("/other.pxar.didx/etc"));
  Refused(B64(std::string("/root.pxar.didx/etc\0/x", 22)));
  Refused(B64(std::string("/root.pxar.didx\0", 16)));
  // Not (strict) base64.
  Refused("..");
  Refused("../../etc/passwd");
  Refused("%2e%2e");
  Refused("/etc/shadow");
  Refused("L3Jvb3QucHhhci5kaWR4 ");
  Refused("L3Jvb3QucHhhci5kaWR4\n");
  Refused("L3Jvb3QucHhhci5kaWR4===");
  Refused("L3Jvb3Qu-Hhhci5kaWR4");  // URL alphabet
  Refused(std::string("L3Jvb3Qu\0HhhcikaWR4", 20));
  Refused("\xff\xfe");
}

TEST(ParseFilepathTest, LengthLimit) {
  std::string path = "/root.pxar.didx/";
  path += std::string(kMaxFilepathBytes - path.size(), 'a');
  EXPECT_EQ(Parsed(B64(path)).path.size(), kMaxFilepathBytes - 16);
  Refused(B64(path + "a"));
  Refused(std::string(kMaxFilepathParam + 4, 'A'));
}

TEST(ParseFilepathTest, EncodeIsTheInverse) {
  for (std::string p : {"", "etc", "etc/hosts", "bad\xff/\x01name"}) {
    SnapshotPath back = Parsed(EncodeFilepath(p));
    EXPECT_FALSE(back.archives);
    EXPECT_EQ(back.path, p);
  }
  EXPECT_EQ(EncodeFilepath(""), "L3Jvb3QucHhhci5kaWR4");  // PVE's example
}

TEST(FileNamesTest, TypeLetters) {
  EXPECT_EQ(EntryTypeLetter(S_IFDIR | 0755, false), 'd');
  EXPECT_EQ(EntryTypeLetter(S_IFREG | 0644, false), 'f');
  EXPECT_EQ(EntryTypeLetter(S_IFREG | 0644, true), 'h');
  EXPECT_EQ(EntryTypeLetter(S_IFLNK | 0777, false), 'l');
  EXPECT_EQ(EntryTypeLetter(S_IFBLK, false), 'b');
  EXPECT_EQ(EntryTypeLetter(S_IFCHR, false), 'c');
  EXPECT_EQ(EntryTypeLetter(S_IFIFO, false), 'p');
  EXPECT_EQ(EntryTypeLetter(S_IFSOCK, false), 's');
}

TEST(FileNamesTest, ContentDisposition) {
  EXPECT_EQ(ContentDisposition("hosts"), "attachment; filename=\"hosts\"; filename*=UTF-8''hosts");
  EXPECT_EQ(ContentDisposition("a\"b\\c%d\r\ne"),
            "attachment; filename=\"a_b_c_d__e\"; filename*=UTF-8''a%22b%5Cc%25d%0D%0Ae");
  EXPECT_EQ(ContentDisposition("caf\xc3\xa9 x.txt"),
            "attachment; filename=\"caf__ x.txt\"; filename*=UTF-8''caf%C3%A9%20x.txt");
  // Invalid UTF-8: U+FFFD in filename*.
  EXPECT_EQ(ContentDisposition("a\xff"),
            "attachment; filename=\"a_\"; filename*=UTF-8''a%EF%BF%BD");
  EXPECT_EQ(ContentDisposition(""), "attachment; filename=\"download\"; filename*=UTF-8''");
}

// --- the routes ---

using testing::Answer;

class FileRoutesTest : public testing::RouteTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(MakeRoot("/tmp/ctdump-routes-files."));
    ctx_.node = "n1";
    for (const char* d : {"/etc", "/store", "/ds"}) ASSERT_TRUE(sys::MakeDirs(root_ + d).ok());
    ASSERT_TRUE(sys::WriteFileAtomic(root_ + "/etc/storage.cfg",
                                     "dir: local\n\tpath " + root_ +
                                         "/store\n\ndatastore: ds\n\tpath " + root_ + "/ds\n")
                    .ok());
    ASSERT_NO_FATAL_FAILURE(MakeRouter(FileRoutes(ctx_)));
    volname_ = AddSnapshot();
  }

  std::string AddSnapshot() {
    datastore::testing::TreeBuilder t;
    t.Dir("")
        .Dir("etc")
        .File("etc/hostname", "web\n")
        .Symlink("etc/shadow-link", "/etc/shadow")
        .Hardlink("etc/hostname-hard", "etc/hostname")
        .Special("etc/fifo", S_IFIFO | 0600)
        .File(std::string("etc/bad\xff"), "bytes")
        .Dir("etc/sub")
        .File("etc/sub/big", datastore::testing::RandomBytes(300000, 7));
    big_ = datastore::testing::RandomBytes(300000, 7);
    return AddSnapshot(t, kSnapshotTime);
  }

  std::string AddSnapshot(datastore::testing::TreeBuilder& t, int64_t time,
                          std::optional<crypt::Key> key = std::nullopt) {
    return testing::WriteSnapshot(root_ + "/ds", t, time, std::move(key)).volname;
  }

  Answer Call(const std::string& what, std::map<std::string, std::string> q,
              const std::string& user = "root@pam", const std::string& storage = "ds") {
    std::string query;
    for (auto& [k, v] : q) {
      if (!query.empty()) query += "&";
      query += k + "=";
      for (unsigned char c : v) query += fmt::format("%{:02X}", c);
    }
    std::string path = "/nodes/n1/storage/" + storage + "/file-restore/" + what;
    return testing::CallRoute(*router_, "GET", path, query, {user, ""});
  }

  Answer List(const std::string& filepath, const std::string& user = "root@pam") {
    return Call("list", {{"volume", "ds:backup/" + volname_}, {"filepath", filepath}}, user);
  }
  Answer Get(const std::string& filepath, bool tar = false) {
    std::map<std::string, std::string> q = {{"volume", volname_}, {"filepath", filepath}};
    if (tar) q["tar"] = "1";
    return Call("download", q);
  }
  static std::string In(const std::string& p) { return EncodeFilepath(p); }

  std::string volname_, big_;
};

TEST_F(FileRoutesTest, ArchiveLevel) {
  Answer a = List("/");
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["data"], json::parse(R"([{"filepath":"L3Jvb3QucHhhci5kaWR4",
      "text":"root.pxar.didx","type":"d","leaf":0}])"));
}

TEST_F(FileRoutesTest, ListsADirectoryWithPveTypes) {
  Answer a = List(In(""));
  ASSERT_EQ(a.status, 200) << a.body.dump();
  ASSERT_EQ(a.body["data"].size(), 1u);
  EXPECT_EQ(a.body["data"][0]["text"], "etc");
  EXPECT_EQ(a.body["data"][0]["type"], "d");
  EXPECT_EQ(a.body["data"][0]["leaf"], 0);

  a = List(In("etc"));
  ASSERT_EQ(a.status, 200) << a.body.dump();
  std::map<std::string, json> by_name;
  for (const json& e : a.body["data"]) by_name[e["text"].get<std::string>()] = e;
  ASSERT_EQ(by_name.size(), 6u) << a.body.dump();
  EXPECT_EQ(by_name["hostname"]["type"], "f");
  EXPECT_EQ(by_name["hostname"]["size"], 4);
  EXPECT_TRUE(by_name["hostname"].contains("mtime"));
  EXPECT_EQ(by_name["hostname"]["leaf"], 1);
  EXPECT_EQ(by_name["hostname"]["filepath"], In("etc/hostname"));
  EXPECT_EQ(by_name["shadow-link"]["type"], "l");  // listed, not followed
  EXPECT_FALSE(by_name["shadow-link"].contains("size"));
  EXPECT_EQ(by_name["hostname-hard"]["type"], "h");
  EXPECT_EQ(by_name["fifo"]["type"], "p");
  EXPECT_EQ(by_name["sub"]["type"], "d");
  // Not UTF-8: U+FFFD in text, the exact bytes in filepath.
  ASSERT_TRUE(by_name.count("bad\xef\xbf\xbd"));
  EXPECT_EQ(by_name["bad\xef\xbf\xbd"]["filepath"], In("etc/bad\xff"));
  EXPECT_EQ(Get(by_name["bad\xef\xbf\xbd"]["filepath"].get<std::string>()).bytes, "bytes");
}

TEST_F(FileRoutesTest, ListErrors) {
  EXPECT_EQ(List(In("nope")).status, 400);
  EXPECT_EQ(List(In("etc/hostname")).status, 400);  // not a directory
  EXPECT_EQ(List(B64("/root.pxar.didx/etc/../..")).status, 400);
  EXPECT_EQ(List("..").status, 400);
}

TEST_F(FileRoutesTest, DownloadsAFileRaw) {
  Answer a = Get(In("etc/sub/big"));
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_TRUE(a.end.ok()) << a.end.ToString();
  EXPECT_EQ(a.head.content_type, "application/octet-stream");
  EXPECT_EQ(a.head.content_length, big_.size());
  EXPECT_TRUE(a.bytes == big_);
  ASSERT_EQ(a.head.headers.size(), 1u);
  EXPECT_EQ(a.head.headers[0].second, "attachment; filename=\"big\"; filename*=UTF-8''big");
  // A hardlink: its target's data.
  a = Get(In("etc/hostname-hard"));
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.bytes, "web\n");
}

TEST_F(FileRoutesTest, DownloadRefusals) {
  Answer a = Get(In("etc"));
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.body["message"], "directories are downloaded as .tar.zst: pass tar=1\n");
  a = Get(In("etc/hostname"), true);
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.body["message"], "cannot extract single files as archive\n");
  EXPECT_EQ(Get(In("etc/shadow-link")).status, 400);  // a symlink is not followed
  EXPECT_EQ(Get(In("etc/fifo")).status, 400);
  EXPECT_EQ(Get(In("etc/nope")).status, 400);
  EXPECT_EQ(Get("/").status, 400);
}

TEST_F(FileRoutesTest, DownloadsADirectoryAsTarZst) {
  Answer a = Get(In("etc"), true);
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_TRUE(a.end.ok()) << a.end.ToString();
  EXPECT_FALSE(a.head.content_length);  // chunked
  EXPECT_EQ(a.head.headers[0].second,
            "attachment; filename=\"etc.tar.zst\"; filename*=UTF-8''etc.tar.zst");
  std::string file = root_ + "/etc.tar.zst";
  ASSERT_TRUE(sys::WriteFileAtomic(file, a.bytes).ok());
  std::string listing;
  FILE* p = ::popen(("zstd -dc '" + file + "' | tar -tvf -").c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) listing.append(buf, n);
  EXPECT_EQ(::pclose(p), 0) << listing;
  EXPECT_NE(listing.find("./etc/sub/big"), std::string::npos) << listing;
  EXPECT_NE(listing.find("./etc/shadow-link -> /etc/shadow"), std::string::npos) << listing;
  EXPECT_EQ(listing.find("lxc.uts"), std::string::npos);
  // The root: named after the snapshot.
  a = Get(In(""), true);
  ASSERT_EQ(a.status, 200);
  EXPECT_NE(a.head.headers[0].second.find("ct-100-"), std::string::npos);
}

TEST_F(FileRoutesTest, StorageAndVolumeChecks) {
  std::map<std::string, std::string> q = {{"volume", volname_}, {"filepath", "/"}};
  Answer a = Call("list", q, "root@pam", "local");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.body["message"], "storage 'local' is not a datastore\n");
  EXPECT_EQ(Call("list", q, "root@pam", "nope").status, 400);
  for (const std::string& v :
       std::vector<std::string>{"ct/../x", "../../etc", "ct/100/../../../etc", "local:" + volname_,
                                "ds:../../etc/shadow", "ct/100/2024-01-12T22:00:02Z", "ct/100",
                                std::string("ct/100/\0x", 9), ""}) {
    q["volume"] = v;
    Answer r = Call("list", q);
    EXPECT_EQ(r.status, 400) << v << " " << r.body.dump();
  }
}

TEST_F(FileRoutesTest, Permissions) {
  EXPECT_EQ(List("/", "u@pve").status, 403);
  grants_.insert("u@pve /storage/ds Datastore.AllocateSpace");
  EXPECT_EQ(List("/", "u@pve").status, 403);
  grants_.insert("u@pve /vms/100 VM.Backup");
  EXPECT_EQ(List(In("etc"), "u@pve").status, 200);
  grants_.clear();
  grants_.insert("u@pve /storage/ds Datastore.Allocate");
  EXPECT_EQ(List(In("etc"), "u@pve").status, 200);
}

TEST_F(FileRoutesTest, EncryptedSnapshotsUseTheStorageKeyAndNeverPrompt) {
  crypt::Key key = datastore::testing::TestKey(3);
  datastore::testing::TreeBuilder t;
  t.Dir("").File("secret", "s3cret\n");
  volname_ = AddSnapshot(t, kSnapshotTime + 120, key);
  auto config = [&](const std::string& key_file) {
    ASSERT_TRUE(sys::WriteFileAtomic(
                    root_ + "/etc/storage.cfg",
                    "datastore: ds\n\tpath " + root_ + "/ds\n\tencryption-key " + key_file + "\n")
                    .ok());
  };
  // The storage's key, which needs no passphrase.
  ASSERT_TRUE(key.SaveFile(root_ + "/plain.key").ok());
  config(root_ + "/plain.key");
  Answer a = Get(In("secret"));
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.bytes, "s3cret\n");
  // A key file that needs its passphrase is refused, never asked for (even
  // with the passphrase in the environment: a server has no one to ask).
  ASSERT_TRUE(key.SaveFile(root_ + "/pass.key", crypt::Kdf::kScrypt, "pass phrase").ok());
  ASSERT_TRUE(sys::WriteFileAtomic(root_ + "/pass", "pass phrase\n").ok());
  ::setenv("CTDUMP_KEY_PASSPHRASE_FILE", (root_ + "/pass").c_str(), 1);
  config(root_ + "/pass.key");
  a = List(In(""));
  ::unsetenv("CTDUMP_KEY_PASSPHRASE_FILE");
  EXPECT_EQ(a.status, 400) << a.body.dump();
  EXPECT_NE(a.body["message"].get<std::string>().find("needs its passphrase"), std::string::npos)
      << a.body.dump();
}

// The cost of a listing (design §6: a list reads the whole metadata stream):
// CTDUMP_FILES_BENCH_ENTRIES files (default 1000000) in one directory.
// Run by hand: --gtest_also_run_disabled_tests --gtest_filter='*ListingTime*'.
TEST_F(FileRoutesTest, DISABLED_ListingTimeOfManyEntries) {
  const char* env = std::getenv("CTDUMP_FILES_BENCH_ENTRIES");
  const int n = env ? std::atoi(env) : 1000000;
  datastore::testing::TreeBuilder t;
  t.Dir("").Dir("big");
  for (int i = 0; i < n; ++i) t.File(fmt::format("big/f{:08}", i), "");
  t.Dir("small").File("small/x", "x");
  auto start = std::chrono::steady_clock::now();
  volname_ = AddSnapshot(t, kSnapshotTime + 60);
  auto written = std::chrono::steady_clock::now();
  Answer big = List(In("big"));
  auto listed = std::chrono::steady_clock::now();
  Answer small = List(In("small"));
  auto done = std::chrono::steady_clock::now();
  ASSERT_EQ(big.status, 200);
  EXPECT_EQ(big.body["data"].size(), static_cast<size_t>(n));
  EXPECT_EQ(small.body["data"].size(), 1u);
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  std::printf("%d entries: written in %lld ms; listing them %lld ms; a small directory %lld ms\n",
              n, static_cast<long long>(ms(written - start)),
              static_cast<long long>(ms(listed - written)),
              static_cast<long long>(ms(done - listed)));
}

}  // namespace
}  // namespace ctdump::server
