// The conformance suite can fail: each case run on a `dir` provider behind a
// decorator with one fault (a broken listing, an ignored protection, a lost
// exclusion, ...) must report failures; a provider without the optional
// methods is skipped with a message. Test names contain "Root": the cases
// back up as root.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <set>

#include "provider/conformance.h"
#include "providers/dir_provider.h"
#include "sys/file.h"

namespace ctdump::providers {
namespace {

using json = nlohmann::json;

enum class Fault {
  kNone,
  kWrongCtime,    // list_backups: ctime one second off
  kNoVmidFilter,  // list_backups(vmid) lists every guest
  kNotesDropped,  // update_attribute("notes") does nothing
  kDeleteIgnoresProtection,
  kDeleteDoesNothing,
  kExclusionsIgnored,   // backup_container backs up what it should exclude
  kHardlinkLost,        // the hardlink is excluded from the backup
  kErrorsSwallowed,     // backup_container reports success after a failure
  kExistingNameReused,  // backup_init of an existing name returns it
  kAnyVmid,             // backup_init accepts any vmid
  kJobCleanupOnce,      // a second job_cleanup fails
  kCleanupWithoutInitFails,
  kErrorsWithoutName,  // errors do not say which volume
  kTinySize,           // backup_cleanup reports one byte
  kGuestConfigChanged,
  kNoOptionalMethods,
  kWorkerAsHostRoot,  // backup_container ignores the container's ID map
  kNoBandwidthLimit,  // backup_container ignores info.bandwidth-limit
  kPartialPublished,  // a failed backup_container leaves its archive
};

class FaultyProvider : public Provider {
 public:
  FaultyProvider(std::unique_ptr<DirProvider> inner, Fault fault)
      : dir_(inner.get()), p_(std::move(inner)), fault_(fault) {}

  const std::string& storage_id() const override { return p_->storage_id(); }
  const std::string& name() const override { return p_->name(); }
  bool HasFeature(std::string_view f) const override {
    return fault_ != Fault::kNoOptionalMethods && p_->HasFeature(f);
  }
  void SetObserver(Observer* o) override { p_->SetObserver(o); }
  Status JobInit(int64_t t) override { return p_->JobInit(t); }
  Status JobCleanup() override {
    if (fault_ == Fault::kJobCleanupOnce && cleaned_) return InternalError("cleaned up already");
    cleaned_ = true;
    return p_->JobCleanup();
  }
  Result<std::string> BackupInit(const std::string& vmid, int64_t t) override {
    if (fault_ == Fault::kAnyVmid) return p_->BackupInit("4711", t);
    auto r = p_->BackupInit(vmid, t);
    if (r.ok()) archive_ = *r;
    if (!r.ok() && fault_ == Fault::kExistingNameReused) {
      auto list = p_->ListBackups(vmid);
      if (list.ok() && !list->empty()) return (*list)[0].volname;
    }
    return r;
  }
  Result<std::string> BackupGetMechanism(const std::string& vmid) override {
    return p_->BackupGetMechanism(vmid);
  }
  Result<json> BackupContainerPrepare(const std::string& vmid, const BackupInfo& i) override {
    return p_->BackupContainerPrepare(vmid, i);
  }
  Status BackupContainer(const IdMap& map, const BackupContainerRequest& req) override {
    BackupContainerRequest r = req;
    if (fault_ == Fault::kExclusionsIgnored) r.exclude_patterns.clear();
    if (fault_ == Fault::kHardlinkLost) r.exclude_patterns.push_back("/data/hardlink");
    if (fault_ == Fault::kNoBandwidthLimit) r.info.bandwidth_limit.reset();
    Status s = p_->BackupContainer(fault_ == Fault::kWorkerAsHostRoot ? IdMap() : map, r);
    if (!s.ok() && fault_ == Fault::kPartialPublished)
      sys::WriteFileAtomic(dir_->dump_dir() + "/" + archive_, "partial").IgnoreError();
    return fault_ == Fault::kErrorsSwallowed ? Status::OK() : s;
  }
  Result<std::optional<uint64_t>> BackupCleanup(const std::string& vmid, bool known, bool success,
                                                const std::string& error) override {
    if (fault_ == Fault::kCleanupWithoutInitFails && !known) return InternalError("who?");
    auto r = p_->BackupCleanup(vmid, known, success, error);
    if (r.ok() && success && fault_ == Fault::kTinySize) return std::optional<uint64_t>(1);
    return r;
  }
  Status BackupHandleLogFile(const std::string& vmid, const std::string& f) override {
    return p_->BackupHandleLogFile(vmid, f);
  }
  Result<RestoreMechanism> RestoreGetMechanism(const std::string& v) override {
    return Named(p_->RestoreGetMechanism(v));
  }
  Result<std::string> ArchiveGetGuestConfig(const std::string& v) override {
    auto r = p_->ArchiveGetGuestConfig(v);
    if (r.ok() && fault_ == Fault::kGuestConfigChanged) return *r + "lock: backup\n";
    return Named(std::move(r));
  }
  Result<std::optional<std::string>> ArchiveGetFirewallConfig(const std::string& v) override {
    return p_->ArchiveGetFirewallConfig(v);
  }
  Result<std::string> RestoreContainerInit(const std::string& v, RestoreMechanism m) override {
    return p_->RestoreContainerInit(v, m);
  }
  Status RestoreContainerCleanup(const std::string& v) override {
    return p_->RestoreContainerCleanup(v);
  }
  Result<std::vector<BackupEntry>> ListBackups(const std::optional<std::string>& vmid) override {
    auto r = p_->ListBackups(fault_ == Fault::kNoVmidFilter ? std::nullopt : vmid);
    if (r.ok() && fault_ == Fault::kWrongCtime)
      for (auto& e : *r) e.ctime += 1;
    return r;
  }
  Status DeleteBackup(const std::string& v) override {
    if (fault_ == Fault::kDeleteDoesNothing) return Status::OK();
    if (fault_ == Fault::kDeleteIgnoresProtection)
      p_->UpdateAttribute(v, "protected", false).IgnoreError();
    return Named(p_->DeleteBackup(v));
  }
  Status UpdateAttribute(const std::string& v, const std::string& n, const json& value) override {
    if (fault_ == Fault::kNotesDropped && n == "notes") return Status::OK();
    return Named(p_->UpdateAttribute(v, n, value));
  }
  Status Shutdown() override { return p_->Shutdown(); }

