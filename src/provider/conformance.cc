#include "provider/conformance.h"

#include <archive.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "ctdump/idmap.h"
#include "provider/conformance_tree.h"
#include "sys/file.h"
#include "sys/signals.h"
#include "sys/subprocess.h"

namespace ctdump::provider {
namespace {

using conformance::ReadTar;
using conformance::ScanDirectory;
using conformance::Tree;

using json = nlohmann::json;

const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}

// Succeeds for an OK status or result; the failure message is the error.
template <typename R>
::testing::AssertionResult IsOk(const R& result) {
  const Status& s = StatusOf(result);
  if (s.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << s.ToString();
}

#define EXPECT_OK(expr) EXPECT_TRUE(IsOk(expr))
#define ASSERT_OK(expr) ASSERT_TRUE(IsOk(expr))

// Expects `result` to fail with a message that names `name` (the user must
// see which backup or guest the error is about).
template <typename R>
void ExpectErrorNaming(const R& result, const std::string& name, const std::string& what) {
  const Status& s = StatusOf(result);
  EXPECT_FALSE(s.ok()) << what << " succeeded for '" << name << "'";
  if (!s.ok()) {
    EXPECT_NE(s.message().find(name), std::string::npos)
        << what << ": the error does not name '" << name << "': " << s.message();
  }
}

// Skips the calling case (a void function) unless the provider claims every
// feature listed.
#define REQUIRE_FEATURES(provider, ...)                                                           \
  do {                                                                                            \
    std::string missing_;                                                                         \
    for (const char* f : {__VA_ARGS__})                                                           \
      if (!(provider).HasFeature(f)) missing_ += (missing_.empty() ? "" : ", ") + std::string(f); \
    if (!missing_.empty())                                                                        \
      GTEST_SKIP() << "provider '" << (provider).name()                                           \
                   << "' does not claim the optional method(s) " << missing_;                     \
  } while (0)

constexpr int64_t kStart = 1700000000;  // 2023-11-14 22:13:20 UTC: no DST change near
constexpr int64_t kDay = 86400;
constexpr int64_t kMtime = 1600000000;
constexpr uint32_t kUser = 1000, kGroup = 1001;  // a container user's file
constexpr size_t kDataSize = 64 << 10;
constexpr char kGuestConfig[] =
    "arch: amd64\nhostname: ct-conformance\nmemory: 512\nostype: debian\n"
    "rootfs: local:101/vm-101-disk-0.raw,size=8G\n";
constexpr char kFirewall[] = "[OPTIONS]\nenable: 1\n";
constexpr char kNotes[] =
    "nightly \xe2\x80\x94 Gr\xc3\xbc\xc3\x9f"
    "e \xe6\x97\xa5\xe6\x9c\xac";
constexpr char kNonAscii[] =
    "data/Gr\xc3\xbc\xc3\x9f"
    "e-\xe6\x97\xa5\xe6\x9c\xac.txt";
// What the standard exclusion "/tmp/?*" keeps out of the backup.
constexpr char kExcluded[] = "tmp/junk";

// Deterministic bytes covering all 256 values (no compressor shrinks them).
std::string Bytes(size_t size, uint32_t seed) {
  std::string out(size, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (char& c : out) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    c = static_cast<char>(x);
  }
  return out;
}

class RecordingObserver : public Observer {
 public:
  void Log(LogLevel level, std::string_view message) noexcept override {
    const char* prefix = level == LogLevel::kInfo   ? "INFO: "
                         : level == LogLevel::kWarn ? "WARN: "
                                                    : "ERROR: ";
    lines.push_back(prefix + std::string(message));
    if (level == LogLevel::kWarn) ++warnings;
  }
  std::string All() const {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  }
  std::vector<std::string> lines;
  int warnings = 0;
};

// One case's world: a fresh storage, the container tree, scratch space.
class Env {
 public:
  explicit Env(const ProviderFactory& factory) : factory_(factory) {}
  ~Env() {
    if (!base.empty()) {
      EXPECT_OK(sys::RemoveTree(base));
    }
  }

  void SetUp() {
    auto dir = sys::MakeTempDir("/var/tmp/ctdump-provider-conformance.");
    ASSERT_OK(dir);
    base = *dir;
    ASSERT_EQ(::chmod(base.c_str(), 0755), 0);  // container root must traverse it
    storage = base + "/storage";
    ASSERT_EQ(::mkdir(storage.c_str(), 0755), 0);
    log_file = base + "/task.log";
    ASSERT_OK(sys::WriteFileAtomic(log_file, "INFO: starting new backup job\n"));
  }

  // A new provider object on this case's storage; null after a failure.
  std::unique_ptr<Provider> Open() {
    auto p = factory_(storage, &obs);
    EXPECT_TRUE(p.ok()) << "opening the provider failed: " << p.status().ToString();
    if (!p.ok()) return nullptr;
    EXPECT_NE(*p, nullptr);
    return std::move(*p);
  }

  // The container's tree (as root: owners and modes are part of it), its
  // owners shifted by `id_base`, the host id of container root, and backed
  // up with `map` (empty: a privileged container).
  void MakeTree(uint32_t id_base = 0, IdMap id_map = IdMap()) {
    tree = base + "/rootfs";
    this->id_base = id_base;
    map = std::move(id_map);
    auto add = [this](const std::string& rel, char type, mode_t mode, const std::string& data = "",
                      uid_t uid = 0, gid_t gid = 0) {
      std::string p = rel.empty() ? tree : tree + "/" + rel;
      if (type == 'd') {
        ASSERT_EQ(::mkdir(p.c_str(), mode), 0) << p << ": " << std::strerror(errno);
      } else if (type == 'l') {
        ASSERT_EQ(::symlink(data.c_str(), p.c_str()), 0) << p << ": " << std::strerror(errno);
      } else if (type == 'h') {
        ASSERT_EQ(::link((tree + "/" + data).c_str(), p.c_str()), 0) << p;
      } else {
        ASSERT_OK(sys::WriteFileAtomic(p, data, mode));
      }
      if (type != 'h') {
        ASSERT_EQ(::lchown(p.c_str(), uid + this->id_base, gid + this->id_base), 0) << p;
      }
      if (type == 'd' || type == 'f') {
        ASSERT_EQ(::chmod(p.c_str(), mode), 0) << p;
      }
    };
    add("", 'd', 0755);
    add("etc", 'd', 0755);
    add("etc/hostname", 'f', 0644, "ct-conformance\n");
    add("etc/data-link", 'l', 0777, "../data/file");
    add("usr", 'd', 0755);
    add("usr/sbin", 'd', 0755);
    add("usr/sbin/init", 'f', 0755, "#!/bin/sh\nexit 0\n");
    add("sbin", 'l', 0777, "usr/sbin");
    add("data", 'd', 0750, "", kUser, kGroup);
    add("data/file", 'f', 0640, Bytes(kDataSize, 7), kUser, kGroup);
    add("data/hardlink", 'h', 0, "data/file");
    add(kNonAscii, 'f', 0600, "non-ASCII name\n");
    add("empty", 'd', 0700);
    add("tmp", 'd', 01777);
    add(kExcluded, 'f', 0644, "excluded by /tmp/?*\n");
    // Distinct times, set last (creating entries changes their directory's).
    int64_t t = kMtime;
    for (const auto& e : std::filesystem::recursive_directory_iterator(tree)) {
      struct timespec ts[2] = {{t, 0}, {t, 0}};
      ASSERT_EQ(::utimensat(AT_FDCWD, e.path().c_str(), ts, AT_SYMLINK_NOFOLLOW), 0);
      t += 60;
    }
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, tree.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0);
  }

  BackupContainerRequest Request(const std::string& vmid) const {
    BackupContainerRequest r;
    r.vmid = vmid;
    r.guest_config = kGuestConfig;
    r.exclude_patterns = {"/tmp/?*"};
    r.info.directory = tree;
    r.info.sources = {"./"};
    r.info.backup_user_id = map.root_uid();  // privileged: 0, host root
    r.info.firewall_config = kFirewall;
    return r;
  }

  std::string base, storage, tree, log_file;
  uint32_t id_base = 0;
  IdMap map;  // the container's; empty: privileged, no user namespace
  RecordingObserver obs;

 private:
  const ProviderFactory& factory_;
};

// ---- the backup job's calls ------------------------------------------------

struct BackupOutcome {
  std::string volname;
  std::optional<uint64_t> size;  // backup_cleanup's archive-size
};

// One guest in the job's order on `p` (job_init done by the caller). With
// `notes`/`protect` the attributes are set where the job sets them: after
// the archive, before backup_cleanup.
void BackupGuest(Env& env, Provider& p, const std::string& vmid, int64_t start, BackupOutcome* out,
                 const std::optional<std::string>& notes = std::nullopt, bool protect = false) {
  SCOPED_TRACE(fmt::format("backup of '{}' at {}", vmid, start));
  auto archive = p.BackupInit(vmid, start);
  ASSERT_OK(archive);
  ASSERT_TRUE(IsValidArchiveName(*archive))
      << "illegal characters in archive name '" << *archive << "'";
  auto mechanism = p.BackupGetMechanism(vmid);
  ASSERT_OK(mechanism);
  ASSERT_EQ(*mechanism, "directory");
  BackupContainerRequest req = env.Request(vmid);
  auto state = p.BackupContainerPrepare(vmid, req.info);
  ASSERT_OK(state);
  req.worker_state = *state;
  const int warnings_before = env.obs.warnings;
  Status s = p.BackupContainer(env.map, req);
  ASSERT_TRUE(s.ok()) << "backup_container: " << s.ToString() << "\n" << env.obs.All();
  EXPECT_EQ(env.obs.warnings, warnings_before) << "a backup of a readable tree logged warnings:\n"
                                               << env.obs.All();
  if (notes) {
    EXPECT_OK(p.UpdateAttribute(*archive, "notes", *notes));
  }
  if (protect) {
    EXPECT_OK(p.UpdateAttribute(*archive, "protected", true));
  }
  auto size = p.BackupCleanup(vmid, true, true, "");
  ASSERT_OK(size);
  if (*size) {
    EXPECT_GE(**size, kDataSize) << "archive-size is smaller than the data backed up";
    EXPECT_LE(**size, 2 * kDataSize + (1 << 20)) << "archive-size is implausibly large";
  }
  EXPECT_OK(p.BackupHandleLogFile(vmid, env.log_file));
  out->volname = *archive;
  out->size = *size;
}

// A whole job of one guest on a new provider object.
void BackupJob(Env& env, const std::string& vmid, int64_t start, BackupOutcome* out,
               const std::optional<std::string>& notes = std::nullopt, bool protect = false) {
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  ASSERT_OK(p->JobInit(start));
  ASSERT_NO_FATAL_FAILURE(BackupGuest(env, *p, vmid, start, out, notes, protect));
  EXPECT_OK(p->JobCleanup());
  EXPECT_OK(p->Shutdown());
}

// The listing of a new provider object.
std::vector<BackupEntry> List(Env& env, const std::optional<std::string>& vmid) {
  auto p = env.Open();
  if (!p) return {};
  auto list = p->ListBackups(vmid);
  EXPECT_TRUE(list.ok()) << "list_backups: " << list.status().ToString();
  EXPECT_OK(p->Shutdown());
  return list.ok() ? *list : std::vector<BackupEntry>();
}

std::vector<std::string> Volnames(const std::vector<BackupEntry>& list) {
  std::vector<std::string> out;
  for (const auto& e : list) out.push_back(e.volname);
  std::sort(out.begin(), out.end());
  return out;
}

const BackupEntry* Find(const std::vector<BackupEntry>& list, const std::string& volname) {
  for (const auto& e : list)
    if (e.volname == volname) return &e;
  return nullptr;
}

// ---- trees -----------------------------------------------------------------

// Restores `volname` as `ctdump restore` does (restore/restore.cc): a
// provider object of its own, restore_get_mechanism, then the stream of a
// built-in store or restore_container_init's tar file or directory, and
// restore_container_cleanup always. What the extraction would get is read
// into `out` (container-perspective owners, as the protocol says).
void Restore(Env& env, const std::string& volname, Tree* out) {
  SCOPED_TRACE("restore of '" + volname + "'");
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  auto mechanism = p->RestoreGetMechanism(volname);
  ASSERT_OK(mechanism);
  if (p->StreamsRestore() && !p->external()) {
    std::string stream;
    Status s = p->StreamRestore(
        volname,
        [&stream](const void* data, size_t size) {
          stream.append(static_cast<const char*>(data), size);
          return Status::OK();
        },
        [] { return false; });
    EXPECT_OK(s);
    if (s.ok())
      ReadTar(
          "the restore stream",
          [&stream](struct archive* a) {
            return archive_read_open_memory(a, stream.data(), stream.size());
          },
          out);
  } else {
    auto source = p->RestoreContainerInit(volname, *mechanism);
    EXPECT_OK(source);
    if (source.ok() && *mechanism == RestoreMechanism::kTar) {
      EXPECT_TRUE(sys::OpenRegularFile(*source).ok()) << "tar-path \"" << *source << "\"";
      ReadTar(
          *source,
          [&source](struct archive* a) {
            return archive_read_open_filename(a, source->c_str(), 65536);
          },
          out);
    } else if (source.ok()) {
      EXPECT_TRUE(sys::IsDirectory(*source)) << "archive-directory \"" << *source << "\"";
      ScanDirectory(*source, out);
    }
  }
  EXPECT_OK(p->RestoreContainerCleanup(volname));
  EXPECT_OK(p->Shutdown());
}

// The restored tree must be the backed-up one: every entry with its type,
// mode, owners, mtime, content or symlink target, the hardlink as one; the
// excluded file absent. A dir-style archive's ./etc/vzdump/ members (the
// configs vzdump writes into the archive) are allowed on top.
void ExpectSameTree(Env& env, Tree got) {
  Tree want;
  ASSERT_NO_FATAL_FAILURE(ScanDirectory(env.tree, &want, env.id_base));
  want.entries.erase(kExcluded);
  std::erase_if(got.entries, [](const auto& kv) { return kv.first.rfind("etc/vzdump", 0) == 0; });
  for (const auto& [path, text] : want.entries) {
    auto it = got.entries.find(path);
    if (it == got.entries.end())
      ADD_FAILURE() << "missing after restore: " << path << " (" << text << ")";
    else
      EXPECT_EQ(it->second, text) << "differs after restore: " << path;
  }
  for (const auto& [path, text] : got.entries)
    if (!want.entries.count(path))
      ADD_FAILURE() << "not in the backup, but restored: " << path << " (" << text << ")";
  EXPECT_EQ(got.hardlinks, want.hardlinks) << "hardlinks differ";
}

// ---- the cases -------------------------------------------------------------

// The job's sequence, then what a new provider object gives back: the
// configs; job_cleanup may be called twice.
void BackupSequenceRoot(Env& env) {
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->storage_id().empty(), false);
  EXPECT_EQ(p->name().empty(), false) << "provider_name is shown in the task log";
  Tree before, after;
  ASSERT_NO_FATAL_FAILURE(ScanDirectory(env.tree, &before));
  ASSERT_OK(p->JobInit(kStart));
  BackupOutcome b;
  ASSERT_NO_FATAL_FAILURE(BackupGuest(env, *p, "101", kStart, &b));
  EXPECT_OK(p->JobCleanup());
  EXPECT_OK(p->JobCleanup()) << "job_cleanup must be idempotent";
  EXPECT_OK(p->Shutdown());
  ASSERT_NO_FATAL_FAILURE(ScanDirectory(env.tree, &after));
  EXPECT_EQ(before.entries, after.entries) << "the backup changed the container's tree";

