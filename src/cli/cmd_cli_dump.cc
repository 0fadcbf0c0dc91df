// `ctdump __cli-dump`: the whole command tree as JSON on stdout, for the
// build's generators of the man page ctdump(8) and the bash and zsh
// completions (scripts/gen-man.py, scripts/gen-completion.py). Hidden from
// --help (an empty CLI11 group); registered last, it walks the tree at run
// time, when every subcommand and the global options of main() are there.
//
// Each option carries CLI11's own help strings (the formatter's name and
// "opts" columns: "--mode", " TEXT:{stop,suspend,snapshot}") besides its
// structured fields, so a page generated from the dump says what --help says.
//
//   {"program": "ctdump", "version": "...",
//    "job_options": [{"name", "conf_key", "flag"}...],
//    "command": {"name", "path", "description", "footer", "usage",
//                "require_subcommand", "positionals": [option...],
//                "options": [option...], "subcommands": [command...]}}
//   option: {"name", "names", "opts", "description", "type_name", "default",
//            "flag", "multiple", "expected_min", "expected_max", "required"}
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "backup/job_options.h"
#include "cli/commands.h"
#include "ctdump/version.h"

namespace ctdump::cli {
namespace {

constexpr const char* kDumpName = "__cli-dump";

// The app's formatter: CLI11's default one unless a command set its own.
const CLI::Formatter& Formatter(const CLI::App& app) {
  static const CLI::Formatter kDefault;
  auto* f = dynamic_cast<const CLI::Formatter*>(app.get_formatter().get());
  return f ? *f : kDefault;
}

nlohmann::json DumpOption(const CLI::App& app, const CLI::Option& o) {
  const bool positional = !o.nonpositional();
  nlohmann::json names = nlohmann::json::array();
  for (const std::string& s : o.get_snames()) names.push_back("-" + s);
  for (const std::string& l : o.get_lnames()) names.push_back("--" + l);
  const CLI::Formatter& fmt = Formatter(app);
  return {
      {"name", fmt.make_option_name(&o, positional)},
      {"names", names},
      {"opts", fmt.make_option_opts(&o)},
      {"description", o.get_description()},
      {"type_name", o.get_type_size() == 0 ? "" : o.get_type_name()},
      {"default", o.get_default_str()},
      {"flag", o.get_type_size() == 0 || o.get_expected_max() == 0},
      {"multiple", o.get_expected_max() == CLI::detail::expected_max_vector_size},
      {"expected_min", o.get_expected_min()},
      {"expected_max", o.get_expected_max()},
      {"required", o.get_required()},
  };
}

nlohmann::json DumpApp(const CLI::App& app, const std::string& path) {
  nlohmann::json positionals = nlohmann::json::array(), options = nlohmann::json::array();
  for (const CLI::Option* o : app.get_options()) {
    // Hidden options (empty group) are not in --help either.
    if (o->get_group().empty()) continue;
    (o->nonpositional() ? options : positionals).push_back(DumpOption(app, *o));
  }
  nlohmann::json subs = nlohmann::json::array();
  for (const CLI::App* s : app.get_subcommands([](const CLI::App* a) {
         return !a->get_group().empty() && a->get_name() != kDumpName;
       })) {
    subs.push_back(DumpApp(*s, path + " " + s->get_name()));
  }
  return {
      {"name", app.get_name()},
      {"path", path},
      {"description", app.get_description()},
      {"footer", app.get_footer()},
      {"usage", Formatter(app).make_usage(&app, path)},
      {"require_subcommand", app.get_require_subcommand_min()},
      {"positionals", positionals},
      {"options", options},
      {"subcommands", subs},
  };
}

// The backup job options (backup::JobOptionTable): vzdump's name, the
// ctdump.conf key, the `ctdump backup` flag; the man page test checks
// jobs.cfg(5) and ctdump.conf(5) against them.
nlohmann::json DumpJobOptions() {
  nlohmann::json out = nlohmann::json::array();
  for (const backup::JobOptionSpec& s : backup::JobOptionTable())
    out.push_back({{"name", s.name}, {"conf_key", s.conf_key}, {"flag", s.flag}});
  return out;
}

}  // namespace

void RegisterCliDump(CLI::App& app, Context& ctx) {
  auto* d = app.add_subcommand(kDumpName, "the command tree as JSON (for the build)");
  d->group("");  // hidden from --help
  ctx.AddRunner(d, [&app] {
    nlohmann::json out = {
        {"program", "ctdump"},
        {"version", Version()},
        {"command", DumpApp(app, "ctdump")},
        {"job_options", DumpJobOptions()},
    };
    std::string text = out.dump(1) + "\n";
    std::fwrite(text.data(), 1, text.size(), stdout);
    return std::fflush(stdout) == 0 ? kExitOk : kExitFailed;
  });
}

}  // namespace ctdump::cli
