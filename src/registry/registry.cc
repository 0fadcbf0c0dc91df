#include "registry/registry.h"

#include <fmt/format.h>

#include "provider/external_provider.h"
#include "providers/datastore_provider.h"
#include "providers/dir_provider.h"
#include "sys/file.h"

namespace ctdump::registry {

Result<std::vector<Section>> LoadStorageConfig(const std::string& config_dir) {
  std::string path = config_dir + "/storage.cfg";
  // Refuses a FIFO, device or directory in its place (no hang, no endless read).
  auto text = sys::ReadRegularFile(path, kMaxStorageConfigSize);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return std::vector<Section>();
    return text.status();
  }
  return ParseSectionConfig(*text, path);
}

Result<std::unique_ptr<Provider>> OpenStorage(const std::vector<Section>& storages,
                                              const std::string& id, Observer* observer) {
  for (const auto& s : storages) {
    if (s.id != id) continue;
    if (s.type == "provider") {
      ASSIGN_OR_RETURN(auto p, provider::ExternalProvider::Create(s, observer));
      return std::unique_ptr<Provider>(std::move(p));
    }
    if (s.type == "dir") {
      ASSIGN_OR_RETURN(auto p, providers::DirProvider::Create(s, observer));
      return std::unique_ptr<Provider>(std::move(p));
    }
    if (s.type == "datastore") {
      ASSIGN_OR_RETURN(auto p, providers::DatastoreProvider::Create(s, observer));
      return std::unique_ptr<Provider>(std::move(p));
    }
    return InvalidArgumentError(fmt::format("storage '{}' has unknown type '{}'", id, s.type));
  }
  return NotFoundError(fmt::format("storage '{}' does not exist", id));
}

}  // namespace ctdump::registry