  auto q = env.Open();  // archive_get_*_config come from another instance
  ASSERT_NE(q, nullptr);
  auto config = q->ArchiveGetGuestConfig(b.volname);
  ASSERT_OK(config);
  EXPECT_EQ(*config, kGuestConfig);
  auto fw = q->ArchiveGetFirewallConfig(b.volname);
  ASSERT_OK(fw);
  EXPECT_EQ(fw->value_or("<none>"), kFirewall);
  EXPECT_OK(q->Shutdown());
}

// Two guests in one job, one of them twice: each listed once with its vmid,
// ctime and size; the vmid filter.
void ListShowsTheBackupsRoot(Env& env) {
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  REQUIRE_FEATURES(*p, "list_backups");
  EXPECT_TRUE(p->ListBackups(std::nullopt).ok());
  ASSERT_OK(p->JobInit(kStart));
  BackupOutcome a, b;
  ASSERT_NO_FATAL_FAILURE(BackupGuest(env, *p, "101", kStart, &a));
  ASSERT_NO_FATAL_FAILURE(BackupGuest(env, *p, "102", kStart + 5, &b));
  EXPECT_OK(p->JobCleanup());
  EXPECT_OK(p->Shutdown());
  BackupOutcome c;
  ASSERT_NO_FATAL_FAILURE(BackupJob(env, "101", kStart + kDay, &c));

  auto all = List(env, std::nullopt);
  std::vector<std::string> want_all = {a.volname, b.volname, c.volname};
  std::sort(want_all.begin(), want_all.end());
  EXPECT_EQ(Volnames(all), want_all);
  struct Want {
    const BackupOutcome* b;
    const char* vmid;
    int64_t ctime;
  } wants[] = {{&a, "101", kStart}, {&b, "102", kStart + 5}, {&c, "101", kStart + kDay}};
  for (const auto& w : wants) {
    const BackupEntry* e = Find(all, w.b->volname);
    if (!e) {
      ADD_FAILURE() << "not listed: " << w.b->volname;
      continue;
    }
    SCOPED_TRACE("listed backup " + e->volname);
    EXPECT_EQ(e->vmid, w.vmid);
    EXPECT_EQ(e->vmtype, "lxc");
    EXPECT_EQ(e->ctime, w.ctime) << "ctime must be backup_init's start time";
    ASSERT_TRUE(e->size.has_value()) << "no size";
    EXPECT_GE(*e->size, kDataSize);
    EXPECT_LE(*e->size, 2 * kDataSize + (1 << 20));
    EXPECT_EQ(e->notes.value_or(""), "");
    EXPECT_FALSE(e->is_protected);
  }
  auto only101 = List(env, std::string("101"));
  std::vector<std::string> want101 = {a.volname, c.volname};
  std::sort(want101.begin(), want101.end());
  EXPECT_EQ(Volnames(only101), want101) << "list_backups(vmid) must list that guest's only";
  EXPECT_TRUE(List(env, std::string("999")).empty()) << "a guest without backups lists nothing";
}

