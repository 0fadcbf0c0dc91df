// Storage configuration -> provider objects.
//
// <config-dir>/storage.cfg holds one section per storage, in Proxmox
// section-config syntax. Type `provider` is an external provider, type `dir`
// the built-in vzdump-compatible archive store (providers/dir_provider.h),
// type `datastore` the built-in deduplicating store
// (providers/datastore_provider.h). This is the one place that knows the
// concrete provider classes: everything above it sees ctdump::Provider, the
// settings every storage type has (StorageSettings) and, for a backup job,
// the job options only some storages use (BackupJobSettings), handed to the
// provider here when it is created.
#ifndef CTDUMP_REGISTRY_REGISTRY_H_
#define CTDUMP_REGISTRY_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/provider.h"
#include "ctdump/prune.h"
#include "ctdump/section_config.h"
#include "datastore/datastore.h"

namespace ctdump::registry {

// storage.cfg larger than this is refused (PVE's hold a few KiB).
inline constexpr size_t kMaxStorageConfigSize = 4 << 20;

// The sections of one storage.cfg, and where it is: the functions below
// that take one name the file when a storage is not found (first-run help).
// A plain std::vector<Section> works everywhere too, without the file.
struct StorageConfig : std::vector<Section> {
  std::string path;     // <config_dir>/storage.cfg
  bool exists = false;  // false: there is no such file (an empty configuration)
};

// Reads <config_dir>/storage.cfg; a missing file is an empty configuration.
// Anything but a regular file of at most kMaxStorageConfigSize (a FIFO, a
// device such as a symlink to /dev/zero, a directory) is an error naming it.
Result<StorageConfig> LoadStorageConfig(const std::string& config_dir);

// The section of storage `id`; NotFound "storage '<id>' does not exist".
Result<const Section*> FindStorage(const std::vector<Section>& storages, const std::string& id);
// The same, and the error goes on to name the file: when it is missing,
// ": no storage.cfg at <path>; create it, e.g. with the line "dir: <id>" and
// below it the indented line "path /var/lib/vz"" (one line; 'local' for an
// id that could not be one); else " in <path> (it has: a, b)" or ": <path>
// has no storages".
Result<const Section*> FindStorage(const StorageConfig& config, const std::string& id);

// Creates the provider of storage `id` (starting it, for external ones).
// NotFound "storage '<id>' does not exist" when no section has that id (with
// a StorageConfig, naming the file as FindStorage does).
Result<std::unique_ptr<Provider>> OpenStorage(const std::vector<Section>& storages,
                                              const std::string& id, Observer* observer);
Result<std::unique_ptr<Provider>> OpenStorage(const StorageConfig& config, const std::string& id,
                                              Observer* observer);
// The same for storage `id` of <config_dir>/storage.cfg.
Result<std::unique_ptr<Provider>> OpenStorage(const std::string& config_dir, const std::string& id,
                                              Observer* observer);

// The store of datastore storage `id` itself, for the commands that work on
// it rather than through the provider interface (verify, gc, catalog,
// restore-file, mount). NotFound as FindStorage; InvalidArgument "storage
// '<id>' is of type '<type>', not a datastore" for a storage of another type.
// `may_prompt` false: no key file that needs a passphrase is loaded (a read
// of a snapshot under one fails naming it), so nothing asks for one (the API
// server, which has no one to ask).
Result<std::unique_ptr<datastore::Datastore>> OpenDatastore(const std::vector<Section>& storages,
                                                            const std::string& id,
                                                            bool may_prompt = true);
Result<std::unique_ptr<datastore::Datastore>> OpenDatastore(const StorageConfig& config,
                                                            const std::string& id,
                                                            bool may_prompt = true);

// The keys of a section that every storage type has, checked.
struct StorageSettings {
  std::optional<PruneOptions> prune;  // prune-backups; nullopt when unset
  int64_t max_protected = -1;         // max-protected-backups; -1 (unset): unlimited
};

// Errors name the storage and the key ("storage '<id>': prune-backups: ...").
Result<StorageSettings> ParseStorageSettings(const Section& section);

// A backup job's options that only some storages use. The registry gives
// them to the provider it creates; the others log that they ignore them.
struct BackupJobSettings {
  // vzdump's compress, normalized (none, lzo, gzip, zstd): overrides a dir
  // storage's `compress`; nullopt: the storage's.
  std::optional<std::string> compress;
  std::optional<uint32_t> zstd_threads;  // overrides a dir storage's `zstd`
  bool force_full = false;               // datastore: read every file, ignore the parent
};

// A storage opened for a backup job.
struct BackupStorage {
  std::unique_ptr<Provider> provider;
  StorageSettings settings;
  // Where the files go when the storage is a directory of vzdump files (a
  // dir storage's <path>/dump, --dumpdir): the hook scripts' DUMPDIR.
  // Empty for the other storages.
  std::string dump_dir;
};

// Storage `id` of <config_dir>/storage.cfg. A configuration that cannot be
// read and a provider that cannot be created are "could not get storage
// information for '<id>': ..." (vzdump's words); bad settings name the key.
Result<BackupStorage> OpenBackupStorage(const std::string& config_dir, const std::string& id,
                                        const BackupJobSettings& job, Observer* observer);

// vzdump's --dumpdir: the dir storage's files straight in `dir`, which must
// exist; no storage settings.
Result<BackupStorage> OpenDumpDir(const std::string& dir, const BackupJobSettings& job,
                                  Observer* observer);

}  // namespace ctdump::registry

#endif  // CTDUMP_REGISTRY_REGISTRY_H_
