// `ctdump restore-file <storage>:<volname> <path>... --target <dir>`: files
// or directories of a datastore backup, extracted as the restore extracts
// (extract/extract.h). Files come back with their stored owners but without
// setuid/setgid bits and file capabilities unless --keep-setuid-and-caps.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/datastore_storage.h"
#include "datastore/reader.h"
#include "datastore/tar_export.h"
#include "extract/extract.h"
#include "sys/file.h"

namespace ctdump::cli {
namespace {

int RunRestoreFile(const Context& ctx, Renderer& out, const std::string& volid,
                   const std::vector<std::string>& paths, const std::string& target,
                   bool keep_privileges) {
  // Wrong paths are usage errors, found before anything is opened.
  datastore::ExportOptions eo;
  for (const auto& p : paths) {
    auto n = datastore::NormalizeSnapshotPath(p);
    if (!n.ok()) return UsageError(out, n.status());
    eo.paths.push_back(*n);
  }
  if (target.empty() || target[0] != '/')
    return UsageError(
        out, InvalidArgumentError(fmt::format("--target \"{}\" must be an absolute path", target)));
  if (::geteuid() != 0)
    return Fail(out, PermissionDeniedError("ctdump restore-file must run as root"));
  auto v = OpenDatastoreVolume(ctx, volid);
  if (!v.ok()) return Fail(out, v.status());
  Status made = sys::MakeDirs(target, 0755);
  if (!made.ok()) return Fail(out, made);
  auto reader = datastore::SnapshotReader::Open(*v->ds, v->volname);
  if (!reader.ok()) return Fail(out, reader.status());
  extract::ExtractOptions xo;
  // Extracted as host root (no ID map) with the stored, container-view
  // owners, chrooted into the target: nothing lands outside it. A setuid
  // file of the container's root would be a setuid-root file on the host:
  // privileged bits and file capabilities only on request.
  xo.strip_privileges = !keep_privileges;
  auto stats = extract::ExtractStream(
      volid,
      [&](const std::function<Status(const void*, size_t)>& write,
          const std::function<bool()>& closed) {
        auto r = datastore::ExportTar(**reader, eo, write, closed, &out);
        return r.status();
      },
      target, IdMap(), xo, &out);
  if (!stats.ok()) return Fail(out, stats.status());
  out.Log(LogLevel::kInfo, fmt::format("restored {} entries ({}) from '{}' into \"{}\"",
                                       stats->entries, HumanBytes(stats->bytes), volid, target));
  if (stats->stripped_privileges)
    out.Log(LogLevel::kWarn,
            fmt::format("removed setuid/setgid bits or file capabilities from {} files (give "
                        "--keep-setuid-and-caps to keep them)",
                        stats->stripped_privileges));
  out.OnResult(true, kExitOk,
               {{"volume", volid},
                {"target", target},
                {"entries", stats->entries},
                {"bytes", stats->bytes},
                {"stripped-privileges", stats->stripped_privileges}});
  return kExitOk;
}

struct RestoreFileArgs {
  std::string volume, target;
  std::vector<std::string> paths;
  bool keep_privileges = false;
};

}  // namespace

void RegisterRestoreFile(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<RestoreFileArgs>();
  auto* rf =
      app.add_subcommand("restore-file", "restore files or directories of a datastore backup");
  rf->add_option("volume", a->volume, "<storage>:<volname>")->required();
  rf->add_option("path", a->paths, "paths in the backup (e.g. /etc/hosts)")->required();
  rf->add_option("--target", a->target, "directory to restore into (created if missing)")
      ->required();
  rf->add_flag("--keep-setuid-and-caps", a->keep_privileges,
               "keep setuid/setgid bits and file capabilities (default: removed)");
  ctx.AddRunner(rf, [&ctx, a] {
    auto renderer = MakeRenderer(ctx);
    // A volume not of the form <storage>:<volname> is a usage error.
    if (Status s = SplitVolumeId(a->volume).status(); !s.ok()) return UsageError(*renderer, s);
    return RunRestoreFile(ctx, *renderer, a->volume, a->paths, a->target, a->keep_privileges);
  });
}

}  // namespace ctdump::cli
