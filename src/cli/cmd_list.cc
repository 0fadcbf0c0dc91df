// `ctdump list <storage> [--vmid <ct>] [--sizes]`: a table, or with
// --output-format json a result event whose "data" is an array of backups. --sizes on a datastore
// adds each backup's unique and stored bytes (datastore/usage.h): it reads every index of the store
// and stats every object, as gc's mark phase does, hence opt-in.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <map>
#include <nlohmann/json.hpp>

#include "backup/task_log.h"
#include "cli/commands.h"
#include "datastore/usage.h"
#include "registry/registry.h"

namespace ctdump::cli {
namespace {

struct ListArgs {
  std::string storage, vmid;
  bool sizes = false;
};

struct Sizes {
  uint64_t unique = 0, stored = 0;
};

// The unique and stored bytes of the backups of datastore `storage`, by
// volname; nullopt for other storage types (no such sizes).
Result<std::optional<std::map<std::string, Sizes>>> DatastoreSizes(const Context& ctx,
                                                                   const ListArgs& a,
                                                                   Observer* observer) {
  ASSIGN_OR_RETURN(auto storages, registry::LoadStorageConfig(ctx.paths.config_dir));
  ASSIGN_OR_RETURN(const Section* section, registry::FindStorage(storages, a.storage));
  if (section->type != "datastore") return std::optional<std::map<std::string, Sizes>>();
  ASSIGN_OR_RETURN(auto ds, registry::OpenDatastore(storages, a.storage));
  ASSIGN_OR_RETURN(
      datastore::StoreUsage u,
      datastore::ComputeUsage(
          *ds, a.vmid.empty() ? std::nullopt : std::optional<std::string>(a.vmid), observer));
  std::map<std::string, Sizes> out;
  for (const auto& s : u.snapshots) out[s.volname] = Sizes{s.unique, s.stored};
  return std::optional<std::map<std::string, Sizes>>(std::move(out));
}

int RunList(const Context& ctx, const ListArgs& a) {
  auto renderer = MakeRenderer(ctx);
  const std::string& storage = a.storage;
  auto p = registry::OpenStorage(ctx.paths.config_dir, storage, renderer.get());
  if (!p.ok()) return Fail(*renderer, p.status());
  auto list = (*p)->ListBackups(a.vmid.empty() ? std::nullopt : std::optional<std::string>(a.vmid));
  Status sh = (*p)->Shutdown();
  if (!list.ok()) return Fail(*renderer, list.status());
  std::optional<std::map<std::string, Sizes>> sizes;
  if (a.sizes) {
    auto got = DatastoreSizes(ctx, a, renderer.get());
    if (!got.ok()) return Fail(*renderer, got.status());
    sizes = std::move(*got);
    if (!sizes && !ctx.json())  // JSON: the fields stay null
      renderer->Log(LogLevel::kInfo, fmt::format("storage '{}' keeps every backup in an archive of "
                                                 "its own: its size is all it takes (--sizes adds "
                                                 "nothing)",
                                                 storage));
  }
  // A backup listed but not in the usage (written or deleted between the two
  // reads) has no sizes.
  auto sizes_of = [&](const BackupEntry& b) -> const Sizes* {
    if (!sizes) return nullptr;
    auto it = sizes->find(b.volname);
    return it == sizes->end() ? nullptr : &it->second;
  };
  if (ctx.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& b : *list) {
      const Sizes* z = sizes_of(b);
      out.push_back({{"volid", storage + ":" + b.volname},
                     {"vmid", b.vmid},
                     {"vmtype", b.vmtype},
                     {"ctime", b.ctime},
                     {"size", b.size ? nlohmann::json(*b.size) : nlohmann::json()},
                     {"unique-size", z ? nlohmann::json(z->unique) : nlohmann::json()},
                     {"stored-size", z ? nlohmann::json(z->stored) : nlohmann::json()},
                     {"notes", b.notes ? nlohmann::json(*b.notes) : nlohmann::json()},
                     {"protected", b.is_protected}});
    }
    if (!sh.ok()) renderer->Log(LogLevel::kWarn, sh.message());
    renderer->OnResult(true, kExitOk, out);  // the result event: "data" is the array
    return kExitOk;
  } else if (sizes) {
    fmt::print("{:<50} {:<8} {:>12} {:>12} {:>12} {}\n", "VOLID", "VMID", "SIZE", "UNIQUE",
               "STORED", "FLAGS");
    for (const auto& b : *list) {
      const Sizes* z = sizes_of(b);
      fmt::print("{:<50} {:<8} {:>12} {:>12} {:>12} {}\n",
                 backup::EscapeControl(storage + ":" + b.volname), backup::EscapeControl(b.vmid),
                 b.size ? HumanBytes(*b.size) : "-", z ? HumanBytes(z->unique) : "-",
                 z ? HumanBytes(z->stored) : "-", b.is_protected ? "protected" : "");
    }
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
  l->add_flag("--sizes", a->sizes,
              "datastore: also each backup's unique and stored bytes (reads every index)");
  ctx.AddRunner(l, [&ctx, a] { return RunList(ctx, *a); });
}

}  // namespace ctdump::cli
