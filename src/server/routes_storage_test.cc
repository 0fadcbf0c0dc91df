// The storage and content endpoints, called through a real api::Router with
// a recording sink, on a temporary storage.cfg: a dir storage with files
// named as vzdump names them (and their sidecars), a disabled one, and a
// datastore holding one snapshot written by the real writer.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <time.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <variant>

#include "api/router.h"
#include "datastore/datastore_test_util.h"
#include "datastore/maintenance.h"
#include "server/route_test_util.h"
#include "server/routes.h"
#include "sys/file.h"

namespace ctdump::server {
namespace {

using json = nlohmann::json;

constexpr char kArchive100[] = "vzdump-lxc-100-2024_01_12-22_00_02.tar.zst";
constexpr char kArchiveWeb[] = "vzdump-lxc-web-2024_01_13-22_00_02.tar.gz";
constexpr int64_t kSnapshotTime = 1705096802;

using testing::Answer;

// 2024-01-12 22:00:02 local time, as the dir storage reads names.
int64_t LocalTime(int y, int mo, int d, int h, int mi, int s) {
  struct tm tm {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  tm.tm_isdst = -1;
  return static_cast<int64_t>(::mktime(&tm));
}

class StorageRoutesTest : public testing::RouteTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(MakeRoot("/tmp/ctdump-routes-storage."));
    ctx_.node = "n1";
    dump_ = root_ + "/store/dump";
    for (const char* d : {"/etc", "/store/dump", "/store2", "/ds"})
      ASSERT_TRUE(sys::MakeDirs(root_ + d).ok());
    Write(dump_ + "/" + kArchive100, std::string(1000, 'a'));
    Write(dump_ + "/" + kArchive100 + ".notes", "first line\nsecond line");
    Write(dump_ + "/" + kArchive100 + ".protected", "");
    Write(dump_ + "/vzdump-lxc-100-2024_01_12-22_00_02.log", "log");
    Write(dump_ + "/" + std::string(kArchiveWeb), std::string(300, 'w'));
    Write(root_ + "/etc/storage.cfg",
          "dir: local\n\tpath " + root_ + "/store\n\ndir: off\n\tpath " + root_ +
              "/store2\n\tdisable 1\n\ndatastore: ds\n\tpath " + root_ + "/ds\n");
    ASSERT_NO_FATAL_FAILURE(MakeRouter(StorageRoutes(ctx_)));
  }

  void Write(const std::string& path, const std::string& text) {
    ASSERT_TRUE(sys::WriteFileAtomic(path, text).ok()) << path;
  }

  // One snapshot of container 100 in the datastore (encrypted with `key` if
  // given), verified.
  std::string AddSnapshot(std::optional<crypt::Key> key = std::nullopt) {
    datastore::testing::TreeBuilder t;
    t.Dir("").File("etc/hostname", "web\n");
    auto snap = testing::WriteSnapshot(root_ + "/ds", t, kSnapshotTime, std::move(key));
    EXPECT_TRUE(snap.store->WriteNotes(snap.volname, "snap notes\nmore").ok());
    testing::NullObserver quiet;
    auto v = datastore::Verify(*snap.store, snap.volname, 1, &quiet);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return snap.volname;
  }

  // GET `path` as `user`; the router must accept it.
  Answer Call(const std::string& path, const std::string& query = "",
              const std::string& user = "root@pam") {
    Answer a = testing::CallRoute(*router_, "GET", path, query, {user, ""});
    EXPECT_TRUE(a.prepared) << path << ": " << a.reason;
    return a;
  }

  std::set<std::string> Ids(const json& data, const char* key) {
    std::set<std::string> out;
    for (const json& e : data)
      out.insert(e[key].is_string() ? e[key].get<std::string>() : e[key].dump());
    return out;
  }

