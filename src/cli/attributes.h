// The checks behind `ctdump protect` and `ctdump notes` (cmd_attributes.cc),
// pure so that they are tested without a storage: PVE's
// `pvesh set /nodes/<node>/storage/<storage>/content/<volid> --protected
// --notes` as PVE::Storage::update_volume_attribute does them.
#ifndef CTDUMP_CLI_ATTRIBUTES_H_
#define CTDUMP_CLI_ATTRIBUTES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/provider.h"
#include "ctdump/status.h"

namespace ctdump::cli {

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

}  // namespace ctdump::cli

#endif  // CTDUMP_CLI_ATTRIBUTES_H_
