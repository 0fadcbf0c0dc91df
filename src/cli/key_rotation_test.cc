// `ctdump key rotate`: the storage.cfg rewrite, and a rotation SIGKILLed at
// every step leaves the old key working (issue 12, "Bad input").
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/datastore_storage.h"
#include "datastore/datastore_test_fixture.h"
#include "registry/registry.h"

namespace ctdump::cli {
namespace {

using datastore::testing::Contains;

TEST(RotateKeyInConfigTextTest, Table) {
  struct Case {
    const char* name;
    std::string in;
    std::string want;
  };
  const std::string other = "# storages\ndir: local\n\tpath /var/lib/vz\n\n";
  const Case cases[] = {
      {"first rotation keeps comments, order and other sections",
       other + "datastore: ds\n\tpath /s\n\t# the key\n\tencryption-key /k/a.key\n\tprune-backups "
               "keep-last=3\n",
       other + "datastore: ds\n\tpath /s\n\t# the key\n\tencryption-key /k/new.key\n"
               "\tencryption-key-old /k/a.key\n\tprune-backups keep-last=3\n"},
      {"second rotation puts the current key first",
       "datastore: ds\n  path /s\n  encryption-key /k/b.key\n  encryption-key-old /k/a.key\n",
       "datastore: ds\n  path /s\n  encryption-key /k/new.key\n"
       "  encryption-key-old /k/b.key,/k/a.key\n"},
      {"a storage without a key gets one",
       "datastore: ds\n\tpath /s\n\ndatastore: other\n\tpath /o\n\tencryption-key /k/o.key\n",
       "datastore: ds\n\tpath /s\n\tencryption-key /k/new.key\n\ndatastore: other\n\tpath /o\n"
       "\tencryption-key /k/o.key\n"},
      {"the section at the end without a final newline",
       "datastore: ds\n\tpath /s\n\tencryption-key /k/a.key",
       "datastore: ds\n\tpath /s\n\tencryption-key /k/new.key\n\tencryption-key-old /k/a.key"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto got = RotateKeyInConfigText(c.in, "ds", "/k/new.key");
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, c.want);
  }
  const std::string ds =
      "dir: local\n\tpath /d\n\ndatastore: ds\n\tpath /s\n"
      "\tencryption-key /k/b.key\n\tencryption-key-old /k/a.key\n";
  struct Bad {
    const char* id;
    const char* key;
    Code code;
    const char* says;
  };
  const Bad bad[] = {
      {"nope", "/k/n.key", Code::kNotFound, "does not exist"},
      {"local", "/k/n.key", Code::kInvalidArgument, "not a datastore"},
      {"ds", "/k/b.key", Code::kInvalidArgument, "current key"},
      {"ds", "/k/a.key", Code::kInvalidArgument, "old key"},
      {"ds", "/k/a,b.key", Code::kInvalidArgument, "no commas"},
      {"ds", "/k/a b.key", Code::kInvalidArgument, "white space"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.key);
    auto got = RotateKeyInConfigText(ds, b.id, b.key);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), b.code);
    EXPECT_TRUE(Contains(got.status().message(), b.says)) << got.status().message();
  }
}

TEST(RotateKeyInConfigTextTest, DefaultPath) {
  EXPECT_EQ(DefaultRotatedKeyPath("/etc/ctdump/store.key", 1764145379),
            "/etc/ctdump/store-20251126T082259Z.key");
  EXPECT_EQ(DefaultRotatedKeyPath("/k/raw", 0), "/k/raw-19700101T000000Z.key");
}

class KeyRotationTest : public datastore::DatastoreTest {
 protected:
  void SetUp() override {
    DatastoreTest::SetUp();
    config_dir_ = dir_ + "/etc";
    ASSERT_TRUE(sys::MakeDirs(config_dir_).ok());
    old_key_ = dir_ + "/old.key";
    new_key_ = dir_ + "/new.key";
    ASSERT_TRUE(datastore::testing::TestKey(21).SaveFile(old_key_).ok());
    config_ = "# my storages\ndir: local\n\tpath /var/lib/vz\n\ndatastore: ds\n\tpath " + root_ +
              "\n\t# rotated by the test\n\tencryption-key " + old_key_ + "\n";
    ASSERT_TRUE(sys::WriteFileAtomic(config_dir_ + "/storage.cfg", config_, 0640).ok());
    auto ds = OpenStorage();
    ASSERT_NE(ds, nullptr);
    tree_ = datastore::testing::TreeBuilder()
                .Dir("")
                .File("f", datastore::testing::RandomBytes(200000, 3))
                .Build();
    ASSERT_TRUE(Backup(*ds, "600", datastore::kT0, datastore::testing::WorkerStream(tree_)).ok());
    old_vol_ = datastore::FormatVolume("600", datastore::kT0);
  }

