// What every `ctdump` subcommand shares: the global options, the exit codes,
// the renderer, and the table of runners main() dispatches on.
//
// Each subcommand lives in its own cmd_<name>.cc with one
// Register<Name>(CLI::App&, Context&) (declared in cli/commands.h) that adds
// the CLI11 subcommand, binds its options to state its runner owns, and
// records the runner with Context::AddRunner. main() parses once and calls
// the runner of the subcommand that was given. Registration order is the
// order of `ctdump --help`.
//
// Exit codes (README "Exit codes", docs/json-events.md): 0 success, 1 a job
// or command failed, 2 usage error (unknown command or option, missing or
// invalid argument or option value, also a wrong value or unknown key in
// ctdump.conf). `status` is a monitoring check with Nagios' codes instead.
//
// With --output-format json every command ends with one terminal event on
// stdout (docs/json-events.md): `result` (Renderer::OnResult), `job-end`
// (backup) or `error` (Fail, UsageError).
#ifndef CTDUMP_CLI_COMMAND_H_
#define CTDUMP_CLI_COMMAND_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backup/job_options.h"
#include "cli/renderer.h"
#include "ctdump/provider.h"
#include "ctdump/status.h"

namespace CLI {
class App;
}

namespace ctdump::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

// Our own checks of option values report InvalidArgument: a usage error.
int ExitCodeOf(const Status& s);

// Reports `s` as the command's error (Renderer::Error) and returns kExitFailed.
int Fail(Renderer& out, const Status& s);
// Reports `s` as a usage error and returns kExitUsage.
int UsageError(Renderer& out, const Status& s);
// Reports `s` with the exit code ExitCodeOf(s) and returns it: for a Status
// whose InvalidArgument means a wrong argument or option (or ctdump.conf).
int FailOrUsage(Renderer& out, const Status& s);

// The global options and the runners. Lives for the whole of main(); the
// runners may keep references to it.
class Context {
 public:
  backup::Paths paths;
  std::string output_format = "text";  // --output-format: text | json
  std::string command_line;            // backup's "starting new backup job: <command_line>"
  std::string command;                 // the subcommand's words ("job run"), set once parsed

  bool json() const { return output_format == "json"; }

  // `run` is called when `sub` (a subcommand at any depth) was given.
  void AddRunner(const CLI::App* sub, std::function<int()> run);
  // The runner of the subcommand given on the command line; nullptr before a
  // successful parse or when none of the registered ones was given.
  const std::function<int()>* Selected() const;

 private:
  std::vector<std::pair<const CLI::App*, std::function<int()>>> runners_;
};

// A text renderer on stderr (a progress bar on a terminal), or JSON events.
std::unique_ptr<Renderer> MakeRenderer(const Context& c);

// The words of the subcommands given on a parsed command line ("job run");
// empty when none was.
std::string CommandWords(const CLI::App& app);

// "<storage>:<volname>" -> {storage, volname}; InvalidArgument "volume '<v>'
// is not of the form <storage>:<volname>" without a colon or with either part
// empty.
Result<std::pair<std::string, std::string>> SplitVolumeId(const std::string& volid);

}  // namespace ctdump::cli

#endif  // CTDUMP_CLI_COMMAND_H_
