// The built-in archive target: storage type `dir`, vzdump's file layout.
//
//   dir: backups
//           path /mnt/backup            (required, absolute, must exist)
//           compress zstd               (zstd | gzip | none; default zstd)
//           zstd 1                      (zstd threads, 0 = half the cores; default 1)
//           prune-backups keep-last=3   (validated here, applied by the job)
//           max-protected-backups 5     (validated here, applied by the job)
//
// Files in <path>/dump/, exactly as vzdump writes them:
//   vzdump-lxc-<vmid>-YYYY_MM_DD-HH_MM_SS.tar.zst   the archive (local time of
//                                                   backup_init's start time)
//   vzdump-lxc-<vmid>-YYYY_MM_DD-HH_MM_SS.log       the task log
//   <archive>.notes, <archive>.protected            sidecars (protected: empty)
//   <archive>.tmp                                   while the backup runs
// The volname of a backup is its archive file name.
//
// Privileges. BackupContainer forks a worker that becomes the container's
// root in its user namespace and writes the tar stream (tree_writer) to a
// pipe; warnings, its error and progress come back on its stderr as lines
// ("W <text>", "E <code> <text>", "P <bytes> <files>"). ctdump itself (host root)
// writes the pipe's bytes to <archive>.tmp: the worker never holds a
// writable descriptor of the store. BackupCleanup publishes the .tmp with a
// rename (success) or removes it (failure), so a finished archive name never
// refers to a partial file.
//
// Restore: mechanism `tar`, the archive file itself; the guest and firewall
// configs are the archive's leading ./etc/vzdump/pct.conf and pct.fw.
//
// A DirProvider serves one job or one restore and is not thread-safe.
#ifndef CTDUMP_PROVIDERS_DIR_PROVIDER_H_
#define CTDUMP_PROVIDERS_DIR_PROVIDER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "archive/tree_writer.h"
#include "ctdump/provider.h"
#include "ctdump/prune.h"
#include "ctdump/section_config.h"
#include "sys/subprocess.h"

namespace ctdump::providers {

// The parts of a backup's file name.
struct BackupName {
  std::string vmid;
  int64_t ctime = 0;  // from the name, read as local time
};

// "vzdump-lxc-<vmid>-YYYY_MM_DD-HH_MM_SS" for `ctime` in local time.
std::string BackupBaseName(const std::string& vmid, int64_t ctime);

// Parses an archive name "vzdump-lxc-<vmid>-YYYY_MM_DD-HH_MM_SS.tar{,.zst,.gz}";
// nullopt for anything else (sidecars, temp files, other guests' types,
// names with '/').
std::optional<BackupName> ParseBackupName(std::string_view volname);

class DirProvider : public Provider {
 public:
  // `section` is a storage.cfg section (type `dir`). Errors name the storage
  // and the offending key.
  static Result<std::unique_ptr<DirProvider>> Create(const Section& section, Observer* observer);
  ~DirProvider() override;

  const std::string& storage_id() const override { return storage_id_; }
  const std::string& name() const override { return name_; }
  bool HasFeature(std::string_view feature) const override;
  void SetObserver(Observer* observer) override { observer_ = observer; }

  // Removes incomplete archives (*.tmp) an interrupted job left: jobs on one
  // host are serialized by the global lock, so none of them is being written.
  Status JobInit(int64_t start_time) override;
  Status JobCleanup() override { return Status::OK(); }
  Result<std::string> BackupInit(const std::string& vmid, int64_t start_time) override;
  Result<std::string> BackupGetMechanism(const std::string& vmid) override;
  Result<nlohmann::json> BackupContainerPrepare(const std::string& vmid,
                                                const BackupInfo& info) override;
  Status BackupContainer(const IdMap& map, const BackupContainerRequest& request) override;
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
  Result<std::vector<BackupEntry>> ListBackups(const std::optional<std::string>& vmid) override;
  Result<std::optional<std::string>> ReadNotes(const std::string& volname) override;
  Status DeleteBackup(const std::string& volname) override;
  Status UpdateAttribute(const std::string& volname, const std::string& name,
                         const nlohmann::json& value) override;
  Status Shutdown() override { return Status::OK(); }

  // <path>/dump
  const std::string& dump_dir() const { return dump_dir_; }
  // vzdump's dumpdir: the files go straight into `dir` instead of <path>/dump.
  void set_dump_dir(std::string dir) { dump_dir_ = std::move(dir); }
  archive::Compression compression() const { return compression_; }
  // The job's --compress / --zstd override the storage's keys (vzdump's
  // options; ignored for external providers, as in PVE).
  void set_compression(archive::Compression c) { compression_ = c; }
  // The same by vzdump's normalized name (none, lzo, gzip, zstd).
  Status OverrideCompression(const std::string& name) {
    auto c = archive::ParseCompression(name);
    if (!c.ok()) return c.status();
    compression_ = *c;
    return Status::OK();
  }
  void set_zstd_threads(int n) { zstd_threads_ = n; }
  int zstd_threads() const { return zstd_threads_; }
  // The storage's retention and protection limit (nullopt / -1 when unset).
  const std::optional<PruneOptions>& prune_options() const { return prune_; }
  int64_t max_protected_backups() const { return max_protected_; }

 private:
  DirProvider() = default;
  Status ParseOptions(const Section& section);
  // The path of `volname` in dump/ after checking that it names a backup.
  Result<std::string> BackupPath(const std::string& volname) const;
  Result<std::map<std::string, std::string>> ReadLeadingFiles(const std::string& volname);

  std::string storage_id_;
  std::string name_ = "dir";
  std::string path_;
  std::string dump_dir_;
  archive::Compression compression_ = archive::Compression::kZstd;
  int zstd_threads_ = 1;
  std::optional<PruneOptions> prune_;
  int64_t max_protected_ = -1;
  Observer* observer_ = nullptr;
  std::map<std::string, std::string> archives_;  // vmid -> archive of its current backup
};

}  // namespace ctdump::providers

#endif  // CTDUMP_PROVIDERS_DIR_PROVIDER_H_