 private:
  template <typename R>
  R Named(R r) {
    if (fault_ == Fault::kErrorsWithoutName && !r.ok()) return InternalError("it failed");
    return r;
  }
  Status Named(Status s) {
    if (fault_ == Fault::kErrorsWithoutName && !s.ok()) return InternalError("it failed");
    return s;
  }

  DirProvider* dir_;
  std::unique_ptr<Provider> p_;
  Fault fault_;
  std::string archive_;
  bool cleaned_ = false;
};

provider::ProviderFactory Faulty(Fault fault) {
  return [fault](const std::string& dir, Observer* obs) -> Result<std::unique_ptr<Provider>> {
    ASSIGN_OR_RETURN(auto p, DirProvider::Create({"dir", "faulty", {{"path", dir}}}, obs));
    return std::unique_ptr<Provider>(new FaultyProvider(std::move(p), fault));
  };
}

struct Outcome {
  int failures = 0;
  int skips = 0;
  std::string messages;
};

// Runs a case with the fault and collects what it reported instead of
// failing this test.
Outcome RunWithFault(const std::string& name, Fault fault) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    provider::RunProviderConformanceCase(name, Faulty(fault));
  }
  Outcome o;
  for (int i = 0; i < results.size(); ++i) {
    const auto& r = results.GetTestPartResult(i);
    if (r.skipped())
      ++o.skips;
    else if (r.failed())
      ++o.failures;
    o.messages += std::string(r.message()) + "\n";
  }
  return o;
}

class FaultyConformanceRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the cases back up as root";
  }
};

TEST_F(FaultyConformanceRoot, TheUnbrokenProviderPassesEveryCase) {
  for (const auto& name : provider::ProviderConformanceCases()) {
    Outcome o = RunWithFault(name, Fault::kNone);
    EXPECT_EQ(o.failures + o.skips, 0) << name << ":\n" << o.messages;
  }
}