// Notes and protection: set where the job sets them (before backup_cleanup)
// and afterwards; each state seen by a new listing of a new provider object.
void NotesAndProtectionRoundTripRoot(Env& env) {
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  REQUIRE_FEATURES(*p, "list_backups", "update_attribute");
  EXPECT_OK(p->Shutdown());
  BackupOutcome b;
  ASSERT_NO_FATAL_FAILURE(BackupJob(env, "101", kStart, &b, std::string(kNotes), true));
  auto check = [&](const char* notes, bool is_protected, const char* step) {
    SCOPED_TRACE(step);
    auto list = List(env, std::string("101"));
    const BackupEntry* e = Find(list, b.volname);
    ASSERT_NE(e, nullptr) << "not listed: " << b.volname;
    EXPECT_EQ(e->notes.value_or(""), notes);
    EXPECT_EQ(e->is_protected, is_protected);
  };
  check(kNotes, true, "set by the job");
  auto set = [&](const std::string& name, const json& value) {
    auto q = env.Open();
    ASSERT_NE(q, nullptr);
    EXPECT_OK(q->UpdateAttribute(b.volname, name, value));
    EXPECT_OK(q->Shutdown());
  };
  set("notes", "");
  set("protected", false);
  check("", false, "notes cleared, unprotected");
  set("notes", "second");
  check("second", false, "notes set again");
  set("protected", true);
  check("second", true, "protected again");
  auto q = env.Open();
  ASSERT_NE(q, nullptr);
  EXPECT_FALSE(q->UpdateAttribute(b.volname, "no-such-attribute", "x").ok())
      << "only 'notes' and 'protected' are attributes";
  EXPECT_OK(q->Shutdown());
  check("second", true, "after the refused attribute");
}

