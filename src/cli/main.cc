// ctdump: vzdump for plain LXC hosts, built around the Backup Provider API.
//
//   ctdump [global options] backup <ct>... | --all [--exclude <ct>...] --storage <id> [...]
//   ctdump [global options] list <storage> [--vmid <ct>]
//   ctdump [global options] delete <storage>:<volname>
//   ... one cmd_<name>.cc per subcommand (cli/commands.h).
//
// Exit codes (README "Exit codes"): 0 success, 1 a job or command failed,
// 2 usage error (unknown command or option, missing or invalid argument or
// option value, also a wrong value or unknown key in ctdump.conf).
#include <lxc/lxccontainer.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"
#include "ctdump/version.h"
#include "sys/signals.h"

namespace ctdump::cli {
namespace {

// LXC's own default: lxc.lxcpath from /etc/lxc/lxc.conf (for root; liblxc's
// built-in default without one), as lxc-ls and lxc-start use it.
std::string DefaultLxcPath() {
  const char* v = ::lxc_get_global_config_item("lxc.lxcpath");
  return v && *v ? v : "/var/lib/lxc";
}

std::string CommandLine(int argc, char** argv) {
  std::string s = "ctdump";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    s += " ";
    s += a.find_first_of(" \t'\"") == std::string::npos ? a : "'" + a + "'";
  }
  return s;
}

int Main(int argc, char** argv) {
  CLI::App app{"ctdump - consistent backups of LXC containers through backup providers"};
  app.fallthrough();
  app.require_subcommand(1);
  Context ctx;
  ctx.paths.lxcpath = DefaultLxcPath();
  if (const char* v = std::getenv("CTDUMP_LOG_DIR")) ctx.paths.log_dir = v;
  if (const char* v = std::getenv("CTDUMP_RUN_DIR")) ctx.paths.run_dir = v;
  if (const char* v = std::getenv("CTDUMP_STATE_DIR")) ctx.paths.state_dir = v;
  ctx.command_line = CommandLine(argc, argv);
  app.add_option("--lxcpath", ctx.paths.lxcpath,
                 "LXC container path (default: lxc.lxcpath of LXC's lxc.conf)")
      ->capture_default_str();
  app.add_option("--config-dir", ctx.paths.config_dir, "directory of storage.cfg and ctdump.conf")
      ->capture_default_str();
  app.add_option("--output-format", ctx.output_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.set_version_flag("--version", Version());
  RegisterAll(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // "A subcommand is required" for `ctdump frobnicate`: name the word.
    if (dynamic_cast<const CLI::RequiredError*>(&e) && app.get_subcommands().empty() &&
        !app.remaining().empty()) {
      std::fprintf(stderr, "unknown command '%s' (see ctdump --help)\n",
                   app.remaining()[0].c_str());
      return kExitUsage;
    }
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  // Every command talks to child processes: never die of SIGPIPE, and turn
  // SIGINT/SIGTERM/SIGHUP into an orderly stop.
  sys::InstallInterruptHandlers();
  const std::function<int()>* run = ctx.Selected();
  return run ? (*run)() : kExitUsage;
}

}  // namespace
}  // namespace ctdump::cli

int main(int argc, char** argv) {
  try {
    return ctdump::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    // Reaching here unwound every guard (containers restarted, mounts gone).
    std::fprintf(stderr, "ERROR: internal error: %s\n", e.what());
    return 1;
  }
}
