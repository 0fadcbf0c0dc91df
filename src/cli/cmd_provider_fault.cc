// `ctdump __provider-fault [--crash M,...] [--hang M,...] [--garbage M,...]
// [--record FILE] [--once FILE] -- <command> [args...]` (hidden): the fault
// shim of the provider conformance kit (providertest/fault_shim.h), which the
// kit configures as a storage's `command` through a small wrapper script.
// stdin and stdout carry provider protocol v1; nothing else is printed.
#include <CLI/CLI.hpp>
#include <memory>

#include "cli/commands.h"
#include "providertest/fault_shim.h"

namespace ctdump::cli {

void RegisterFaultShim(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<providertest::FaultShimOptions>();
  CLI::App* p = app.add_subcommand("__provider-fault", "");
  p->group("");  // hidden: started as a provider by `provider-test`
  p->add_option("--crash", o->crash, "methods at which to kill the provider and exit 3")
      ->delimiter(',');
  p->add_option("--hang", o->hang, "methods after which nothing is answered")->delimiter(',');
  p->add_option("--garbage", o->garbage, "methods whose answer becomes a non-JSON line")
      ->delimiter(',');
  p->add_option("--record", o->record, "append each request as '<method> <params-json>'");
  p->add_option("--once", o->once, "fault only the first named request across instances");
  p->add_option("command", o->command, "the provider and its arguments, after --")->required();
  ctx.AddRunner(p, [o] { return providertest::RunFaultShim(*o); });
}

}  // namespace ctdump::cli