// delete_backup refuses a protected backup, which stays listed and
// restorable; unprotected, it goes.
void ProtectedBackupIsNotDeletedRoot(Env& env) {
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  REQUIRE_FEATURES(*p, "list_backups", "delete_backup", "update_attribute");
  EXPECT_OK(p->Shutdown());
  BackupOutcome b;
  ASSERT_NO_FATAL_FAILURE(BackupJob(env, "101", kStart, &b, std::nullopt, true));
  auto q = env.Open();
  ASSERT_NE(q, nullptr);
  Status d = q->DeleteBackup(b.volname);
  EXPECT_FALSE(d.ok()) << "a protected backup was deleted";
  EXPECT_NE(d.message().find("protected"), std::string::npos)
      << "the refusal should say why: " << d.message();
  EXPECT_OK(q->Shutdown());
  EXPECT_NE(Find(List(env, std::nullopt), b.volname), nullptr) << "the protected backup is gone";
  auto r = env.Open();
  ASSERT_NE(r, nullptr);
  EXPECT_OK(r->ArchiveGetGuestConfig(b.volname));
  EXPECT_OK(r->UpdateAttribute(b.volname, "protected", false));
  EXPECT_OK(r->DeleteBackup(b.volname));
  EXPECT_OK(r->Shutdown());
  EXPECT_TRUE(List(env, std::nullopt).empty());
}

