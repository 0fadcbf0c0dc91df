// The datastore's own commands: key create, verify, gc, catalog,
// restore-file and mount. Each returns the process exit code (0 success,
// 1 failure) and reports through `out` (text or JSON events); listings go to
// stdout (JSON when `json`).
#ifndef CTDUMP_CLI_DATASTORE_COMMANDS_H_
#define CTDUMP_CLI_DATASTORE_COMMANDS_H_

#include <optional>
#include <string>
#include <vector>

#include "cli/renderer.h"

namespace ctdump::cli {

struct CommandContext {
  std::string config_dir;  // storage.cfg
  bool json = false;
  Renderer* out = nullptr;
};

int RunKeyCreate(const CommandContext& c, const std::string& path);
// `ctdump datastore create <path>`: a new datastore in an empty or missing
// directory (never in one holding anything else, never over a datastore).
int RunDatastoreCreate(const CommandContext& c, const std::string& path);
int RunVerify(const CommandContext& c, const std::string& storage,
              const std::optional<std::string>& volume);
int RunGc(const CommandContext& c, const std::string& storage, bool dry_run);
int RunCatalog(const CommandContext& c, const std::string& volid, const std::string& path);
// Files come back with their stored owners but without setuid/setgid bits
// and file capabilities unless `keep_privileges` (--keep-setuid-and-caps).
int RunRestoreFile(const CommandContext& c, const std::string& volid,
                   const std::vector<std::string>& paths, const std::string& target,
                   bool keep_privileges);
int RunMount(const CommandContext& c, const std::string& volid, const std::string& dir);

}  // namespace ctdump::cli

#endif  // CTDUMP_CLI_DATASTORE_COMMANDS_H_