  std::unique_ptr<datastore::Datastore> OpenStorage() {
    auto config = registry::LoadStorageConfig(config_dir_);
    EXPECT_TRUE(config.ok()) << config.status().ToString();
    if (!config.ok()) return nullptr;
    auto ds = registry::OpenDatastore(*config, "ds");
    EXPECT_TRUE(ds.ok()) << ds.status().ToString();
    return ds.ok() ? std::move(*ds) : nullptr;
  }

  // Rotates in a child that SIGKILLs itself after `kill_after` ("" : never).
  void RotateInChild(const std::string& kill_after) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      KeyRotation r;
      r.storage = "ds";
      r.new_key = new_key_;
      r.kdf = crypt::Kdf::kNone;
      r.after_step = [&](std::string_view step) {
        if (step == kill_after) ::raise(SIGKILL);
      };
      auto fp = RotateStorageKey(config_dir_, r);
      ::_exit(fp.ok() ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    if (kill_after.empty()) {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    } else {
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    }
  }

  std::string config_dir_, old_key_, new_key_, config_, old_vol_;
  std::vector<datastore::testing::Node> tree_;
};

// Killed after each step, or not at all: the storage opens, and the backups
// made with the old key restore.
TEST_F(KeyRotationTest, KilledAtAnyStepTheOldKeyStillWorks) {
  for (const std::string step : {"key-written", "config-written", ""}) {
    SCOPED_TRACE(step.empty() ? "not killed" : step);
    ASSERT_TRUE(sys::WriteFileAtomic(config_dir_ + "/storage.cfg", config_, 0640).ok());
    ::unlink(new_key_.c_str());
    RotateInChild(step);
    auto text = sys::ReadFile(config_dir_ + "/storage.cfg");
    ASSERT_TRUE(text.ok());
    if (step == "key-written") {
      EXPECT_EQ(*text, config_);  // not yet rotated: a stray new key file at most
    } else {
      EXPECT_TRUE(Contains(*text, "\tencryption-key " + new_key_ + "\n")) << *text;
      EXPECT_TRUE(Contains(*text, "\tencryption-key-old " + old_key_ + "\n")) << *text;
      EXPECT_TRUE(Contains(*text, "# my storages\ndir: local\n")) << *text;
      EXPECT_TRUE(Contains(*text, "\t# rotated by the test\n")) << *text;
    }
    struct stat st {};
    ASSERT_EQ(::stat((config_dir_ + "/storage.cfg").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0640u);  // the file's mode is kept
    auto ds = OpenStorage();
    ASSERT_NE(ds, nullptr);
    auto m = ds->ReadManifest(old_vol_);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->guest_config, "hostname: ct600\n");
    ExpectTree(tree_, ReadBack(*ds, old_vol_));
  }
}

// After a rotation: the first backup is full (its parent would be the old
// key's), encrypted with the new key; old and new backups restore, verify
// passes, and without the old key file only the old backups fail.
TEST_F(KeyRotationTest, NewBackupsUseTheNewKeyOldOnesStayReadable) {
  RotateInChild("");
  auto ds = OpenStorage();
  ASSERT_NE(ds, nullptr);
  EXPECT_EQ(datastore::LoadParent(*ds, "600", nullptr), nullptr);  // another key: full
  auto tree2 = datastore::testing::TreeBuilder()
                   .Dir("")
                   .File("f", datastore::testing::RandomBytes(200000, 3))
                   .File("g", datastore::testing::TextBytes(5000))
                   .Build();
  auto m = Backup(*ds, "600", datastore::kT0 + 60, datastore::testing::WorkerStream(tree2));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto new_info = crypt::Key::ReadFileInfo(new_key_);
  ASSERT_TRUE(new_info.ok());
  EXPECT_EQ(m->key_fingerprint, crypt::FingerprintString(new_info->fingerprint));
  const std::string new_vol = datastore::FormatVolume("600", datastore::kT0 + 60);
  // The next one is incremental again, on the new key's backup.
  auto parent = datastore::LoadParent(*ds, "600", nullptr);
  ASSERT_NE(parent, nullptr);
  EXPECT_EQ(parent->volname, new_vol);

  auto fresh = OpenStorage();
  ExpectTree(tree_, ReadBack(*fresh, old_vol_));
  ExpectTree(tree2, ReadBack(*fresh, new_vol));
  auto report = datastore::Verify(*fresh, std::nullopt, 2, nullptr);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problems.front();
  EXPECT_TRUE(report->other_key_snapshots.empty());

  // The old key file gone: the new backups still restore, the old ones are
  // verified without their key.
  ASSERT_EQ(::unlink(old_key_.c_str()), 0);
  auto without = OpenStorage();
  ExpectTree(tree2, ReadBack(*without, new_vol));
  EXPECT_FALSE(datastore::SnapshotReader::Open(*without, old_vol_).ok());
  auto keyless = datastore::Verify(*without, std::nullopt, 2, nullptr);
  ASSERT_TRUE(keyless.ok());
  EXPECT_TRUE(keyless->ok()) << keyless->problems.front();
  EXPECT_EQ(keyless->keyless_snapshots, std::vector<std::string>{old_vol_});
}

