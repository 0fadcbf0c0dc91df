// Placeholder while the command is being written (issue 11); replaced by its owner.
#include "cli/commands.h"

namespace ctdump::cli {

void RegisterJob(CLI::App& /*app*/, Context& /*ctx*/) {}

}  // namespace ctdump::cli
