// `ctdump delete <storage>:<volname>`. Says what the removal frees: on a
// datastore the chunks no backup references any more, which only a gc
// removes (datastore/usage.h; one pass over the store's indexes); on other
// storages the archive's size, freed at once.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "ctdump/units.h"
#include "datastore/usage.h"
#include "registry/registry.h"

namespace ctdump::cli {
namespace {

// Logs what deleting from `storage` freed (a problem computing it is a
// warning: the delete itself succeeded); returns it as the result's fields
// "freed-bytes" (freed at once) and "gc-reclaimable-bytes" (a datastore's
// chunks no backup references, which a gc would free).
nlohmann::json ReportFreed(const std::vector<Section>& storages, const Section& section,
                           const std::string& storage, std::optional<uint64_t> archive_size,
                           Renderer& out) {
  nlohmann::json freed = {{"freed-bytes", nullptr}, {"gc-reclaimable-bytes", nullptr}};
  if (section.type != "datastore") {
    if (archive_size) {  // dir: the file is gone
      out.Log(LogLevel::kInfo, fmt::format("freed {}", HumanBytes(*archive_size)));
      freed["freed-bytes"] = *archive_size;
    }
    return freed;
  }
  auto ds = registry::OpenDatastore(storages, storage);
  Result<datastore::StoreUsage> u =
      ds.ok() ? datastore::ComputeUsage(**ds, std::nullopt, &out) : ds.status();
  if (!u.ok()) {
    out.Log(LogLevel::kWarn,
            fmt::format("cannot compute what a gc would free: {}", u.status().message()));
    return freed;
  }
  out.Log(LogLevel::kInfo, datastore::DescribeUnreferenced(*u, storage));
  freed["gc-reclaimable-bytes"] = u->reclaimable_bytes;
  return freed;
}

int RunDelete(const Context& ctx, const std::string& volid) {
  auto renderer = MakeRenderer(ctx);
  auto parts = SplitVolumeId(volid);
  if (!parts.ok()) return UsageError(*renderer, parts.status());
  const auto& [storage, volname] = *parts;
  auto storages = registry::LoadStorageConfig(ctx.paths.config_dir);
  if (!storages.ok()) return Fail(*renderer, storages.status());
  auto section = registry::FindStorage(*storages, storage);
  if (!section.ok()) return Fail(*renderer, section.status());
  auto p = registry::OpenStorage(*storages, storage, renderer.get());
  Status s = p.status();
  std::optional<uint64_t> archive_size;
  if (s.ok()) {
    if ((*section)->type == "dir") {
      // The archive's size, for "freed": the listing of a directory is cheap.
      auto list = (*p)->ListBackups(std::nullopt);
      if (list.ok())
        for (const auto& b : *list)
          if (b.volname == volname) archive_size = b.size;
    }
    s = (*p)->DeleteBackup(volname);
    Status sh = (*p)->Shutdown();
    if (s.ok()) s = sh;
  }
  if (!s.ok()) return Fail(*renderer, s);
  renderer->Log(LogLevel::kInfo, fmt::format("removed backup '{}'", volid));
  nlohmann::json data = ReportFreed(*storages, **section, storage, archive_size, *renderer);
  data["volume"] = volid;
  renderer->OnResult(true, kExitOk, data);
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
