// One registration function per `ctdump` subcommand (cli/command.h says how
// they work together). RegisterAll adds them in the order `ctdump --help`
// lists them.
#ifndef CTDUMP_CLI_COMMANDS_H_
#define CTDUMP_CLI_COMMANDS_H_

#include "cli/command.h"

namespace ctdump::cli {

void RegisterBackup(CLI::App& app, Context& ctx);        // cmd_backup.cc
void RegisterPrune(CLI::App& app, Context& ctx);         // cmd_prune.cc
void RegisterCleanup(CLI::App& app, Context& ctx);       // cmd_cleanup.cc
void RegisterList(CLI::App& app, Context& ctx);          // cmd_list.cc
void RegisterDelete(CLI::App& app, Context& ctx);        // cmd_delete.cc
void RegisterProtect(CLI::App& app, Context& ctx);       // cmd_attributes.cc
void RegisterNotes(CLI::App& app, Context& ctx);         // cmd_attributes.cc
void RegisterRestore(CLI::App& app, Context& ctx);       // cmd_restore.cc
void RegisterKey(CLI::App& app, Context& ctx);           // cmd_key.cc: key create
void RegisterDatastore(CLI::App& app, Context& ctx);     // cmd_datastore.cc: datastore create
void RegisterVerify(CLI::App& app, Context& ctx);        // cmd_verify.cc
void RegisterGc(CLI::App& app, Context& ctx);            // cmd_gc.cc
void RegisterCompact(CLI::App& app, Context& ctx);       // cmd_compact.cc
void RegisterSync(CLI::App& app, Context& ctx);          // cmd_sync.cc
void RegisterDf(CLI::App& app, Context& ctx);            // cmd_df.cc
void RegisterCatalog(CLI::App& app, Context& ctx);       // cmd_catalog.cc
void RegisterRestoreFile(CLI::App& app, Context& ctx);   // cmd_restore_file.cc
void RegisterMount(CLI::App& app, Context& ctx);         // cmd_mount.cc
void RegisterRestoreTest(CLI::App& app, Context& ctx);   // cmd_restore_test.cc: restore-test
void RegisterProviderTest(CLI::App& app, Context& ctx);  // cmd_provider_test.cc: provider-test
void RegisterFaultShim(CLI::App& app, Context& ctx);     // cmd_provider_fault.cc: __provider-fault
void RegisterJob(CLI::App& app, Context& ctx);           // cmd_job.cc: job list|show|run
void RegisterScheduler(CLI::App& app, Context& ctx);     // cmd_scheduler.cc: scheduler
void RegisterNotify(CLI::App& app, Context& ctx);        // cmd_notify.cc: notify test
void RegisterStatus(CLI::App& app, Context& ctx);        // cmd_status.cc: status
void RegisterToken(CLI::App& app, Context& ctx);         // cmd_token.cc: token add|list|remove
void RegisterTask(CLI::App& app, Context& ctx);          // cmd_task.cc: __task (hidden)
void RegisterServe(CLI::App& app, Context& ctx);         // cmd_serve.cc: serve, __proxy, __pam-auth
void RegisterCliDump(CLI::App& app, Context& ctx);       // cmd_cli_dump.cc: __cli-dump (hidden)

// Every subcommand above, in this order.
void RegisterAll(CLI::App& app, Context& ctx);

}  // namespace ctdump::cli

#endif  // CTDUMP_CLI_COMMANDS_H_