// Retention as the job runs it (its choice from list_backups' ctimes and
// flags, then delete_backup): keep-last=1 keeps the newest, removes the middle one,
// never the protected oldest, and leaves other guests alone.
void PruneKeepsProtectedRoot(Env& env) {
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  REQUIRE_FEATURES(*p, "list_backups", "delete_backup", "update_attribute");
  EXPECT_OK(p->Shutdown());
  BackupOutcome oldest, middle, newest, other;
  ASSERT_NO_FATAL_FAILURE(BackupJob(env, "101", kStart, &oldest, std::nullopt, true));
  ASSERT_NO_FATAL_FAILURE(BackupJob(env, "101", kStart + kDay, &middle));
  ASSERT_NO_FATAL_FAILURE(BackupJob(env, "101", kStart + 2 * kDay, &newest));
  ASSERT_NO_FATAL_FAILURE(BackupJob(env, "102", kStart, &other));

  auto q = env.Open();
  ASSERT_NE(q, nullptr);
  auto list = q->ListBackups(std::string("101"));
  ASSERT_OK(list);
  // keep-last=1 (include/ctdump/prune.h): newest first, protected backups
  // are neither removed nor counted, the first other one is kept.
  std::vector<BackupEntry> group = *list;
  std::stable_sort(group.begin(), group.end(),
                   [](const BackupEntry& x, const BackupEntry& y) { return x.ctime > y.ctime; });
  std::map<std::string, std::string> marks;
  bool kept = false;
  for (const auto& e : group) {
    marks[e.volname] = e.is_protected ? "protected" : kept ? "remove" : "keep";
    kept = kept || !e.is_protected;
  }
  EXPECT_EQ(marks, (std::map<std::string, std::string>{{oldest.volname, "protected"},
                                                       {middle.volname, "remove"},
                                                       {newest.volname, "keep"}}))
      << "the listing's ctimes or protection flags are wrong";
  for (const auto& [volname, mark] : marks) {
    if (mark == "remove") {
      EXPECT_OK(q->DeleteBackup(volname));
    }
  }
  EXPECT_FALSE(q->DeleteBackup(oldest.volname).ok()) << "a protected backup was deleted";
  EXPECT_OK(q->Shutdown());

  std::vector<std::string> want = {oldest.volname, newest.volname};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(Volnames(List(env, std::string("101"))), want);
  EXPECT_EQ(Volnames(List(env, std::string("102"))), std::vector<std::string>{other.volname});
}

