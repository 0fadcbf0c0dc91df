// `ctdump datastore create <path>`: a new datastore in an empty or missing
// directory (never in one holding anything else, never over a datastore).
// `ctdump datastore create --storage <id>`: the store of a storage.cfg
// section, e.g. in a RADOS pool (namespace), created in the same way (a
// backup into an empty store also creates it).
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/datastore_storage.h"
#include "datastore/datastore.h"
#include "objstore/local_backend.h"
#include "sys/file.h"

namespace ctdump::cli {
namespace {

int RunDatastoreCreate(Renderer& out, const std::string& path) {
  if (path.empty() || path[0] != '/')
    return UsageError(out, InvalidArgumentError(fmt::format(
                               "datastore path \"{}\" must be an absolute path", path)));
  Status made = sys::MakeDirs(path, 0700);  // a missing directory is created
  if (!made.ok()) return Fail(out, made);
  objstore::LocalBackendOptions bo;
  bo.file_mode = 0600;  // as OpenDatastore: other containers' data, root only
  bo.dir_mode = 0700;
  auto backend = objstore::OpenLocalBackend(path, bo);
  if (!backend.ok()) return Fail(out, backend.status());
  auto ds =
      datastore::Datastore::Create(std::move(*backend), fmt::format("datastore \"{}\"", path));
  if (!ds.ok()) return Fail(out, ds.status());
  out.Log(LogLevel::kInfo,
          fmt::format("created a datastore in \"{}\"; use it with a storage.cfg section like "
                      "'datastore: <id>' + 'path {}'",
                      path, path));
  out.OnResult(true, kExitOk, {{"path", path}});
  return kExitOk;
}

int RunDatastoreCreateStorage(const Context& ctx, Renderer& out, const std::string& id) {
  auto ds = OpenDatastoreStorage(ctx, id);
  if (!ds.ok()) return Fail(out, ds.status());
  if ((*ds)->exists())
    return Fail(out, AlreadyExistsError(fmt::format("storage '{}' holds a datastore already ({})",
                                                    id, (*ds)->backend().Describe())));
  Status made = (*ds)->EnsureCreated();
  if (!made.ok()) return Fail(out, made);
  out.Log(LogLevel::kInfo, fmt::format("created a datastore for storage '{}' in {}", id,
                                       (*ds)->backend().Describe()));
  out.OnResult(true, kExitOk, {{"storage", id}, {"backend", (*ds)->backend().Describe()}});
  return kExitOk;
}

}  // namespace

void RegisterDatastore(CLI::App& app, Context& ctx) {
  auto* dsc = app.add_subcommand("datastore", "manage datastores");
  dsc->require_subcommand(1);
  auto path = std::make_shared<std::string>();
  auto storage = std::make_shared<std::string>();
  auto* create = dsc->add_subcommand(
      "create",
      "create a datastore in an empty or missing directory, or the store of a storage.cfg "
      "section (--storage: e.g. a RADOS pool)");
  auto* path_opt = create->add_option("path", *path, "the directory (absolute path)");
  auto* storage_opt = create->add_option(
      "--storage", *storage, "a datastore storage of storage.cfg (its store must be empty)");
  path_opt->excludes(storage_opt);
  create->require_option(1);
  ctx.AddRunner(create, [&ctx, path, storage] {
    auto renderer = MakeRenderer(ctx);
    if (!storage->empty()) return RunDatastoreCreateStorage(ctx, *renderer, *storage);
    return RunDatastoreCreate(*renderer, *path);
  });
}

}  // namespace ctdump::cli
