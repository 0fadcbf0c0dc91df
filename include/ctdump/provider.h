// The backup provider API: the method set of Proxmox VE's
// PVE::BackupProvider::Plugin::Base (PVE 8.4) for containers, plus the
// optional listing/retention methods of ctdump's protocol v1.
//
// One interface serves built-in providers (C++ classes) and external ones (an
// adapter speaking docs/provider-protocol.md to an executable). The backup job
// calls, per job and per container (see docs/provider-protocol.md):
//
//   JobInit
//   per container: BackupInit -> BackupGetMechanism -> BackupContainerPrepare
//                  -> BackupContainer (as the container's root, in its user
//                     namespace) -> BackupCleanup -> BackupHandleLogFile
//   JobCleanup (idempotent; may be called twice)
//   Shutdown
//
// A provider object lives for one job (or one restore) and is not thread-safe.
// Errors are the provider's "die": their message is shown to the user as is.
#ifndef CTDUMP_PROVIDER_H_
#define CTDUMP_PROVIDER_H_

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ctdump/idmap.h"
#include "ctdump/observer.h"
#include "ctdump/status.h"

namespace ctdump {

// The INFO object of backup_container_prepare and backup_container.
struct BackupInfo {
  std::string directory;                    // absolute path of the consistent tree
  std::vector<std::string> sources;         // "./", "./<mp>" ... (suspend: ".")
  uint32_t backup_user_id = 0;              // host uid of container root
  std::string firewall_config;              // raw text, may be empty
  std::optional<uint64_t> bandwidth_limit;  // bytes/s; nullopt = unlimited

  nlohmann::json ToJson() const;
};

struct BackupContainerRequest {
  std::string vmid;
  std::string guest_config;
  std::vector<std::string> exclude_patterns;
  BackupInfo info;
  nlohmann::json worker_state;  // what BackupContainerPrepare returned (null if nothing)
  // ctdump's own, not PVE's (never sent to external providers): the tree is
  // a copy, so inode numbers and ctimes say nothing about changes.
  bool tree_is_copy = false;
};

struct BackupEntry {
  std::string volname;
  std::string vmid;
  std::string vmtype = "lxc";
  int64_t ctime = 0;
  std::optional<uint64_t> size;
  std::optional<std::string> notes;
  bool is_protected = false;
};

enum class RestoreMechanism { kTar, kDirectory };
const char* RestoreMechanismName(RestoreMechanism m);  // "tar", "directory"

class Provider {
 public:
  virtual ~Provider() = default;

  virtual const std::string& storage_id() const = 0;
  // provider_name: shown in "starting external backup via <name>".
  virtual const std::string& name() const = 0;
  // External providers' archives are less trusted (PVE: untrusted tar checks,
  // no privileged restore).
  virtual bool external() const { return false; }
  // Optional methods implemented: "list_backups", "delete_backup", "update_attribute".
  virtual bool HasFeature(std::string_view feature) const = 0;
  // Where the provider's log and progress go from now on (the job points it
  // at each container's task log in turn). Not owned; must outlive the calls.
  virtual void SetObserver(Observer* observer) = 0;

  virtual Status JobInit(int64_t start_time) = 0;
  virtual Status JobCleanup() = 0;

  // Returns the archive name. Errors for a result without a usable name use
  // PVE's texts ("did not receive a valid result from the backup provider",
  // "did not receive an archive name from backup provider"); the job checks
  // the characters.
  virtual Result<std::string> BackupInit(const std::string& vmid, int64_t start_time) = 0;
  virtual Result<std::string> BackupGetMechanism(const std::string& vmid) = 0;
  // Runs as host root; returns the worker-state (null when none).
  virtual Result<nlohmann::json> BackupContainerPrepare(const std::string& vmid,
                                                        const BackupInfo& info) = 0;
  // Runs the backup as the container's root inside a user namespace with
  // `map` (host root without one when `map` is empty).
  virtual Status BackupContainer(const IdMap& map, const BackupContainerRequest& request) = 0;
  // Not part of PVE's API: a built-in store that can take suspend mode's
  // first pass over the running container (same request, the live tree),
  // store it without publishing, and take unchanged files from it in the
  // BackupContainer that follows with the container frozen. The job then
  // makes no copy of the tree (docs/design/suspend-live-pass.md).
  virtual bool SupportsLivePass() const { return false; }
  virtual Status BackupContainerLivePass(const IdMap& map, const BackupContainerRequest& request) {
    return FailedPreconditionError("this storage does not take a live first pass");
  }
  // `vmtype_known` false maps to vmtype null (guest not found). Returns the
  // archive size on success (nullopt if the provider gave none).
  virtual Result<std::optional<uint64_t>> BackupCleanup(const std::string& vmid, bool vmtype_known,
                                                        bool success, const std::string& error) = 0;
  virtual Status BackupHandleLogFile(const std::string& vmid, const std::string& filename) = 0;

