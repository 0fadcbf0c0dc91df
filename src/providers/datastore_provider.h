// The built-in deduplicating datastore as a backup target: storage type
// `datastore` (datastore/datastore.h has the layout, docs/formats/ the
// formats).
//
//   datastore: local
//           [backend local]                   (the default: a directory)
//           path /var/lib/ctdump/datastore    (required, absolute, must exist)
//           encryption-key /etc/ctdump/local.key  (optional; ctdump key create)
//           encryption-key-old /etc/ctdump/old.key[,...]  (read only: ctdump key rotate)
//           master-pubkey /etc/ctdump/master-public.pem  (optional; ctdump key
//                          create-master-key: each backup's key wrapped to it)
//           prune-backups keep-last=3          (applied by the job)
//           max-protected-backups 5
//           lock-lease 60                      (s, >= 5: how long a lock outlives its
//                                                holder on a backend with leases)
//
//   datastore: shared                         (many hosts, one Ceph pool)
//           backend rados
//           pool ctdump                       (required; no 'path')
//           ceph-conf /etc/ceph/ceph.conf     (default)
//           username admin                    (default; cephx client.<username>)
//           keyring /etc/ceph/ceph.client.admin.keyring  (default: what ceph.conf says)
//           namespace NAME                    (default: the pool's default namespace)
//           queue-depth 16                    (operations in flight, 1..256)
//           rados-timeout 30                  (s, connect and each operation)
//           max-clock-skew 60                 (s, how far the hosts' clocks may differ:
//                                                librados stamps mtimes with the writer's clock)
//           lock-lease 60                     (s, >= 5 and >= 2 x rados-timeout)
//           [encryption-key ...] [prune-backups ...] as above
//
// Volumes are "ct/<vmid>/<YYYY-MM-DDTHH_MM_SSZ>" (UTC).
//
// Privileges. BackupContainer forks the worker (datastore_worker.h) as the
// container's root in its user namespace: it reads the tree and streams
// records and file data to ctdump over a pipe. ctdump (host root) cuts,
// hashes, compresses, encrypts and stores (datastore/writer.h); the worker
// never holds a descriptor of the store, so it cannot read or change other
// containers' backups. The parent snapshot's metadata goes to the worker's
// stdin for change detection.
//
// Restore streams the snapshot as a tar stream into the safe extraction in
// the new container's user namespace (StreamsRestore): no temporary copy.
#ifndef CTDUMP_PROVIDERS_DATASTORE_PROVIDER_H_
#define CTDUMP_PROVIDERS_DATASTORE_PROVIDER_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ctdump/provider.h"
#include "ctdump/section_config.h"
#include "datastore/datastore.h"
#include "datastore/writer.h"

namespace ctdump::providers {

// Opens the store of a `datastore` section: a local directory (`path`) or a
// RADOS pool (`backend rados`). Never writes: the first backup writes the
// config of an empty store. Errors name the storage, the key and the values
// it takes. `may_prompt` false: a key file that needs its passphrase is
// never loaded (FailedPrecondition naming it), so nothing asks for one (the
// API server).
Result<std::unique_ptr<datastore::Datastore>> OpenDatastore(const Section& section,
                                                            bool may_prompt = true);

class DatastoreProvider : public Provider {
 public:
  static Result<std::unique_ptr<DatastoreProvider>> Create(const Section& section,
                                                           Observer* observer);

  const std::string& storage_id() const override { return storage_id_; }
  const std::string& name() const override { return name_; }
  bool HasFeature(std::string_view feature) const override;
  void SetObserver(Observer* observer) override { observer_ = observer; }

