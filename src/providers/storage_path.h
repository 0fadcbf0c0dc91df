// The `path` key of the built-in storages (`dir`, `datastore`).
#ifndef CTDUMP_PROVIDERS_STORAGE_PATH_H_
#define CTDUMP_PROVIDERS_STORAGE_PATH_H_

#include <string>

#include "ctdump/section_config.h"
#include "ctdump/status.h"

namespace ctdump::providers {

// Required, absolute and an existing directory; returned without trailing
// slashes. Errors name the storage and the path.
Result<std::string> StoragePath(const Section& section);

}  // namespace ctdump::providers

#endif  // CTDUMP_PROVIDERS_STORAGE_PATH_H_
