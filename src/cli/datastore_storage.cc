#include "cli/datastore_storage.h"

#include <fmt/format.h>

#include "providers/datastore_provider.h"
#include "registry/registry.h"

namespace ctdump::cli {

Result<std::unique_ptr<datastore::Datastore>> OpenDatastoreStorage(const Context& ctx,
                                                                   const std::string& id) {
  ASSIGN_OR_RETURN(auto storages, registry::LoadStorageConfig(ctx.paths.config_dir));
  const Section* s = FindStorageSection(storages, id);
  if (!s) return NotFoundError(fmt::format("storage '{}' does not exist", id));
  if (s->type != "datastore")
    return InvalidArgumentError(
        fmt::format("storage '{}' is of type '{}', not a datastore", id, s->type));
  // The registry opens providers, not the store beneath one: the one call
  // into providers/ left in the cli.
  return providers::OpenDatastore(*s);
}

Result<DatastoreVolume> OpenDatastoreVolume(const Context& ctx, const std::string& volid) {
  ASSIGN_OR_RETURN(auto parts, SplitVolumeId(volid));
  DatastoreVolume v;
  ASSIGN_OR_RETURN(v.ds, OpenDatastoreStorage(ctx, parts.first));
  v.volname = parts.second;
  RETURN_IF_ERROR(datastore::ParseVolume(v.volname).status());
  return v;
}

}  // namespace ctdump::cli
