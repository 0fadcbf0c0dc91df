#include "cli/commands.h"

namespace ctdump::cli {

void RegisterAll(CLI::App& app, Context& ctx) {
  RegisterBackup(app, ctx);
  RegisterPrune(app, ctx);
  RegisterCleanup(app, ctx);
  RegisterList(app, ctx);
  RegisterDelete(app, ctx);
  RegisterProtect(app, ctx);
  RegisterNotes(app, ctx);
  RegisterRestore(app, ctx);
  RegisterKey(app, ctx);
  RegisterDatastore(app, ctx);
  RegisterVerify(app, ctx);
  RegisterGc(app, ctx);
  RegisterCompact(app, ctx);
  RegisterSync(app, ctx);
  RegisterDf(app, ctx);
  RegisterCatalog(app, ctx);
  RegisterRestoreFile(app, ctx);
  RegisterMount(app, ctx);
  RegisterRestoreTest(app, ctx);
  RegisterProviderTest(app, ctx);
  RegisterFaultShim(app, ctx);
  RegisterJob(app, ctx);
  RegisterScheduler(app, ctx);
  RegisterNotify(app, ctx);
  RegisterStatus(app, ctx);
  RegisterToken(app, ctx);
  RegisterTask(app, ctx);
  RegisterServe(app, ctx);
  RegisterCliDump(app, ctx);
}

}  // namespace ctdump::cli
