// `ctdump list <storage> [--vmid <ct>]`: a table, or a JSON array with
// --output-format json.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "backup/task_log.h"
#include "cli/commands.h"
#include "registry/registry.h"

namespace ctdump::cli {
namespace {

struct ListArgs {
  std::string storage, vmid;
};

int RunList(const Context& ctx, const ListArgs& a) {
  auto renderer = MakeRenderer(ctx);
  const std::string& storage = a.storage;
  auto p = registry::OpenStorage(ctx.paths.config_dir, storage, renderer.get());
  if (!p.ok()) return Fail(*renderer, p.status());
  auto list = (*p)->ListBackups(a.vmid.empty() ? std::nullopt : std::optional<std::string>(a.vmid));
  Status sh = (*p)->Shutdown();
  if (!list.ok()) return Fail(*renderer, list.status());
  if (ctx.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& b : *list) {
      out.push_back({{"volid", storage + ":" + b.volname},
                     {"vmid", b.vmid},
                     {"vmtype", b.vmtype},
                     {"ctime", b.ctime},
                     {"size", b.size ? nlohmann::json(*b.size) : nlohmann::json()},
                     {"notes", b.notes ? nlohmann::json(*b.notes) : nlohmann::json()},
                     {"protected", b.is_protected}});
    }
    // Never aborts: bytes that are not UTF-8 (a provider's names, notes) become U+FFFD.
    fmt::print("{}\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    fmt::print("{:<50} {:<8} {:>12} {}\n", "VOLID", "VMID", "SIZE", "FLAGS");
    for (const auto& b : *list)
      fmt::print("{:<50} {:<8} {:>12} {}\n", backup::EscapeControl(storage + ":" + b.volname),
                 backup::EscapeControl(b.vmid), b.size ? HumanBytes(*b.size) : "-",
                 b.is_protected ? "protected" : "");
  }
  if (!sh.ok()) renderer->Log(LogLevel::kWarn, sh.message());
  return kExitOk;
}

}  // namespace

void RegisterList(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<ListArgs>();
  auto* l = app.add_subcommand("list", "list backups on a storage");
  l->add_option("storage", a->storage, "storage id")->required();
  l->add_option("--vmid", a->vmid, "only this container's backups");
  ctx.AddRunner(l, [&ctx, a] { return RunList(ctx, *a); });
}

}  // namespace ctdump::cli
