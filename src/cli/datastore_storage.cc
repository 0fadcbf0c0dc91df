#include "cli/datastore_storage.h"

#include <fmt/format.h>

#include "registry/registry.h"

namespace ctdump::cli {

Result<std::unique_ptr<datastore::Datastore>> OpenDatastoreStorage(const Context& ctx,
                                                                   const std::string& id) {
  ASSIGN_OR_RETURN(auto storages, registry::LoadStorageConfig(ctx.paths.config_dir));
  return registry::OpenDatastore(storages, id);
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