// delete_backup removes exactly that backup; afterwards its name is unknown
// to every method, and deleting it again is an error naming it.
void DeleteRemovesTheBackupRoot(Env& env) {
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  REQUIRE_FEATURES(*p, "list_backups", "delete_backup");
  EXPECT_OK(p->Shutdown());
  BackupOutcome gone, kept;
  ASSERT_NO_FATAL_FAILURE(BackupJob(env, "101", kStart, &gone));
  ASSERT_NO_FATAL_FAILURE(BackupJob(env, "101", kStart + kDay, &kept));
  auto q = env.Open();
  ASSERT_NE(q, nullptr);
  ASSERT_OK(q->DeleteBackup(gone.volname));
  EXPECT_OK(q->Shutdown());
  EXPECT_EQ(Volnames(List(env, std::nullopt)), std::vector<std::string>{kept.volname});

  auto r = env.Open();
  ASSERT_NE(r, nullptr);
  ExpectErrorNaming(r->DeleteBackup(gone.volname), gone.volname, "deleting a deleted backup");
  EXPECT_FALSE(r->RestoreGetMechanism(gone.volname).ok())
      << "restore_get_mechanism of a deleted backup";
  EXPECT_FALSE(r->ArchiveGetGuestConfig(gone.volname).ok()) << "guest config of a deleted backup";
  if (r->HasFeature("update_attribute")) {
    EXPECT_FALSE(r->UpdateAttribute(gone.volname, "notes", "x").ok())
        << "update_attribute of a deleted backup";
  }
  EXPECT_OK(r->ArchiveGetGuestConfig(kept.volname)) << "the other backup was harmed";
  EXPECT_OK(r->Shutdown());
}

// The restore gives back the tree, and leaves the backup as it was: a
// second restore gives the same.
void RestoreGivesBackTheTreeRoot(Env& env) {
  BackupOutcome b;
  ASSERT_NO_FATAL_FAILURE(BackupJob(env, "101", kStart, &b));
  for (int i = 0; i < 2; ++i) {
    Tree restored;
    ASSERT_NO_FATAL_FAILURE(Restore(env, b.volname, &restored));
    ExpectSameTree(env, restored);
  }
}

// An unprivileged container (map 0 -> 100000): the worker runs as its root
// in a user namespace, and the backup holds the container's view of the
// owners (uid 0 for host uid 100000), as the restore expects.
void UnprivilegedBackupRoot(Env& env) {
  auto map = IdMap::Parse({"u 0 100000 65536", "g 0 100000 65536"}, true);
  ASSERT_OK(map);
  ASSERT_OK(sys::RemoveTree(env.tree));
  ASSERT_NO_FATAL_FAILURE(env.MakeTree(100000, *map));
  BackupOutcome b;
  ASSERT_NO_FATAL_FAILURE(BackupJob(env, "101", kStart, &b));
  Tree restored;
  ASSERT_NO_FATAL_FAILURE(Restore(env, b.volname, &restored));
  ExpectSameTree(env, restored);
}

// info.bandwidth-limit is honoured: 64 KiB of data at 32 KiB/s cannot take
// less than a second (whatever burst the provider allows).
void BandwidthLimitIsHonouredRoot(Env& env) {
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  ASSERT_OK(p->JobInit(kStart));
  auto archive = p->BackupInit("101", kStart);
  ASSERT_OK(archive);
  BackupContainerRequest req = env.Request("101");
  req.info.bandwidth_limit = 32 << 10;
  auto state = p->BackupContainerPrepare("101", req.info);
  ASSERT_OK(state);
  req.worker_state = *state;
  auto start = std::chrono::steady_clock::now();
  ASSERT_OK(p->BackupContainer(env.map, req));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::seconds(1))
      << "64 KiB at 32 KiB/s took "
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  EXPECT_OK(p->BackupCleanup("101", true, true, ""));
  EXPECT_OK(p->BackupHandleLogFile("101", env.log_file));
  EXPECT_OK(p->JobCleanup());
  EXPECT_OK(p->Shutdown());
}

// ctdump killed in the middle of backup_container (here: SIGTERM cancels
// the call, then the provider object goes without backup_cleanup, as after
// a crash): the next job's listing does not show the partial backup, and
// the same backup can be made.
void InterruptedBackupIsNotListedRoot(Env& env) {
  {
    auto p = env.Open();
    ASSERT_NE(p, nullptr);
    ASSERT_OK(p->JobInit(kStart));
    ASSERT_OK(p->BackupInit("101", kStart));
    BackupContainerRequest req = env.Request("101");
    req.info.bandwidth_limit = 1;  // one byte per second: it would take a day
    auto state = p->BackupContainerPrepare("101", req.info);
    ASSERT_OK(state);
    req.worker_state = *state;
    sys::InstallInterruptHandlers();
    sys::ResetInterruptForTest();
    sys::SpawnOptions o;
    o.argv = {"/bin/sh", "-c", fmt::format("sleep 0.5; kill -TERM {}", ::getpid())};
    auto killer = sys::Spawn(o);
    ASSERT_OK(killer);
    auto start = std::chrono::steady_clock::now();
    Status s = p->BackupContainer(env.map, req);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
    EXPECT_OK(killer->Wait());
    sys::ResetInterruptForTest();
    EXPECT_FALSE(s.ok()) << "backup_container was not interrupted";
  }  // no backup_cleanup, no job_cleanup, no shutdown
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  ASSERT_OK(p->JobInit(kStart + 1));
  if (p->HasFeature("list_backups")) {
    auto list = p->ListBackups(std::nullopt);
    ASSERT_OK(list);
    EXPECT_TRUE(list->empty()) << "an interrupted backup is listed: " << list->front().volname;
  }
  EXPECT_OK(p->JobCleanup());
  EXPECT_OK(p->Shutdown());
  BackupOutcome again;
  ASSERT_NO_FATAL_FAILURE(BackupJob(env, "101", kStart, &again));
  Tree restored;
  ASSERT_NO_FATAL_FAILURE(Restore(env, again.volname, &restored));
  ExpectSameTree(env, restored);
}

