// The `key` subcommands that work on a storage (its datastore and its
// storage.cfg section) rather than on a key file alone: `key rotate` and
// `key import-with-master-key`. cmd_key.cc owns `ctdump key` and calls
// RegisterKeyStoreCommands(key, ctx) to add them (cmd_key_store.cc).
#ifndef CTDUMP_CLI_KEY_STORE_COMMANDS_H_
#define CTDUMP_CLI_KEY_STORE_COMMANDS_H_

#include "cli/command.h"

namespace ctdump::cli {

void RegisterKeyStoreCommands(CLI::App& key, Context& ctx);

}  // namespace ctdump::cli

#endif  // CTDUMP_CLI_KEY_STORE_COMMANDS_H_
