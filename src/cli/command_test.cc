#include "cli/command.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <set>
#include <string>
#include <vector>

#include "backup/job_options.h"
#include "cli/commands.h"

namespace ctdump::cli {
namespace {

std::vector<std::string> Names(const std::vector<CLI::App*>& apps) {
  std::vector<std::string> out;
  for (const CLI::App* a : apps) out.push_back(a->get_name());
  return out;
}

// `ctdump --help` lists the subcommands in this order.
TEST(CommandsTest, EverySubcommandInHelpOrder) {
  CLI::App app;
  Context ctx;
  RegisterAll(app, ctx);
  EXPECT_EQ(Names(app.get_subcommands({})),
            (std::vector<std::string>{"backup",       "prune",         "cleanup",
                                      "list",         "delete",        "protect",
                                      "notes",        "restore",       "key",
                                      "datastore",    "verify",        "gc",
                                      "compact",      "sync",          "df",
                                      "catalog",      "restore-file",  "mount",
                                      "restore-test", "provider-test", "__provider-fault",
                                      "job",          "scheduler",     "notify",
                                      "status",       "token",         "__task",
                                      "serve",        "__proxy",       "__api-dump",
                                      "__pam-auth",   "__cli-dump"}));
  EXPECT_EQ(Names(app.get_subcommand("job")->get_subcommands({})),
            (std::vector<std::string>{"list", "show", "run"}));
  // cmd_key.cc's, then the storage-side ones of cmd_key_store.cc (K2's
  // RegisterKeyStoreCommands: rotate, import-with-master-key) once they land.
  std::vector<std::string> key = Names(app.get_subcommand("key")->get_subcommands({}));
  std::vector<std::string> file_commands{"create",
                                         "change-passphrase",
                                         "show",
                                         "paperkey",
                                         "import",
                                         "import-paperkey",
                                         "create-master-key",
                                         "show-master-pubkey"};
  ASSERT_GE(key.size(), file_commands.size());
  EXPECT_EQ(std::vector<std::string>(key.begin(), key.begin() + file_commands.size()),
            file_commands);
  EXPECT_EQ(Names(app.get_subcommand("datastore")->get_subcommands({})),
            (std::vector<std::string>{"create"}));
}

// `ctdump backup` takes exactly the options of the job option table, and
// vzdump's notification options (job_runners.h: BackupNotifyOptions).
TEST(CommandsTest, BackupOptionsAreTheJobOptionTable) {
  CLI::App app;
  Context ctx;
  RegisterBackup(app, ctx);
  CLI::App* b = app.get_subcommand("backup");
  std::set<std::string> registered, table;
  for (const CLI::Option* o : b->get_options()) {
    if (o->get_name() == "--help") continue;
    registered.insert(o->get_name());
  }
  for (const auto& spec : backup::JobOptionTable()) table.insert(std::string(spec.flag));
  table.insert({"--mailto", "--mailnotification", "--notification-mode"});
  EXPECT_EQ(registered, table);
}

TEST(CommandsTest, SplitVolumeId) {
  struct Case {
    std::string volid, storage, volname;  // storage "" = usage error
  } cases[] = {
      {"s:v", "s", "v"},
      {"store:ct/web/2026-11-26T06_00_00Z", "store", "ct/web/2026-11-26T06_00_00Z"},
      {"s:a:b", "s", "a:b"},
      {"novolume", "", ""},
      {":vol", "", ""},
      {"store:", "", ""},
      {":", "", ""},
      {"", "", ""},
  };
  for (const auto& c : cases) {
    auto r = SplitVolumeId(c.volid);
    if (c.storage.empty()) {
      ASSERT_FALSE(r.ok()) << c.volid;
      EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
      EXPECT_EQ(ExitCodeOf(r.status()), kExitUsage);
      EXPECT_EQ(r.status().message(),
                "volume '" + c.volid + "' is not of the form <storage>:<volname>");
      continue;
    }
    ASSERT_TRUE(r.ok()) << c.volid;
    EXPECT_EQ(r->first, c.storage);
    EXPECT_EQ(r->second, c.volname);
  }
}

// main() runs the runner of the subcommand given, nested ones included.
TEST(CommandsTest, SelectedIsTheGivenSubcommand) {
  CLI::App app;
  app.require_subcommand(1);
  Context ctx;
  auto* a = app.add_subcommand("a");
  auto* b = app.add_subcommand("b");
  b->require_subcommand(1);
  auto* bc = b->add_subcommand("c");
  ctx.AddRunner(a, [] { return 10; });
  ctx.AddRunner(bc, [] { return 20; });
  EXPECT_EQ(ctx.Selected(), nullptr);
  std::vector<std::string> args = {"c", "b"};  // CLI11 takes them in reverse
  app.parse(args);
  ASSERT_NE(ctx.Selected(), nullptr);
  EXPECT_EQ((*ctx.Selected())(), 20);
  app.clear();
  args = {"a"};
  app.parse(args);
  ASSERT_NE(ctx.Selected(), nullptr);
  EXPECT_EQ((*ctx.Selected())(), 10);
}

// Usage errors the parser itself reports (main() maps them to exit code 2).
TEST(CommandsTest, ParserRefusesBadInvocations) {
  std::vector<std::vector<std::string>> bad = {
      {"backup", "--bogus"},
      {"backup", "c1", "--mode", "fast"},
      {"backup", "c1", "--bwlimit", "abc"},
      {"backup", "c1", "--ionice", "9"},
      {"prune", "s"},
      {"restore", "s:x", "ct", "--unprivileged", "2"},
      {"restore", "s:x", "ct", "--hostname", ""},
      {"key"},
      {"datastore", "create"},
  };
  for (const auto& args : bad) {
    CLI::App app;
    app.require_subcommand(1);
    Context ctx;
    RegisterAll(app, ctx);
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    EXPECT_THROW(app.parse(reversed), CLI::ParseError) << args[0] << " " << args.back();
  }
}

}  // namespace
}  // namespace ctdump::cli