  // The restore mechanisms the provider offers on request (hello's
  // `restore-mechanisms`, docs/provider-protocol.md §6); empty: it did not
  // say, and a restore uses the one restore_get_mechanism answers.
  virtual std::vector<RestoreMechanism> OfferedRestoreMechanisms() const { return {}; }
  // What a restore through `m` loses by the provider's own declaration
  // (hello's `restore-losses`): "acl", "xattr", "fcaps", "mtime-subsecond",
  // "sparse", "hardlink", "fifo", "device", "root-entry", or a provider's
  // own word. Empty: nothing declared.
  virtual std::vector<std::string> RestoreLosses(RestoreMechanism m) const { return {}; }
  // The mechanism the next restore_get_mechanism and restore_container_init
  // ask for (the optional param `mechanism`); nullopt: the provider's
  // choice. A provider that does not know the param answers with its own.
  virtual void RequestRestoreMechanism(std::optional<RestoreMechanism> m) {}

  // Restore (PVE §6): mechanism and guest type of a backup; its configs; the
  // path of the tar file or directory to extract; cleanup (always called).
  virtual Result<RestoreMechanism> RestoreGetMechanism(const std::string& volname) = 0;
  virtual Result<std::string> ArchiveGetGuestConfig(const std::string& volname) = 0;
  virtual Result<std::optional<std::string>> ArchiveGetFirewallConfig(
      const std::string& volname) = 0;
  // Returns the tar file (kTar) or directory (kDirectory) to extract.
  virtual Result<std::string> RestoreContainerInit(const std::string& volname,
                                                   RestoreMechanism mechanism) = 0;
  virtual Status RestoreContainerCleanup(const std::string& volname) = 0;

  // Built-in stores that produce the restore's tar stream themselves, with
  // no file in between (not part of PVE's API): StreamRestore writes it to
  // `write` until done or `closed()` (the extraction stopped reading).
  using TarWriteFn = std::function<Status(const void* data, size_t size)>;
  virtual bool StreamsRestore() const { return false; }
  virtual Status StreamRestore(const std::string& volname, const TarWriteFn& write,
                               const std::function<bool()>& closed) {
    return FailedPreconditionError("this storage does not stream restores");
  }

  virtual Result<std::vector<BackupEntry>> ListBackups(const std::optional<std::string>& vmid) = 0;
  virtual Status DeleteBackup(const std::string& volname) = 0;
  virtual Status UpdateAttribute(const std::string& volname, const std::string& name,
                                 const nlohmann::json& value) = 0;
  // A backup's whole notes (nullopt: none), for `ctdump notes`. Not part of
  // PVE's provider API (PVE's storage plugins have get_volume_attribute):
  // built-in stores implement it; for the others (FailedPrecondition here)
  // only list_backups' first line is known.
  virtual Result<std::optional<std::string>> ReadNotes(const std::string& volname) {
    return FailedPreconditionError("this storage cannot read a backup's whole notes");
  }

  // Ends the provider (external: `shutdown`, then waits for the process).
  virtual Status Shutdown() = 0;
};

// True for a non-empty archive name of [A-Za-z0-9-.+=_/:] only (PVE's check).
bool IsValidArchiveName(std::string_view name);

}  // namespace ctdump

#endif  // CTDUMP_PROVIDER_H_
