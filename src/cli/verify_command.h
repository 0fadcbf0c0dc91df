// `ctdump verify <storage> [<volume>]` for every kind of storage: the
// datastore's own verify (chunks, indexes, manifests), and for `dir` and
// external providers a full read of each backup as a restore reads it
// (restore/archive_check.h). Exit code 0 when every backup checked is
// intact, 1 when one is damaged or cannot be read, or on any other failure.
#ifndef CTDUMP_CLI_VERIFY_COMMAND_H_
#define CTDUMP_CLI_VERIFY_COMMAND_H_

#include <optional>
#include <string>

#include "cli/datastore_commands.h"

namespace ctdump::cli {

// `volume` is a volume name without the "<storage>:" prefix, or nullopt for
// every backup on the storage.
int RunVerifyStorage(const CommandContext& c, const std::string& storage,
                     const std::optional<std::string>& volume);

}  // namespace ctdump::cli

#endif  // CTDUMP_CLI_VERIFY_COMMAND_H_
