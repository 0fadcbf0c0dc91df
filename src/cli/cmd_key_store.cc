// `ctdump key rotate` and `key import-with-master-key` (key_store_commands.h).
#include <CLI/CLI.hpp>

#include "cli/key_store_commands.h"

namespace ctdump::cli {

void RegisterKeyStoreCommands(CLI::App& key, Context& ctx) {
  (void)key;
  (void)ctx;
}

}  // namespace ctdump::cli
