// Volume ids: "<storage>:<volname>", the name of one backup across storages
// (PVE's volume id; `ctdump list` prints them, `restore`, `delete`, `catalog`,
// `restore-file` and `mount` take them).
#ifndef CTDUMP_PROVIDER_VOLUME_ID_H_
#define CTDUMP_PROVIDER_VOLUME_ID_H_

#include <string>
#include <string_view>

#include "ctdump/status.h"

namespace ctdump::provider {

struct VolumeId {
  std::string storage;  // a storage.cfg section id
  std::string volname;  // the provider's name of the backup
};

// Splits at the first ':': a storage id has no colon, a volname may have
// any number. Nothing is trimmed. InvalidArgument "volume '<volid>' is not
// of the form <storage>:<volname>" without a colon, with an empty part, or
// with white space in the storage part (no storage id has any, and "local :x"
// is a typo, not a storage to look up).
//
// PVE's form of the built-in storages' ids is accepted too: PVE (and
// ctdump's API) print a backup as "<storage>:backup/<name>", so a "backup/"
// in front of a volname of the `dir` storage ("vzdump-...") or of a
// datastore ("ct/...") is dropped. An external provider's volname is its
// own and may begin with anything: any other volname is kept as given. Pure.
Result<VolumeId> ParseVolumeId(std::string_view volid);

}  // namespace ctdump::provider

#endif  // CTDUMP_PROVIDER_VOLUME_ID_H_
