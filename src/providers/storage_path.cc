#include "providers/storage_path.h"

#include <fmt/format.h>

#include "sys/file.h"

namespace ctdump::providers {

Result<std::string> StoragePath(const Section& section) {
  const std::string& id = section.id;
  auto path = section.Get("path");
  if (!path || path->empty())
    return InvalidArgumentError(fmt::format("storage '{}' has no 'path'", id));
  if ((*path)[0] != '/')
    return InvalidArgumentError(
        fmt::format("storage '{}': path \"{}\" must be an absolute path", id, *path));
  if (!sys::IsDirectory(*path))
    return NotFoundError(fmt::format("storage '{}': path \"{}\" is not a directory", id, *path));
  std::string out = *path;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace ctdump::providers
