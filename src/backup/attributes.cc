#include "backup/attributes.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace ctdump::backup {

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

Result<std::unique_ptr<AttributeTarget>> OpenAttributeTarget(const std::string& config_dir,
                                                             const std::string& storage,
                                                             const std::string& volname,
                                                             Observer* observer) {
  auto t = std::make_unique<AttributeTarget>();
  t->storage = storage;
  t->volname = volname;
  ASSIGN_OR_RETURN(auto config, registry::LoadStorageConfig(config_dir));
  ASSIGN_OR_RETURN(const Section* section, registry::FindStorage(config, storage));
  ASSIGN_OR_RETURN(t->settings, registry::ParseStorageSettings(*section));
  ASSIGN_OR_RETURN(t->provider, registry::OpenStorage(config, storage, observer));
  Status s = Status::OK();
  if (!t->provider->HasFeature("update_attribute")) {
    s = FailedPreconditionError(fmt::format(
        "storage '{}' (type '{}') does not support notes or protection: its provider does not "
        "implement update_attribute",
        storage, section->type));
  } else if (t->provider->HasFeature("list_backups")) {
    auto list = t->provider->ListBackups(std::nullopt);
    if (list.ok()) {
      t->list = std::move(*list);
      auto entry = FindBackup(t->list, volname, storage);
      if (entry.ok()) t->entry = *entry;
      s = entry.status();
    } else {
      s = list.status();
    }
  }
  if (!s.ok()) {
    (void)t->provider->Shutdown();  // the first error is the one to report
    return s;
  }
  return t;
}

Status CheckMayProtect(const AttributeTarget& t) {
  if (t.settings.max_protected < 0) return Status::OK();
  if (!t.entry)
    return FailedPreconditionError(fmt::format(
        "storage '{}' limits protected backups (max-protected-backups {}) but its provider "
        "cannot list them",
        t.storage, t.settings.max_protected));
  return CheckProtectedLimit(t.list, *t.entry, t.settings.max_protected, t.storage);
}

}  // namespace ctdump::backup
