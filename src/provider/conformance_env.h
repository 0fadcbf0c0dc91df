// The provider conformance suite's shared environment (conformance.h): one
// case's world (a fresh storage, the container tree, the provider's log),
// the backup job's calls in its order, listings of a new provider object,
// and the restore as `ctdump restore` reads it, compared with the tree.
// GoogleTest assertions: test binaries only.
#ifndef CTDUMP_PROVIDER_CONFORMANCE_ENV_H_
#define CTDUMP_PROVIDER_CONFORMANCE_ENV_H_

#include <gtest/gtest.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/idmap.h"
#include "ctdump/observer.h"
#include "ctdump/provider.h"
#include "ctdump/status.h"
#include "provider/conformance.h"
#include "provider/conformance_tree.h"

namespace ctdump::provider::conformance {

inline const Status& StatusOf(const Status& s) { return s; }
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

#define EXPECT_OK(expr) EXPECT_TRUE(::ctdump::provider::conformance::IsOk(expr))
#define ASSERT_OK(expr) ASSERT_TRUE(::ctdump::provider::conformance::IsOk(expr))

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
constexpr size_t kDataSize = 64 << 10;
constexpr char kGuestConfig[] =
    "arch: amd64\nhostname: ct-conformance\nmemory: 512\nostype: debian\n"
    "rootfs: local:101/vm-101-disk-0.raw,size=8G\n";
constexpr char kFirewall[] = "[OPTIONS]\nenable: 1\n";
constexpr char kNotes[] =
    "nightly \xe2\x80\x94 Gr\xc3\xbc\xc3\x9f"
    "e \xe6\x97\xa5\xe6\x9c\xac";

// The provider's log (printed when a case fails) and its count of warnings.
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
  explicit Env(const ProviderFactory& factory);
  ~Env();

  // A fresh storage directory and task log under /var/tmp (removed by the
  // destructor).
  void SetUp();

  // A new provider object on this case's storage; null after a failure.
  std::unique_ptr<Provider> Open();

  // The container's tree (as root: owners and modes are part of it), its
  // owners shifted by `id_base`, the host id of container root, and backed
  // up with `map` (empty: a privileged container).
  void MakeTree(uint32_t id_base = 0, IdMap id_map = IdMap());

  // The backup_container request of the job for `vmid` on the tree.
  BackupContainerRequest Request(const std::string& vmid) const;

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
                 const std::optional<std::string>& notes = std::nullopt, bool protect = false);

// A whole job of one guest on a new provider object.
void BackupJob(Env& env, const std::string& vmid, int64_t start, BackupOutcome* out,
               const std::optional<std::string>& notes = std::nullopt, bool protect = false);

// The listing of a new provider object.
std::vector<BackupEntry> List(Env& env, const std::optional<std::string>& vmid);

// The volume names of `list`, sorted.
std::vector<std::string> Volnames(const std::vector<BackupEntry>& list);

// The entry of `list` named `volname`; null if there is none.
const BackupEntry* Find(const std::vector<BackupEntry>& list, const std::string& volname);

// Restores `volname` as `ctdump restore` does (restore/restore.cc): a
// provider object of its own, restore_get_mechanism, then the stream of a
// built-in store or restore_container_init's tar file or directory, and
// restore_container_cleanup always. What the extraction would get is read
// into `out` (container-perspective owners, as the protocol says).
// With `mechanism`, the restore asks for it (RequestRestoreMechanism) and
// the provider must answer with it.
void Restore(Env& env, const std::string& volname, Tree* out,
             std::optional<RestoreMechanism> mechanism = std::nullopt);

// The restored tree must be the backed-up one: every entry with its type,
// mode, owners, mtime, content or symlink target, the hardlink as one; the
// excluded file absent. A dir-style archive's ./etc/vzdump/ members (the
// configs vzdump writes into the archive) are allowed on top.
void ExpectSameTree(Env& env, Tree got);

}  // namespace ctdump::provider::conformance

#endif  // CTDUMP_PROVIDER_CONFORMANCE_ENV_H_