  std::string dump_;
};

TEST_F(StorageRoutesTest, StorageListShape) {
  Answer a = Call("/nodes/n1/storage");
  ASSERT_EQ(a.status, 200) << a.reason;
  std::map<std::string, json> by_id;
  for (const json& e : a.body["data"]) by_id[e["storage"]] = e;
  ASSERT_EQ(by_id.size(), 3u);
  const json& local = by_id["local"];
  EXPECT_EQ(local["type"], "dir");
  EXPECT_EQ(local["content"], "backup");
  EXPECT_EQ(local["active"], 1);
  EXPECT_EQ(local["enabled"], 1);
  EXPECT_EQ(local["shared"], 0);
  uint64_t total = local["total"], used = local["used"], avail = local["avail"];
  EXPECT_GT(total, 0u);
  EXPECT_LE(used, total);
  EXPECT_LE(avail, total);
  EXPECT_NEAR(local["used_fraction"].get<double>(), static_cast<double>(used) / total, 1e-9);
  EXPECT_EQ(by_id["ds"]["type"], "datastore");
  EXPECT_GT(by_id["ds"]["total"].get<uint64_t>(), 0u);
  const json& off = by_id["off"];
  EXPECT_EQ(off["enabled"], 0);
  EXPECT_EQ(off["active"], 0);
  EXPECT_EQ(off["total"], 0);
  EXPECT_FALSE(off.contains("used_fraction"));  // only when total > 0
}

TEST_F(StorageRoutesTest, StorageListFilters) {
  auto ids = [&](const std::string& query) {
    return Ids(Call("/nodes/n1/storage", query).body["data"], "storage");
  };
  EXPECT_EQ(ids("enabled=1"), (std::set<std::string>{"ds", "local"}));
  EXPECT_EQ(ids("enabled=0"), (std::set<std::string>{"ds", "local", "off"}));
  // A content filter hides disabled storages too.
  EXPECT_EQ(ids("content=backup"), (std::set<std::string>{"ds", "local"}));
  EXPECT_EQ(ids("content=iso,backup"), (std::set<std::string>{"ds", "local"}));
  EXPECT_EQ(ids("content=iso"), std::set<std::string>{});
  EXPECT_EQ(ids("storage=local"), std::set<std::string>{"local"});
  EXPECT_EQ(ids("storage=off"), std::set<std::string>{"off"});
  EXPECT_EQ(ids("storage=nope"), std::set<std::string>{});
  EXPECT_EQ(ids("target=n1&format=1"), (std::set<std::string>{"ds", "local", "off"}));
}

TEST_F(StorageRoutesTest, StorageListShowsOnlyAuditableStorages) {
  grants_.insert("alice@pve /storage/local Datastore.Audit");
  grants_.insert("alice@pve /storage/ds Datastore.AllocateSpace");
  grants_.insert("alice@pve /storage/off VM.Audit");  // not a storage privilege
  EXPECT_EQ(Ids(Call("/nodes/n1/storage", "", "alice@pve").body["data"], "storage"),
            (std::set<std::string>{"ds", "local"}));
  EXPECT_EQ(Call("/nodes/n1/storage", "", "bob@pve").body["data"], json::array());
}

TEST_F(StorageRoutesTest, DirContentShape) {
  Answer a = Call("/nodes/n1/storage/local/content");
  ASSERT_EQ(a.status, 200) << a.reason;
  std::map<std::string, json> by_volid;
  for (const json& e : a.body["data"]) by_volid[e["volid"]] = e;
  ASSERT_EQ(by_volid.size(), 2u) << a.body.dump();  // the log and sidecars are no backups
  const json& e = by_volid[std::string("local:backup/") + kArchive100];
  EXPECT_EQ(e["content"], "backup");
  EXPECT_EQ(e["format"], "tar.zst");
  EXPECT_EQ(e["subtype"], "lxc");
  EXPECT_EQ(e["vmid"], 100);
  EXPECT_TRUE(e["vmid"].is_number_integer());
  EXPECT_EQ(e["size"], 1000);
  EXPECT_EQ(e["ctime"], LocalTime(2024, 1, 12, 22, 0, 2));
  EXPECT_EQ(e["notes"], "first line");  // the first line only
  EXPECT_EQ(e["protected"], 1);
  EXPECT_FALSE(e.contains("verification"));
  EXPECT_FALSE(e.contains("encrypted"));
  const json& w = by_volid[std::string("local:backup/") + kArchiveWeb];
  EXPECT_EQ(w["vmid"], "web");
  EXPECT_EQ(w["format"], "tar.gz");
  EXPECT_EQ(w["size"], 300);
  EXPECT_FALSE(w.contains("notes"));
  EXPECT_FALSE(w.contains("protected"));  // present only when protected
}

TEST_F(StorageRoutesTest, ContentFilters) {
  auto vmids = [&](const std::string& query) {
    return Ids(Call("/nodes/n1/storage/local/content", query).body["data"], "vmid");
  };
  EXPECT_EQ(vmids("vmid=web"), std::set<std::string>{"web"});
  EXPECT_EQ(vmids("vmid=100"), std::set<std::string>{"100"});
  EXPECT_EQ(vmids("content=backup"), (std::set<std::string>{"100", "web"}));
  EXPECT_EQ(vmids("content=iso"), std::set<std::string>{});
  EXPECT_EQ(vmids("content=vztmpl"), std::set<std::string>{});
}

TEST_F(StorageRoutesTest, ContentHidesGuestsWithoutVmAudit) {
  grants_.insert("alice@pve /storage/local Datastore.Audit");
  grants_.insert("alice@pve /vms/web VM.Audit");
  EXPECT_EQ(Ids(Call("/nodes/n1/storage/local/content", "", "alice@pve").body["data"], "vmid"),
            std::set<std::string>{"web"});
  // Datastore.Allocate on the storage shows every guest's backups.
  grants_.insert("bob@pve /storage/local Datastore.Allocate");
  EXPECT_EQ(Ids(Call("/nodes/n1/storage/local/content", "", "bob@pve").body["data"], "vmid"),
            (std::set<std::string>{"100", "web"}));

  auto found = router_->Find("GET", "/nodes/n1/storage/local/content");
  ASSERT_TRUE(std::holds_alternative<api::Router::Match>(found));
  const api::Permission& p = std::get<api::Router::Match>(found).route->permission;
  ASSERT_EQ(p.kind, api::Permission::Kind::kPrivs);
  ASSERT_EQ(p.any_of.size(), 1u);
  EXPECT_EQ(p.any_of[0].path, "/storage/{storage}");
  EXPECT_TRUE(p.any_of[0].any);
  EXPECT_EQ(p.any_of[0].privs,
            (std::vector<std::string>{"Datastore.Audit", "Datastore.AllocateSpace"}));
}

TEST_F(StorageRoutesTest, UnknownStorageIs400OnStorage) {
  for (const char* path :
       {"/nodes/n1/storage/nope/content", "/nodes/n1/storage/nope/content/backup/x.tar"}) {
    Answer a = Call(path);
    EXPECT_EQ(a.status, 400) << path;
    EXPECT_EQ(a.reason, "storage 'nope' does not exist") << path;
    EXPECT_EQ(a.body["errors"]["storage"], "storage 'nope' does not exist") << path;
  }
  EXPECT_EQ(Call("/nodes/n1/storage/local").body["data"], json::parse(R"([{"subdir":"content"}])"));
}

TEST_F(StorageRoutesTest, VolumeInfo) {
  std::string want_path = dump_ + "/" + kArchive100;
  for (std::string volume : {std::string("local:backup/") + kArchive100,
                             std::string("backup/") + kArchive100, std::string(kArchive100)}) {
    Answer a = Call("/nodes/n1/storage/local/content/" + volume);
    ASSERT_EQ(a.status, 200) << volume << ": " << a.reason;
    const json& d = a.body["data"];
    EXPECT_EQ(d["path"], want_path);
    EXPECT_EQ(d["size"], 1000);
    EXPECT_TRUE(d["used"].is_number_integer());
    EXPECT_EQ(d["format"], "tar.zst");
    EXPECT_EQ(d["notes"], "first line\nsecond line");  // whole
    EXPECT_EQ(d["protected"], 1);
    EXPECT_EQ(d.size(), 6u) << d.dump();
  }
  Answer web = Call("/nodes/n1/storage/local/content/" + std::string(kArchiveWeb));
  const json& w = web.body["data"];
  EXPECT_EQ(w["protected"], 0);
  EXPECT_FALSE(w.contains("notes"));
}

TEST_F(StorageRoutesTest, UnknownVolumeIs400OnVolume) {
  Answer a = Call("/nodes/n1/storage/local/content/backup/vzdump-lxc-1-2024_01_12-22_00_02.tar");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.body["errors"]["volume"],
            "volume 'backup/vzdump-lxc-1-2024_01_12-22_00_02.tar' does not exist");
  Answer other = Call("/nodes/n1/storage/local/content/ds:backup/ct/100/x");
  EXPECT_EQ(other.status, 400);
  EXPECT_EQ(other.body["errors"]["volume"],
            "volume 'ds:backup/ct/100/x' is not on storage 'local'");
  Answer bad = Call("/nodes/n1/storage/ds/content/backup/nonsense");
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(bad.body["errors"].contains("volume"));
}

