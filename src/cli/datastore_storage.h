// The datastore behind a storage id, for the commands that work on the store
// itself rather than through the provider interface (verify, gc, catalog,
// restore-file, mount).
#ifndef CTDUMP_CLI_DATASTORE_STORAGE_H_
#define CTDUMP_CLI_DATASTORE_STORAGE_H_

#include <memory>
#include <string>

#include "cli/command.h"
#include "datastore/datastore.h"

namespace ctdump::cli {

// storage.cfg's section `id`, opened as a datastore. NotFound "storage '<id>'
// does not exist"; InvalidArgument when the storage is of another type.
Result<std::unique_ptr<datastore::Datastore>> OpenDatastoreStorage(const Context& ctx,
                                                                   const std::string& id);

struct DatastoreVolume {
  std::unique_ptr<datastore::Datastore> ds;
  std::string volname;  // a valid datastore volume name (datastore::ParseVolume)
};

// "<storage>:<volname>" on a datastore storage.
Result<DatastoreVolume> OpenDatastoreVolume(const Context& ctx, const std::string& volid);

}  // namespace ctdump::cli

#endif  // CTDUMP_CLI_DATASTORE_STORAGE_H_