  Status JobInit(int64_t start_time) override { return Status::OK(); }
  Status JobCleanup() override { return Status::OK(); }
  Result<std::string> BackupInit(const std::string& vmid, int64_t start_time) override;
  Result<std::string> BackupGetMechanism(const std::string& vmid) override {
    return std::string("directory");
  }
  Result<nlohmann::json> BackupContainerPrepare(const std::string& vmid,
                                                const BackupInfo& info) override {
    return nlohmann::json();
  }
  Status BackupContainer(const IdMap& map, const BackupContainerRequest& request) override;
  // Suspend mode's first pass over the running container's tree: stored,
  // not published; the next BackupContainer (the container frozen) takes
  // unchanged files from it (docs/design/suspend-live-pass.md).
  bool SupportsLivePass() const override { return true; }
  Status BackupContainerLivePass(const IdMap& map, const BackupContainerRequest& req) override;
  Result<std::optional<uint64_t>> BackupCleanup(const std::string& vmid, bool vmtype_known,
                                                bool success, const std::string& error) override;
  Status BackupHandleLogFile(const std::string& vmid, const std::string& filename) override;
  // Restores are a tar stream (datastore) or file (dir): one mechanism, lossless.
  std::vector<RestoreMechanism> OfferedRestoreMechanisms() const override {
    return {RestoreMechanism::kTar};
  }
  Result<RestoreMechanism> RestoreGetMechanism(const std::string& volname) override;
  Result<std::string> ArchiveGetGuestConfig(const std::string& volname) override;
  Result<std::optional<std::string>> ArchiveGetFirewallConfig(const std::string& volname) override;
  Result<std::string> RestoreContainerInit(const std::string& volname,
                                           RestoreMechanism mechanism) override;
  Status RestoreContainerCleanup(const std::string& volname) override { return Status::OK(); }
  bool StreamsRestore() const override { return true; }
  Status StreamRestore(const std::string& volname, const TarWriteFn& write,
                       const std::function<bool()>& closed) override;
  Result<std::vector<BackupEntry>> ListBackups(const std::optional<std::string>& vmid) override;
  Result<std::optional<std::string>> ReadNotes(const std::string& volname) override;
  Status DeleteBackup(const std::string& volname) override;
  Status UpdateAttribute(const std::string& volname, const std::string& name,
                         const nlohmann::json& value) override;
  Status Shutdown() override { return Status::OK(); }

  // --force-full: read every file, ignoring the parent snapshot.
  void set_force_full(bool on) { force_full_ = on; }
  datastore::Datastore& store() { return *ds_; }

 private:
  DatastoreProvider() = default;
  Result<datastore::Manifest> Manifest(const std::string& volname);

  // The master public key's wrap of the content key, for WriterOptions
  // (nullopt: no master-pubkey, or a plain store). Loaded once.
  Status WrapForMaster(datastore::WriterOptions* wo);
  // Whether `vmid` has a published backup (says why a backup is full).
  bool HasBackups(const std::string& vmid);

  std::string storage_id_;
  std::string name_ = "datastore";
  std::optional<std::string> master_pubkey_;  // storage.cfg master-pubkey
  std::optional<std::string> wrapped_, master_fingerprint_;
  std::unique_ptr<datastore::Datastore> ds_;
  Observer* observer_ = nullptr;
  bool force_full_ = false;
  // The backup lock of a backup in progress, released when the last
  // reference goes.
  struct HeldLock {
    HeldLock(datastore::Datastore* ds, std::string name) : ds(ds), name(std::move(name)) {}
    ~HeldLock() { ds->ReleaseLock(name).IgnoreError(); }
    datastore::Datastore* ds;
    std::string name;
  };
  struct Current {
    std::string volname;
    int64_t start_time = 0;
    std::optional<datastore::Manifest> manifest;
    std::shared_ptr<HeldLock> lock;  // from the first pass until publication or failure
    std::shared_ptr<const datastore::ParentSnapshot> live_parent;  // after a live pass
    int64_t live_start_ns = 0;
  };
  Status BackupPass(const IdMap& map, const BackupContainerRequest& req, bool live);
  std::map<std::string, Current> current_;  // vmid -> its backup in progress
};

}  // namespace ctdump::providers

#endif  // CTDUMP_PROVIDERS_DATASTORE_PROVIDER_H_
