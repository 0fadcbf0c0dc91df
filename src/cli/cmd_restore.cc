// `ctdump restore <storage>:<volname> <ct>`: a backup into a new container
// (restore/restore.h).
#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "ctdump/idmap.h"
#include "restore/guest_config.h"
#include "restore/restore.h"

namespace ctdump::cli {
namespace {

// The arguments of `restore` that are wrong whatever the archive holds (a
// usage error before anything is locked or read; RunRestore checks them too).
Status CheckRestoreArguments(const restore::RestoreOptions& o) {
  RETURN_IF_ERROR(SplitVolumeId(o.volid).status());
  RETURN_IF_ERROR(restore::CheckRestoreNames(o));
  // What RunRestore refuses of --rootfs-storage and --rootfs whatever exists
  // (the same words): a usage error, not a failed restore.
  if (!o.rootfs_storage.empty()) {
    if (!o.rootfs_storage.starts_with("btrfs:"))
      return InvalidArgumentError(
          fmt::format("--rootfs-storage '{}': only 'btrfs:<path>' is supported", o.rootfs_storage));
    if (o.rootfs_storage.size() == 6 || o.rootfs_storage[6] != '/')
      return InvalidArgumentError(
          fmt::format("--rootfs-storage '{}': the path must be absolute", o.rootfs_storage));
  }
  if (!o.rootfs_dir.empty() &&
      (o.rootfs_dir[0] != '/' || o.rootfs_dir.find_first_not_of('/') == std::string::npos))
    return InvalidArgumentError(
        fmt::format("--rootfs '{}' must be an absolute path other than /", o.rootfs_dir));
  if (!o.idmap.empty()) {
    auto map = IdMap::Parse(o.idmap, true);
    if (!map.ok()) return map.status().WithContext("--idmap");
  }
  if (!o.hostname.empty())
    RETURN_IF_ERROR(restore::CheckHostname(o.hostname).WithContext("--hostname"));
  return Status::OK();
}

int RunRestoreCmd(const Context& ctx, const restore::RestoreOptions& o) {
  auto renderer = MakeRenderer(ctx);
  if (::geteuid() != 0)
    return Fail(*renderer, PermissionDeniedError("ctdump restore must run as root"));
  Status usage = CheckRestoreArguments(o);
  if (!usage.ok()) return UsageError(*renderer, usage);
  restore::Paths paths{ctx.paths.lxcpath, ctx.paths.config_dir, ctx.paths.run_dir,
                       ctx.paths.state_dir};
  // JSON: guest-start and guest-end around the work on the new container
  // (its log lines and progress carry its name), then the result.
  const int64_t start = ::time(nullptr);
  renderer->OnGuestStart(o.name);
  Status s = restore::RunRestore(o, paths, renderer.get());
  const int64_t seconds = ::time(nullptr) - start;
  renderer->OnGuestEnd(
      GuestSummary{o.name, s.ok(), s.ok() ? "" : s.message(), "", std::nullopt, seconds, 0});
  if (!s.ok()) return Fail(*renderer, Status(s.code(), "restore failed - " + s.message()));
  renderer->OnResult(
      true, kExitOk,
      {{"volume", o.volid}, {"vmid", o.name}, {"seconds", seconds}, {"started", o.start}});
  return kExitOk;
}

struct RestoreArgs {
  restore::RestoreOptions options;
  int unprivileged = -1;  // --unprivileged: -1 not given, else 0 or 1
  std::string mechanism;  // --mechanism: "" not given
};

}  // namespace

void RegisterRestore(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<RestoreArgs>();
  restore::RestoreOptions& ro = a->options;
  auto* r = app.add_subcommand("restore", "restore a backup into a new container");
  r->add_option("volume", ro.volid, "<storage>:<volname>")->required();
  r->add_option("ct", ro.name, "name of the new container")->required();
  r->add_option(
       "--unprivileged", a->unprivileged,
       "1: unprivileged, 0: privileged (default: as backed up; a privileged backup needs 0 or 1)")
      ->check(CLI::IsMember({0, 1}));
  r->add_option("--rootfs", ro.rootfs_dir,
                "root file system directory (default <lxcpath>/<ct>/rootfs)");
  r->add_option("--rootfs-storage", ro.rootfs_storage, "btrfs:<path>: a new subvolume <path>/<ct>");
  r->add_option("--idmap", ro.idmap, "ID map entry, e.g. \"u 0 200000 65536\" (repeatable)")
      ->allow_extra_args(false);
  r->add_option("--bwlimit", ro.bwlimit_kib, "bandwidth limit in KiB/s")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 40));
  r->add_option("--mechanism", a->mechanism,
                "restore mechanism to ask the provider for: tar or directory (default: the "
                "provider's; `ctdump provider-test` shows what each offers)")
      ->check(CLI::IsMember({"tar", "directory"}));
  r->add_flag("--force", ro.force, "overwrite existing files in an existing root file system");
  r->add_flag("--start", ro.start, "start the container after the restore");
  r->add_flag("--unique", ro.unique, "new random MAC addresses for the container's networks");
  r->add_option("--hostname", ro.hostname, "host name of the new container (default: as backed up)")
      ->check([](const std::string& v) {
        return v.empty()
                   ? std::string("--hostname must not be empty (leave it out to keep the backup's)")
                   : std::string();
      });
  ctx.AddRunner(r, [&ctx, a] {
    restore::RestoreOptions o = a->options;
    if (a->unprivileged >= 0) o.unprivileged = a->unprivileged == 1;
    if (!a->mechanism.empty())
      o.mechanism = a->mechanism == "tar" ? RestoreMechanism::kTar : RestoreMechanism::kDirectory;
    return RunRestoreCmd(ctx, o);
  });
}

}  // namespace ctdump::cli