// A backup_container that fails, then backup_cleanup(success=false) as the
// job calls it after its local cleanup, the log file, job_cleanup: nothing
// is listed, and the same backup can be made again.
void FailedBackupLeavesNothingRoot(Env& env) {
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  ASSERT_OK(p->JobInit(kStart));
  auto archive = p->BackupInit("101", kStart);
  ASSERT_OK(archive);
  ASSERT_OK(p->BackupGetMechanism("101"));
  BackupContainerRequest req = env.Request("101");
  req.info.directory = env.base + "/no-such-tree";  // the worker must fail
  auto state = p->BackupContainerPrepare("101", req.info);
  ASSERT_OK(state);
  req.worker_state = *state;
  Status s = p->BackupContainer(IdMap(), req);
  ASSERT_FALSE(s.ok()) << "backup_container of a missing directory succeeded";
  EXPECT_FALSE(s.message().empty());
  EXPECT_OK(p->BackupCleanup("101", true, false, s.message()));
  EXPECT_OK(p->BackupHandleLogFile("101", env.log_file));
  EXPECT_OK(p->JobCleanup());
  EXPECT_OK(p->Shutdown());
  if (p->HasFeature("list_backups")) {
    EXPECT_TRUE(List(env, std::nullopt).empty()) << "a failed backup is listed";
  }
  auto q = env.Open();
  ASSERT_NE(q, nullptr);
  EXPECT_FALSE(q->RestoreGetMechanism(*archive).ok()) << "a failed backup can be restored";
  EXPECT_OK(q->Shutdown());

  BackupOutcome again;  // the name is free again
  ASSERT_NO_FATAL_FAILURE(BackupJob(env, "101", kStart, &again));
  EXPECT_EQ(again.volname, *archive);
  if (p->HasFeature("list_backups")) {
    EXPECT_EQ(Volnames(List(env, std::nullopt)), std::vector<std::string>{again.volname});
  }
}

// backup_init of a name that exists is refused naming it; the job's
// backup_cleanup(success=false) that follows must not touch the backup.
void BackupInitRefusesAnExistingNameRoot(Env& env) {
  BackupOutcome b;
  ASSERT_NO_FATAL_FAILURE(BackupJob(env, "101", kStart, &b));
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  ASSERT_OK(p->JobInit(kStart));
  auto again = p->BackupInit("101", kStart);
  ExpectErrorNaming(again, b.volname, "backup_init of an existing backup");
  auto cleanup = p->BackupCleanup("101", true, false, again.status().message());
  EXPECT_OK(cleanup);
  EXPECT_OK(p->BackupHandleLogFile("101", env.log_file));
  EXPECT_OK(p->JobCleanup());
  EXPECT_OK(p->Shutdown());
  auto q = env.Open();
  ASSERT_NE(q, nullptr);
  auto config = q->ArchiveGetGuestConfig(b.volname);
  ASSERT_OK(config) << "the existing backup was harmed";
  EXPECT_EQ(*config, kGuestConfig);
  if (q->HasFeature("list_backups")) {
    auto list = q->ListBackups(std::nullopt);
    ASSERT_OK(list);
    EXPECT_EQ(Volnames(*list), std::vector<std::string>{b.volname});
  }
  EXPECT_OK(q->Shutdown());
  Tree restored;
  ASSERT_NO_FATAL_FAILURE(Restore(env, b.volname, &restored));
  ExpectSameTree(env, restored);
}

// Names that cannot be a guest's: refused by backup_init, nothing stored.
void BackupInitRefusesBadVmids(Env& env) {
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  ASSERT_OK(p->JobInit(kStart));
  for (const std::string vmid : {"", "a/b", "../101", "101\n", "/101"}) {
    auto archive = p->BackupInit(vmid, kStart);
    EXPECT_FALSE(archive.ok()) << "backup_init accepted the vmid '" << vmid
                               << "': " << (archive.ok() ? *archive : "");
  }
  EXPECT_OK(p->JobCleanup());
  if (p->HasFeature("list_backups")) {
    auto list = p->ListBackups(std::nullopt);
    ASSERT_OK(list);
    EXPECT_TRUE(list->empty()) << "something was stored for a refused vmid";
  }
  EXPECT_OK(p->Shutdown());
}