TEST_F(FaultyConformanceRoot, EachFaultFailsItsCase) {
  struct {
    const char* name;
    Fault fault;
    const char* message;  // a part of one failure's message
  } cases[] = {
      {"ListShowsTheBackupsRoot", Fault::kWrongCtime, "ctime must be backup_init's start time"},
      {"ListShowsTheBackupsRoot", Fault::kNoVmidFilter, "must list that guest's only"},
      {"NotesAndProtectionRoundTripRoot", Fault::kNotesDropped, "nightly"},
      {"ProtectedBackupIsNotDeletedRoot", Fault::kDeleteIgnoresProtection,
       "a protected backup was deleted"},
      {"PruneKeepsProtectedRoot", Fault::kDeleteIgnoresProtection,
       "a protected backup was deleted"},
      {"DeleteRemovesTheBackupRoot", Fault::kDeleteDoesNothing, "deleting a deleted backup"},
      {"RestoreGivesBackTheTreeRoot", Fault::kExclusionsIgnored, "not in the backup, but restored"},
      {"RestoreGivesBackTheTreeRoot", Fault::kHardlinkLost, "missing after restore: data/hardlink"},
      {"FailedBackupLeavesNothingRoot", Fault::kErrorsSwallowed,
       "of a missing directory succeeded"},
      {"BackupInitRefusesAnExistingNameRoot", Fault::kExistingNameReused,
       "backup_init of an existing backup succeeded"},
      {"BackupInitRefusesBadVmids", Fault::kAnyVmid, "backup_init accepted the vmid 'a/b'"},
      {"BackupSequenceRoot", Fault::kJobCleanupOnce, "job_cleanup must be idempotent"},
      {"CleanupOfAGuestThatNeverStarted", Fault::kCleanupWithoutInitFails, "who?"},
      {"UnknownVolumesAreErrors", Fault::kErrorsWithoutName, "the error does not name"},
      {"BackupSequenceRoot", Fault::kTinySize, "archive-size is smaller than the data"},
      {"BackupSequenceRoot", Fault::kGuestConfigChanged, "lock: backup"},
      {"UnprivilegedBackupRoot", Fault::kWorkerAsHostRoot, "owner=100000:100000"},
      {"BandwidthLimitIsHonouredRoot", Fault::kNoBandwidthLimit, "64 KiB at 32 KiB/s took"},
      {"InterruptedBackupIsNotListedRoot", Fault::kPartialPublished,
       "an interrupted backup is listed"},
  };
  std::set<std::string> covered;
  for (const auto& c : cases) {
    Outcome o = RunWithFault(c.name, c.fault);
    EXPECT_GT(o.failures, 0) << c.name << " passed with fault " << static_cast<int>(c.fault);
    EXPECT_NE(o.messages.find(c.message), std::string::npos)
        << c.name << ": no failure says \"" << c.message << "\":\n"
        << o.messages;
    covered.insert(c.name);
  }
  for (const auto& name : provider::ProviderConformanceCases())
    EXPECT_TRUE(covered.count(name)) << "no fault shows that case " << name << " can fail";
}

TEST_F(FaultyConformanceRoot, UnclaimedFeaturesAreSkippedWithAMessage) {
  for (const char* name : {"ListShowsTheBackupsRoot", "NotesAndProtectionRoundTripRoot",
                           "ProtectedBackupIsNotDeletedRoot", "PruneKeepsProtectedRoot",
                           "DeleteRemovesTheBackupRoot"}) {
    Outcome o = RunWithFault(name, Fault::kNoOptionalMethods);
    EXPECT_EQ(o.failures, 0) << name << ":\n" << o.messages;
    EXPECT_EQ(o.skips, 1) << name;
    EXPECT_NE(o.messages.find("does not claim the optional method(s)"), std::string::npos)
        << o.messages;
  }
  // The cases that need no optional method still run.
  Outcome o = RunWithFault("RestoreGivesBackTheTreeRoot", Fault::kNoOptionalMethods);
  EXPECT_EQ(o.failures + o.skips, 0) << o.messages;
}

}  // namespace
}  // namespace ctdump::providers
