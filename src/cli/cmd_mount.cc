// `ctdump mount <storage>:<volname> <dir>`: a datastore backup served
// read-only through FUSE (fuse/snapshot_fs.h) until unmounted.
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/datastore_storage.h"
#include "datastore/reader.h"
#include "fuse/snapshot_fs.h"

namespace ctdump::cli {
namespace {

int RunMount(const Context& ctx, Renderer& out, const std::string& volid, const std::string& dir) {
  auto v = OpenDatastoreVolume(ctx, volid);
  if (!v.ok()) return Fail(out, v.status());
  auto reader = datastore::SnapshotReader::Open(*v->ds, v->volname);
  if (!reader.ok()) return Fail(out, reader.status());
  out.Log(LogLevel::kInfo,
          fmt::format("mounting '{}' read-only at \"{}\"; unmount with 'umount {}' or Ctrl-C",
                      volid, dir, dir));
  fuse::MountOptions mo;
  Status s = fuse::MountSnapshot(**reader, dir, mo, &out);
  if (!s.ok()) return Fail(out, s);
  out.OnResult(true, kExitOk, {{"volume", volid}, {"dir", dir}});  // once unmounted
  return kExitOk;
}

struct MountArgs {
  std::string volume, dir;
};

}  // namespace

void RegisterMount(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<MountArgs>();
  auto* mnt = app.add_subcommand("mount", "mount a datastore backup read-only (FUSE)");
  mnt->add_option("volume", a->volume, "<storage>:<volname>")->required();
  mnt->add_option("dir", a->dir, "empty directory to mount on")->required();
  ctx.AddRunner(mnt, [&ctx, a] {
    auto renderer = MakeRenderer(ctx);
    // A volume not of the form <storage>:<volname> is a usage error.
    if (Status s = SplitVolumeId(a->volume).status(); !s.ok()) return UsageError(*renderer, s);
    return RunMount(ctx, *renderer, a->volume, a->dir);
  });
}

}  // namespace ctdump::cli
