#include "provider/conformance.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <optional>

#include "ctdump/idmap.h"
#include "provider/conformance_env.h"
#include "sys/file.h"
#include "sys/signals.h"
#include "sys/subprocess.h"

namespace ctdump::provider {
namespace {

using conformance::BackupGuest;
using conformance::BackupJob;
using conformance::BackupOutcome;
using conformance::Env;
using conformance::ExpectErrorNaming;
using conformance::ExpectSameTree;
using conformance::Find;
using conformance::kDataSize;
using conformance::kDay;
using conformance::kFirewall;
using conformance::kGuestConfig;
using conformance::kNotes;
using conformance::kStart;
using conformance::List;
using conformance::Restore;
using conformance::ScanDirectory;
using conformance::Tree;
using conformance::Volnames;

using json = nlohmann::json;

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
// second restore gives the same. Each mechanism the provider offers
// (hello's restore-mechanisms) is asked for in turn and must be honoured;
// one with declared losses (restore-losses) is left to `ctdump
// provider-test`, which knows which differences they excuse.
void RestoreGivesBackTheTreeRoot(Env& env) {
  BackupOutcome b;
  ASSERT_NO_FATAL_FAILURE(BackupJob(env, "101", kStart, &b));
  for (int i = 0; i < 2; ++i) {
    Tree restored;
    ASSERT_NO_FATAL_FAILURE(Restore(env, b.volname, &restored));
    ExpectSameTree(env, restored);
  }
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  std::vector<RestoreMechanism> offered = p->OfferedRestoreMechanisms();
  std::vector<std::vector<std::string>> losses;
  for (RestoreMechanism m : offered) losses.push_back(p->RestoreLosses(m));
  EXPECT_OK(p->Shutdown());
  for (size_t i = 0; i < offered.size(); ++i) {
    Tree restored;
    ASSERT_NO_FATAL_FAILURE(Restore(env, b.volname, &restored, offered[i]));
    if (losses[i].empty()) ExpectSameTree(env, restored);
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
