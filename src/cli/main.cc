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
#include <functional>
#include <string_view>

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

// --output-format json anywhere on the command line (also where the parse
// failed before reaching it): errors of the command line are then an `error`
// event on stdout too (docs/json-events.md).
bool JsonAsked(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--output-format=json") return true;
    if (a == "--output-format" && i + 1 < argc && std::string_view(argv[i + 1]) == "json")
      return true;
  }
  return false;
}

// A usage error of the command line: CLI11's text on stderr (with its hint
// to --help) and, when JSON was asked for, an `error` event on stdout.
int UsageFailure(const CLI::App& app, bool json, const std::string& message,
                 const std::function<int()>& print_text) {
  if (json)
    PrintJsonEvent({{"event", "error"},
                    {"command", CommandWords(app)},
                    {"message", message},
                    {"exit", kExitUsage}});
  print_text();
  return kExitUsage;
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

  const bool json = JsonAsked(argc, argv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help, --version: not errors.
    if (e.get_exit_code() == 0) return app.exit(e) == 0 ? kExitOk : kExitUsage;
    // "A subcommand is required" for `ctdump frobnicate`: name the word.
    if (dynamic_cast<const CLI::RequiredError*>(&e) && app.get_subcommands().empty() &&
        !app.remaining().empty()) {
      std::string m = "unknown command '" + app.remaining()[0] + "' (see ctdump --help)";
      return UsageFailure(app, json, m, [&] {
        std::fprintf(stderr, "%s\n", m.c_str());
        return 0;
      });
    }
    return UsageFailure(app, json, e.what(), [&] { return app.exit(e); });
  }
  ctx.command = CommandWords(app);
  // Every command talks to child processes: never die of SIGPIPE, and turn
  // SIGINT/SIGTERM/SIGHUP into an orderly stop.
  sys::InstallInterruptHandlers();
  const std::function<int()>* run = ctx.Selected();
  if (!run) {
    // A command group without its subcommand is refused by the parse;
    // nothing else gets here.
    return UsageFailure(app, json, "no command given (see ctdump --help)", [] {
      std::fprintf(stderr, "no command given (see ctdump --help)\n");
      return 0;
    });
  }
  return (*run)();
}

}  // namespace
}  // namespace ctdump::cli

int main(int argc, char** argv) {
  try {
    return ctdump::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    // Reaching here unwound every guard (containers restarted, mounts gone).
    std::fprintf(stderr, "ERROR: internal error: %s\n", e.what());
    if (ctdump::cli::JsonAsked(argc, argv))
      ctdump::cli::PrintJsonEvent({{"event", "error"},
                                   {"message", std::string("internal error: ") + e.what()},
                                   {"exit", 1}});
    return 1;
  }
}
