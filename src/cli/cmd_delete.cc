// `ctdump delete <storage>:<volname>`.
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "registry/registry.h"

namespace ctdump::cli {
namespace {

int RunDelete(const Context& ctx, const std::string& volid) {
  auto renderer = MakeRenderer(ctx);
  auto parts = SplitVolumeId(volid);
  if (!parts.ok()) {
    renderer->Log(LogLevel::kErr, parts.status().message());
    return kExitUsage;
  }
  const auto& [storage, volname] = *parts;
  auto p = registry::OpenStorage(ctx.paths.config_dir, storage, renderer.get());
  Status s = p.status();
  if (s.ok()) {
    s = (*p)->DeleteBackup(volname);
    Status sh = (*p)->Shutdown();
    if (s.ok()) s = sh;
  }
  if (!s.ok()) return Fail(*renderer, s);
  renderer->Log(LogLevel::kInfo, fmt::format("removed backup '{}'", volid));
  return kExitOk;
}

}  // namespace

void RegisterDelete(CLI::App& app, Context& ctx) {
  auto volid = std::make_shared<std::string>();
  auto* d = app.add_subcommand("delete", "delete a backup");
  d->add_option("volume", *volid, "<storage>:<volname>")->required();
  ctx.AddRunner(d, [&ctx, volid] { return RunDelete(ctx, *volid); });
}

}  // namespace ctdump::cli
