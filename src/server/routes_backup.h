// The pure parts of routes_backup.cc, for its tests: how the parameters of
// POST /nodes/{node}/vzdump and POST /nodes/{node}/lxc (restore) become a
// `ctdump backup` / `ctdump restore` command line, and how the {volume} of a
// content call and a backup's owner are read.
#ifndef CTDUMP_SERVER_ROUTES_BACKUP_H_
#define CTDUMP_SERVER_ROUTES_BACKUP_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/response.h"
#include "api/router.h"
#include "api/schema.h"
#include "server/context.h"

namespace ctdump::server {

// A vzdump call as a `ctdump backup` command.
struct VzdumpCommand {
  std::vector<std::string> args;     // "backup", "--<option>=<value>"..., the guests
  std::vector<std::string> guests;   // the containers named by `vmid`
  bool all = false;                  // `all` (or `exclude`, which implies it)
  std::vector<std::string> ignored;  // accepted and ignored parameters, sorted
};

// From the checked parameters of POST /nodes/{node}/vzdump: each PVE
// parameter as its `ctdump backup` option (--name=value, so no value is read
// as an option), booleans as 0|1, `exclude` implying `all`. PVE's conflicts
// are parameter errors: all/exclude beside vmid, no selection at all,
// storage beside dumpdir, notes-template or protected without storage.
std::variant<VzdumpCommand, api::ParamErrors> MakeVzdumpCommand(const nlohmann::json& params);

// The vzdump parameters a backup job (jobs.cfg's vzdump: section, POST and
// PUT /cluster/backup) takes: POST /nodes/{node}/vzdump's without the
// accepted-and-ignored ones.
std::vector<api::Param> VzdumpJobParams();

// A backup named by a content call: its storage and volname.
struct BackupVolume {
  std::string storage, volname;
};

// From the checked parameters of POST /nodes/{node}/lxc (restore=1) and the
// backup's volume id: "restore", the options, `volid`, the container.
std::vector<std::string> MakeRestoreCommand(const nlohmann::json& params, const std::string& volid);

// The storage and volname of a content call's {volume} on storage `storage`
// of type `type` (storage.cfg's: dir, datastore, provider), as GET
// .../content/{volume} reads it: "<storage>:<name>" or "<name>", with the
// "backup/" that answers put in front of every volname dropped. 400 on
// `volume` otherwise (a ':' in a built-in storage's name is another storage).
std::variant<BackupVolume, api::ApiError> ResolveVolume(const std::string& storage,
                                                        const std::string& type,
                                                        const std::string& volume);

// The container a built-in storage's backup belongs to, from its volname:
// "vzdump-lxc-<ct>-YYYY_MM_DD-HH_MM_SS.tar[.zst|.gz|.lzo]" (dir) or
// "ct/<ct>/<time>" (datastore); nullopt for any other name.
std::optional<std::string> BackupOwner(std::string_view volname);

// PVE's check_volume_access for a backup, as PUT .../content/{volume}
// checks it before reading the storage: nullopt when the caller holds
// Datastore.Allocate on its storage, or Datastore.AllocateSpace there and
// VM.Backup on its container (BackupOwner of the volname); else the 403.
std::optional<api::ApiError> CheckBackupAccess(const ServerContext& ctx, const api::Caller& caller,
                                               const BackupVolume& volume);

}  // namespace ctdump::server

#endif  // CTDUMP_SERVER_ROUTES_BACKUP_H_