TEST_F(StorageRoutesTest, VolumeNeedsAllocateOrAllocateSpaceAndVmBackup) {
  std::string path = "/nodes/n1/storage/local/content/" + std::string(kArchive100);
  Answer none = Call(path, "", "carol@pve");
  EXPECT_EQ(none.status, 403);
  EXPECT_EQ(none.reason, "Permission check failed (/storage/local, Datastore.AllocateSpace)");
  grants_.insert("alice@pve /storage/local Datastore.AllocateSpace");
  Answer space = Call(path, "", "alice@pve");
  EXPECT_EQ(space.status, 403);
  EXPECT_EQ(space.reason, "Permission check failed (/vms/100, VM.Backup)");
  grants_.insert("alice@pve /vms/100 VM.Backup");
  EXPECT_EQ(Call(path, "", "alice@pve").status, 200);
  grants_.insert("bob@pve /storage/local Datastore.Allocate");
  EXPECT_EQ(Call(path, "", "bob@pve").status, 200);
}

TEST_F(StorageRoutesTest, DatastoreContentShape) {
  EXPECT_EQ(Call("/nodes/n1/storage/ds/content").body["data"], json::array());  // empty store
  std::string volname = AddSnapshot();
  Answer a = Call("/nodes/n1/storage/ds/content");
  ASSERT_EQ(a.status, 200) << a.reason;
  ASSERT_EQ(a.body["data"].size(), 1u);
  const json& e = a.body["data"][0];
  EXPECT_EQ(e["volid"], "ds:backup/" + volname);
  EXPECT_EQ(e["content"], "backup");
  EXPECT_EQ(e["format"], "pbs-ct");
  EXPECT_EQ(e["subtype"], "lxc");
  EXPECT_EQ(e["vmid"], 100);
  EXPECT_EQ(e["ctime"], kSnapshotTime);
  EXPECT_TRUE(e["size"].is_number_integer());
  EXPECT_EQ(e["notes"], "snap notes");
  EXPECT_FALSE(e.contains("protected"));
  EXPECT_EQ(e["verification"], json({{"state", "ok"}}));
  EXPECT_FALSE(e.contains("encrypted"));  // a plain store

  Answer v = Call("/nodes/n1/storage/ds/content/ds:backup/" + volname);
  ASSERT_EQ(v.status, 200) << v.reason;
  EXPECT_EQ(v.body["data"]["format"], "pbs-ct");
  EXPECT_EQ(v.body["data"]["path"], "ds:backup/" + volname);
  EXPECT_EQ(v.body["data"]["protected"], 0);
  EXPECT_EQ(v.body["data"]["notes"], "snap notes\nmore");  // whole
  EXPECT_EQ(v.body["data"]["size"], e["size"]);
  EXPECT_EQ(Call("/nodes/n1/storage/ds/content/" + volname).status, 200);  // a bare volname
}

TEST_F(StorageRoutesTest, DatastoreEncryptedSnapshotNamesItsKey) {
  crypt::Key key = datastore::testing::TestKey(7);
  std::string volname = AddSnapshot(key);
  // storage.cfg names no key: the snapshot cannot be read here, but its
  // manifest's public part names the key.
  Answer a = Call("/nodes/n1/storage/ds/content", "vmid=100");
  ASSERT_EQ(a.status, 200) << a.reason;
  ASSERT_EQ(a.body["data"].size(), 1u);
  const json& e = a.body["data"][0];
  EXPECT_EQ(e["volid"], "ds:backup/" + volname);
  EXPECT_EQ(e["encrypted"], crypt::FingerprintString(key.fingerprint()));
  EXPECT_EQ(e["verification"], json({{"state", "ok"}}));
}

}  // namespace
}  // namespace ctdump::server
