// Storage configuration -> provider objects.
//
// <config-dir>/storage.cfg holds one section per storage, in Proxmox
// section-config syntax. Type `provider` is an external provider, type `dir`
// the built-in vzdump-compatible archive store (builtin/dir_provider.h), type
// `datastore` the built-in deduplicating store (builtin/datastore_provider.h).
#ifndef CTDUMP_REGISTRY_REGISTRY_H_
#define CTDUMP_REGISTRY_REGISTRY_H_

#include <memory>
#include <string>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/provider.h"
#include "ctdump/section_config.h"

namespace ctdump::registry {

// storage.cfg larger than this is refused (PVE's hold a few KiB).
inline constexpr size_t kMaxStorageConfigSize = 4 << 20;

// Reads <config_dir>/storage.cfg; a missing file is an empty configuration.
// Anything but a regular file of at most kMaxStorageConfigSize (a FIFO, a
// device such as a symlink to /dev/zero, a directory) is an error naming it.
Result<std::vector<Section>> LoadStorageConfig(const std::string& config_dir);

// Creates the provider of storage `id` (starting it, for external ones).
// NotFound "storage '<id>' does not exist" when no section has that id.
Result<std::unique_ptr<Provider>> OpenStorage(const std::vector<Section>& storages,
                                              const std::string& id, Observer* observer);

}  // namespace ctdump::registry

#endif  // CTDUMP_REGISTRY_REGISTRY_H_