// vzdump calls backup_cleanup(success=false) and backup_handle_log_file even
// for a guest whose backup_init never ran (guest not found: vmtype null).
void CleanupOfAGuestThatNeverStarted(Env& env) {
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  ASSERT_OK(p->JobInit(kStart));
  EXPECT_OK(p->BackupCleanup("4242", false, false, "unable to find configuration of '4242'"));
  EXPECT_OK(p->BackupHandleLogFile("4242", env.log_file));
  EXPECT_OK(p->JobCleanup());
  EXPECT_OK(p->JobCleanup()) << "job_cleanup must be idempotent";
  if (p->HasFeature("list_backups")) {
    auto list = p->ListBackups(std::nullopt);
    ASSERT_OK(list);
    EXPECT_TRUE(list->empty());
  }
  EXPECT_OK(p->Shutdown());
}

// Volume names of no backup: hostile ones, and well-formed ones of each
// built-in layout that do not exist. Every method fails naming the name.
void UnknownVolumesAreErrors(Env& env) {
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  auto list = p->HasFeature("list_backups")
                  ? p->ListBackups(std::nullopt)
                  : Result<std::vector<BackupEntry>>(std::vector<BackupEntry>());
  ASSERT_OK(list);
  EXPECT_TRUE(list->empty()) << "a fresh storage lists backups";
  for (const std::string volname :
       {"no-such-backup", "../../etc/passwd", "vzdump-lxc-101-2020_01_01-00_00_00.tar.zst",
        "ct/101/2020-01-01T00_00_00Z", "101/2020-01-01T00:00:00Z"}) {
    SCOPED_TRACE("volume '" + volname + "'");
    ExpectErrorNaming(p->RestoreGetMechanism(volname), volname, "restore_get_mechanism");
    ExpectErrorNaming(p->ArchiveGetGuestConfig(volname), volname, "archive_get_guest_config");
    EXPECT_FALSE(p->ArchiveGetFirewallConfig(volname).ok()) << "archive_get_firewall_config";
    if (p->HasFeature("delete_backup"))
      ExpectErrorNaming(p->DeleteBackup(volname), volname, "delete_backup");
    if (p->HasFeature("update_attribute")) {
      ExpectErrorNaming(p->UpdateAttribute(volname, "notes", "x"), volname, "update_attribute");
      ExpectErrorNaming(p->UpdateAttribute(volname, "protected", true), volname,
                        "update_attribute");
    }
  }
  EXPECT_OK(p->Shutdown());
}

struct Case {
  const char* name;
  void (*run)(Env&);
};

// In the API's method order; names with "Root" need root.
constexpr Case kCases[] = {
    {"BackupSequenceRoot", BackupSequenceRoot},
    {"ListShowsTheBackupsRoot", ListShowsTheBackupsRoot},
    {"NotesAndProtectionRoundTripRoot", NotesAndProtectionRoundTripRoot},
    {"ProtectedBackupIsNotDeletedRoot", ProtectedBackupIsNotDeletedRoot},
    {"PruneKeepsProtectedRoot", PruneKeepsProtectedRoot},
    {"DeleteRemovesTheBackupRoot", DeleteRemovesTheBackupRoot},
    {"RestoreGivesBackTheTreeRoot", RestoreGivesBackTheTreeRoot},
    {"UnprivilegedBackupRoot", UnprivilegedBackupRoot},
    {"BandwidthLimitIsHonouredRoot", BandwidthLimitIsHonouredRoot},
    {"FailedBackupLeavesNothingRoot", FailedBackupLeavesNothingRoot},
    {"InterruptedBackupIsNotListedRoot", InterruptedBackupIsNotListedRoot},
    {"BackupInitRefusesAnExistingNameRoot", BackupInitRefusesAnExistingNameRoot},
    {"BackupInitRefusesBadVmids", BackupInitRefusesBadVmids},
    {"CleanupOfAGuestThatNeverStarted", CleanupOfAGuestThatNeverStarted},
    {"UnknownVolumesAreErrors", UnknownVolumesAreErrors},
};

}  // namespace

std::vector<std::string> ProviderConformanceCases() {
  std::vector<std::string> out;
  for (const Case& c : kCases) out.emplace_back(c.name);
  return out;
}

void RunProviderConformanceCase(std::string_view name, const ProviderFactory& open) {
  const Case* c = nullptr;
  for (const Case& k : kCases)
    if (name == k.name) c = &k;
  ASSERT_NE(c, nullptr) << "no provider conformance case '" << name << "'";
  SCOPED_TRACE(fmt::format("provider conformance case {}", name));
  const bool root = name.find("Root") != std::string_view::npos;
  if (root && ::geteuid() != 0)
    GTEST_SKIP() << "needs root (the worker's mount namespace, the tree's owners)";
  Env env(open);
  ASSERT_NO_FATAL_FAILURE(env.SetUp());
  if (root) {
    ASSERT_NO_FATAL_FAILURE(env.MakeTree());
  }
  c->run(env);
  if (::testing::Test::HasFailure()) std::cerr << "provider log of the case:\n" << env.obs.All();
}

}  // namespace ctdump::provider
