// A backup's attributes after the fact, notes and protection, as PVE's
// `pvesh set /nodes/<node>/storage/<storage>/content/<volid> --protected
// --notes` (PVE::Storage::update_volume_attribute). Used by `ctdump notes`
// and `ctdump protect` (cli/cmd_attributes.cc) and by the API server's
// PUT .../content/{volume} (server/routes_backup.cc), so both check the same.
//
// The value checks (ParseProtectValue, FindBackup, CheckProtectedLimit) are
// pure; OpenAttributeTarget and CheckMayProtect work on a storage.
#ifndef CTDUMP_BACKUP_ATTRIBUTES_H_
#define CTDUMP_BACKUP_ATTRIBUTES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/provider.h"
#include "ctdump/status.h"
#include "registry/registry.h"

namespace ctdump::backup {

// `protect`'s value: "1" or "0"; anything else is InvalidArgument
// "protect: '<value>' is not 0 or 1" (a usage error).
Result<bool> ParseProtectValue(std::string_view value);

// The entry of `volname` in `list` (a storage's ListBackups); NotFound
// "backup '<volname>' does not exist on storage '<storage>'".
Result<const BackupEntry*> FindBackup(const std::vector<BackupEntry>& list,
                                      const std::string& volname, const std::string& storage);

// Whether `target` may become protected under the storage's
// max-protected-backups `max` (-1: unlimited): a backup that is protected
// already always may; else its guest must have fewer than `max` protected
// backups in `list`. FailedPrecondition with PVE's text "The number of
// protected backups per guest is limited to <max> on storage '<storage>'".
Status CheckProtectedLimit(const std::vector<BackupEntry>& list, const BackupEntry& target,
                           int64_t max, const std::string& storage);

// An opened storage and the backup asked for. `entry` points into `list` and
// is set when the provider can list its backups (every built-in one can).
// Not copyable; the caller shuts `provider` down when done.
struct AttributeTarget {
  std::string storage, volname;
  registry::StorageSettings settings;
  std::unique_ptr<Provider> provider;
  std::vector<BackupEntry> list;
  const BackupEntry* entry = nullptr;
};

// Opens storage `storage` of <config_dir>/storage.cfg for an attribute
// change of `volname`: FailedPrecondition when its provider does not
// implement update_attribute; NotFound (FindBackup) when it lists its backups
// and `volname` is not one of them; the registry's errors otherwise.
// `observer` gets the provider's log (not owned; outlives the target).
Result<std::unique_ptr<AttributeTarget>> OpenAttributeTarget(const std::string& config_dir,
                                                             const std::string& storage,
                                                             const std::string& volname,
                                                             Observer* observer);

// Whether the target may become protected: the storage's
// max-protected-backups (CheckProtectedLimit); FailedPrecondition when the
// storage limits them but its provider cannot list its backups.
Status CheckMayProtect(const AttributeTarget& target);

}  // namespace ctdump::backup

#endif  // CTDUMP_BACKUP_ATTRIBUTES_H_
