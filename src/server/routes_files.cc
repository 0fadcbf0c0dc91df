// File restore of datastore snapshots (docs/design/api-server.md §6, shapes
// of docs/design/pve-api-facts.md §5 "File restore"): GET .../file-restore/
// list and .../download, through the code `ctdump catalog` and
// `restore-file` use: the store that `registry` opens (with the storage's
// keys, never asking for a passphrase), datastore::SnapshotReader for the
// entries and a file's data, datastore::ExportTar for a directory, zstd
// from archive/compressor.h.
//
// A client's path is only ever compared with the paths stored in the
// snapshot: no host file is opened by it, and symlinks are entries like
// any other, never followed.
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "archive/compressor.h"
#include "base/utf8.h"
#include "ctdump/observer.h"
#include "datastore/datastore.h"
#include "datastore/reader.h"
#include "datastore/tar_export.h"
#include "registry/registry.h"
#include "server/file_path.h"
#include "server/route_parts.h"
#include "server/routes.h"
#include "server/routes_backup.h"

namespace ctdump::server {

using json = nlohmann::json;

namespace {

constexpr char kAccessRule[] =
    "Datastore.Allocate on /storage/{storage}, or Datastore.AllocateSpace on it and VM.Backup "
    "on the backup's container (as PUT .../content/{volume})";

class QuietObserver : public Observer {
 public:
  void Log(LogLevel, std::string_view) noexcept override {}
};

// "/<path>" for messages, valid UTF-8.
std::string Shown(const std::string& path) { return ToValidUtf8("/" + path); }

// A request's snapshot: checked, and opened unless only the archive level
// is asked for.
struct Target {
  BackupVolume volume;
  SnapshotPath path;
  std::unique_ptr<datastore::Datastore> ds;
  std::unique_ptr<datastore::SnapshotReader> reader;
};

std::variant<Target, api::ApiError> Resolve(const ServerContext& ctx,
                                            const api::HandlerContext& hc) {
  const std::string storage = hc.params.at("storage").get<std::string>();
  const std::string volume = hc.params.at("volume").get<std::string>();
  auto config = registry::LoadStorageConfig(ctx.paths.config_dir);
  if (!config.ok()) return api::StatusError(config.status());
  auto section = registry::FindStorage(static_cast<const std::vector<Section>&>(*config), storage);
  if (!section.ok()) return api::NamedParamError("storage", section.status().message());
  if ((*section)->type != "datastore")
    return api::NamedParamError("storage", fmt::format("storage '{}' is not a datastore", storage));
  // The volume and the path are checked before anything is read.
  auto resolved = ResolveVolume(storage, "datastore", volume);
  if (auto* e = std::get_if<api::ApiError>(&resolved)) return *e;
  Target t;
  t.volume = std::get<BackupVolume>(resolved);
  if (!datastore::ParseVolume(t.volume.volname).ok())
    return api::NamedParamError(
        "volume", fmt::format("volume '{}' is not a backup of a datastore", ToValidUtf8(volume)));
  auto path = ParseFilepath(hc.params.at("filepath").get<std::string>());
  if (auto* e = std::get_if<api::ApiError>(&path)) return *e;
  t.path = std::get<SnapshotPath>(path);
  if (auto denied = CheckBackupAccess(ctx, hc.caller, t.volume)) return *denied;
  auto ds = registry::OpenDatastore(*config, storage, /*may_prompt=*/false);
  if (!ds.ok()) return api::StatusError(ds.status());
  t.ds = std::move(*ds);
  // Whether the snapshot exists is known from the store, even for the
  // archive level.
  auto reader = datastore::SnapshotReader::Open(*t.ds, t.volume.volname);
  if (!reader.ok()) {
    if (reader.status().code() == Code::kNotFound)
      return api::NamedParamError("volume",
                                  fmt::format("volume '{}' does not exist", ToValidUtf8(volume)));
    return api::StatusError(reader.status());
  }
  t.reader = std::move(*reader);
  return t;
}

// The entry at `path` ("" the root), stopping at it: the metadata stream
// holds a directory before what is in it.
Result<std::optional<datastore::Entry>> FindEntry(datastore::SnapshotReader& reader,
                                                  const std::string& path) {
  std::optional<datastore::Entry> found;
  Status s = reader.ForEachEntry([&](const datastore::Entry& e) -> Status {
    if (e.path != path) return Status::OK();
    found = e;
    return CancelledError("found");
  });
  if (found) return found;
  if (!s.ok()) return s;
  return std::optional<datastore::Entry>();
}

json ArchiveLevel() {
  return json::array(
      {{{"filepath", EncodeFilepath("")}, {"text", kSnapshotArchive}, {"type", "d"}, {"leaf", 0}}});
}

void List(const ServerContext& ctx, const api::HandlerContext& hc) {
  auto resolved = Resolve(ctx, hc);
  if (auto* e = std::get_if<api::ApiError>(&resolved)) return hc.sink.Error(*e);
  Target& t = std::get<Target>(resolved);
  if (t.path.archives) return hc.sink.Data(ArchiveLevel());
  const std::string& dir = t.path.path;
  const std::string prefix = dir.empty() ? "" : dir + "/";
  bool found = dir.empty(), is_dir = dir.empty();  // the root may have no record
  std::vector<std::pair<std::string, json>> entries;
  Status s = t.reader->ForEachEntry([&](const datastore::Entry& e) -> Status {
    if (e.path == dir) {
      found = true;
      is_dir = S_ISDIR(e.mode) && !e.is_hardlink();
      return Status::OK();
    }
    if (e.path.size() <= prefix.size() || !e.path.starts_with(prefix) ||
        e.path.find('/', prefix.size()) != std::string::npos)
      return Status::OK();
    std::string name = e.path.substr(prefix.size());
    char type = EntryTypeLetter(e.mode, e.is_hardlink());
    json j = {{"filepath", EncodeFilepath(e.path)},
              {"text", ToValidUtf8(name)},
              {"type", std::string(1, type)},
              {"leaf", type == 'd' ? 0 : 1}};
    if (type == 'f') {
      j["size"] = e.size;
      j["mtime"] = e.mtime_sec;
    }
    entries.emplace_back(std::move(name), std::move(j));
    return Status::OK();
  });
  if (!s.ok()) return hc.sink.Error(api::StatusError(s));
  if (!found)
    return hc.sink.Error(
        FilepathError(fmt::format("'{}' is not in backup '{}'", Shown(dir), t.volume.volname)));
  if (!is_dir)
    return hc.sink.Error(FilepathError(fmt::format("'{}' is not a directory", Shown(dir))));
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  json out = json::array();
  for (auto& [name, j] : entries) out.push_back(std::move(j));
  hc.sink.Data(out);
}

std::string Basename(const std::string& path, const std::string& volname) {
  if (path.empty()) {  // the root: "ct-100-2024-01-12T22:00:02Z"
    std::string name = volname;
    std::replace(name.begin(), name.end(), '/', '-');
    return name;
  }
  return path.substr(path.rfind('/') + 1);
}

Status ClientGone() { return CancelledError("the client went away"); }

void SendFile(Target& t, const datastore::Entry& e, const std::string& name,
              api::ResponseSink& sink) {
  api::StreamHead head;
  head.content_length = e.size;
  head.headers.emplace_back("Content-Disposition", ContentDisposition(name));
  if (!sink.BeginStream(std::move(head))) return;
  Status s = t.reader->ReadFile(e, /*with_holes=*/true, [&](const char* d, size_t n) -> Status {
    return sink.Write(std::string_view(d, n)) ? Status::OK() : ClientGone();
  });
  sink.EndStream(s);
}

void SendTar(Target& t, const std::string& name, api::ResponseSink& sink) {
  bool gone = false;
  archive::CompressorOptions co;
  co.what = "the download";
  auto zstd = archive::MakeZstdCompressor(
      [&](std::string_view d) -> Status {
        if (sink.Write(d)) return Status::OK();
        gone = true;
        return ClientGone();
      },
      co);
  if (!zstd.ok()) return sink.Error(api::StatusError(zstd.status()));
  api::StreamHead head;  // chunked: the size is known at the end only
  head.headers.emplace_back("Content-Disposition", ContentDisposition(name + ".tar.zst"));
  if (!sink.BeginStream(std::move(head))) return;
  datastore::ExportOptions eo;
  if (!t.path.path.empty()) eo.paths.push_back(t.path.path);
  QuietObserver quiet;
  auto stats = datastore::ExportTar(
      *t.reader, eo,
      [&](const void* d, size_t n) {
        return (*zstd)->Write(std::string_view(static_cast<const char*>(d), n));
      },
      [&] { return gone; }, &quiet);
  Status s = stats.status();
  if (s.ok()) s = (*zstd)->Finish();
  sink.EndStream(s);
}

void Download(const ServerContext& ctx, const api::HandlerContext& hc) {
  auto resolved = Resolve(ctx, hc);
  if (auto* e = std::get_if<api::ApiError>(&resolved)) return hc.sink.Error(*e);
  Target& t = std::get<Target>(resolved);
  if (t.path.archives)
    return hc.sink.Error(FilepathError(
        fmt::format("'/' lists the archives: download /{} (with tar=1)", kSnapshotArchive)));
  const std::string& path = t.path.path;
  const bool tar = hc.params.value("tar", false);
  const std::string name = Basename(path, t.volume.volname);
  if (path.empty()) {  // the container's root (which may have no record)
    if (!tar)
      return hc.sink.Error(FilepathError("directories are downloaded as .tar.zst: pass tar=1"));
    return SendTar(t, name, hc.sink);
  }
  auto entry = FindEntry(*t.reader, path);
  if (!entry.ok()) return hc.sink.Error(api::StatusError(entry.status()));
  if (!*entry)
    return hc.sink.Error(
        FilepathError(fmt::format("'{}' is not in backup '{}'", Shown(path), t.volume.volname)));
  datastore::Entry e = std::move(**entry);
  if (S_ISDIR(e.mode) && !e.is_hardlink()) {
    if (!tar)
      return hc.sink.Error(FilepathError("directories are downloaded as .tar.zst: pass tar=1"));
    return SendTar(t, name, hc.sink);
  }
  if (tar) return hc.sink.Error(FilepathError("cannot extract single files as archive"));
  if (e.is_hardlink()) {  // the data is the target's
    auto target = FindEntry(*t.reader, e.link);
    if (!target.ok()) return hc.sink.Error(api::StatusError(target.status()));
    if (!*target || !(*target)->is_regular())
      return hc.sink.Error(
          api::MakeError(500, fmt::format("hardlink '{}' has no file to link to", Shown(path))));
    e = std::move(**target);
  }
  if (!e.is_regular())
    return hc.sink.Error(FilepathError(fmt::format(
        "'{}' is not a regular file or a directory: it cannot be downloaded", Shown(path))));
  SendFile(t, e, name, hc.sink);
}

std::vector<api::Param> FileParams() {
  return {PathParam("node", "pve-node"),
          PathParam("storage", "pve-storage-id"),
          {.name = "volume",
           .description = "the backup: <storage>:backup/<name>, backup/<name> or <name>",
           .required = true},
          {.name = "filepath",
           .description = "\"/\" (the archives), or base64 of /root.pxar.didx[/<path>]",
           .required = true,
           .max_length = kMaxFilepathParam}};
}

}  // namespace

std::vector<api::Route> FileRoutes(const ServerContext& ctx) {
  std::vector<api::Route> r;
  json entry = {{"type", "object"},
                {"properties",
                 {{"filepath", {{"type", "string"}}},
                  {"text", {{"type", "string"}}},
                  {"type", {{"type", "string"}}},
                  {"leaf", {{"type", "integer"}}},
                  {"size", {{"type", "integer"}}},
                  {"mtime", {{"type", "integer"}}}}}};
  r.push_back({.method = api::Method::kGet,
               .path = "/nodes/{node}/storage/{storage}/file-restore/list",
               .description = "The entries of a directory of a datastore backup (symlinks are "
                              "listed, never followed).",
               .params = FileParams(),
               .returns = {{"type", "array"}, {"items", entry}},
               .permission = api::Permission::Custom(kAccessRule),
               .handler = [&ctx](const api::HandlerContext& hc) { List(ctx, hc); }});
  api::Route download{
      .method = api::Method::kGet,
      .path = "/nodes/{node}/storage/{storage}/file-restore/download",
      .description = "A file of a datastore backup, raw; a directory as .tar.zst (tar=1).",
      .params = FileParams(),
      .permission = api::Permission::Custom(kAccessRule),
      .streams = true,
      .handler = [&ctx](const api::HandlerContext& hc) { Download(ctx, hc); }};
  download.params.push_back({.name = "tar",
                             .type = api::ParamType::kBoolean,
                             .description = "a directory as .tar.zst (required for directories; "
                                            "no zip)",
                             .default_value = 0});
  r.push_back(std::move(download));
  return r;
}

}  // namespace ctdump::server
