#include "cli/attributes.h"

#include <fmt/format.h>

#include <algorithm>

namespace ctdump::cli {

Result<bool> ParseProtectValue(std::string_view value) {
  if (value == "1") return true;
  if (value == "0") return false;
  return InvalidArgumentError(fmt::format("protect: '{}' is not 0 or 1", value));
}

Result<const BackupEntry*> FindBackup(const std::vector<BackupEntry>& list,
                                      const std::string& volname, const std::string& storage) {
  for (const auto& b : list)
    if (b.volname == volname) return &b;
  return NotFoundError(fmt::format("backup '{}' does not exist on storage '{}'", volname, storage));
}

Status CheckProtectedLimit(const std::vector<BackupEntry>& list, const BackupEntry& target,
                           int64_t max, const std::string& storage) {
  if (max < 0 || target.is_protected) return Status::OK();
  auto n = std::count_if(list.begin(), list.end(), [&](const BackupEntry& b) {
    return b.vmid == target.vmid && b.vmtype == target.vmtype && b.is_protected;
  });
  if (n < max) return Status::OK();
  return FailedPreconditionError(fmt::format(
      "The number of protected backups per guest is limited to {} on storage '{}'", max, storage));
}

}  // namespace ctdump::cli