// The master key: each backup's key wrapped to its public half in the
// manifest's public part; recovered without the content key, with the
// private half. Wrong master key, a backup without a wrapped key, a damaged
// wrap: clear errors.
TEST_F(KeyRotationTest, KeyRecoveredWithTheMasterKey) {
  const std::string pub = dir_ + "/master.pem", priv = dir_ + "/master-private.pem";
  ASSERT_TRUE(crypt::CreateMasterKeyPair(pub, priv, "master pass").ok());
  auto master_pub = crypt::MasterPublicKey::LoadPem(pub);
  ASSERT_TRUE(master_pub.ok()) << master_pub.status().ToString();
  auto ds = OpenStorage();
  auto key = ds->CurrentKey();
  ASSERT_TRUE(key.ok() && *key);
  auto wrapped = master_pub->Wrap(**key);
  ASSERT_TRUE(wrapped.ok());
  datastore::WriterOptions o;
  o.volname = datastore::FormatVolume("601", datastore::kT0);
  o.vmid = "601";
  o.backup_time = datastore::kT0;
  o.wrapped_key = *wrapped;
  o.master_fingerprint = master_pub->FingerprintString();
  auto w = datastore::SnapshotWriter::Create(*ds, o, nullptr, nullptr);
  ASSERT_TRUE(w.ok());
  const std::string stream = datastore::testing::WorkerStream(tree_);
  ASSERT_TRUE((*w)->Feed(stream.data(), stream.size()).ok());
  ASSERT_TRUE((*w)->Finish().ok());

  // The key file lost: the manifest is still read, the key recovered.
  ASSERT_EQ(::unlink(old_key_.c_str()), 0);
  auto lost = OpenStorage();
  auto m = lost->ReadManifestPublic(o.volname);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->wrapped_key.has_value());
  EXPECT_EQ(m->master_fingerprint, master_pub->FingerprintString());
  auto master = crypt::MasterPrivateKey::LoadPem(priv, "master pass");
  ASSERT_TRUE(master.ok()) << master.status().ToString();
  auto recovered = RecoverKeyWithMasterKey(*m, o.volname, *master, priv);
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  EXPECT_EQ(recovered->fingerprint(), (*key)->fingerprint());
  ASSERT_TRUE(recovered->SaveFile(old_key_).ok());
  ExpectTree(tree_, ReadBack(*OpenStorage(), old_vol_));  // every backup of that key

  // A backup made without a master key has none to give.
  auto none = lost->ReadManifestPublic(old_vol_);
  ASSERT_TRUE(none.ok());
  auto r = RecoverKeyWithMasterKey(*none, old_vol_, *master, priv);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(Contains(r.status().message(), "master-pubkey")) << r.status().message();
  // Another master key: named, both fingerprints.
  const std::string pub2 = dir_ + "/m2.pem", priv2 = dir_ + "/m2-private.pem";
  ASSERT_TRUE(crypt::CreateMasterKeyPair(pub2, priv2, "other").ok());
  auto other = crypt::MasterPrivateKey::LoadPem(priv2, "other");
  ASSERT_TRUE(other.ok());
  r = RecoverKeyWithMasterKey(*m, o.volname, *other, priv2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status().message(), master_pub->FingerprintString()));
  EXPECT_TRUE(Contains(r.status().message(), other->FingerprintString()));
  // A damaged wrap is refused, never a wrong key.
  datastore::Manifest damaged = *m;
  std::string hex = *damaged.wrapped_key;
  hex[hex.size() - 3] = hex[hex.size() - 3] == '0' ? '1' : '0';
  damaged.wrapped_key = hex;
  r = RecoverKeyWithMasterKey(damaged, o.volname, *master, priv);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss) << r.status().message();
  damaged.wrapped_key = "zz";
  EXPECT_EQ(CheckWrappedKey(damaged, o.volname).code(), Code::kDataLoss);
}

}  // namespace
}  // namespace ctdump::cli
