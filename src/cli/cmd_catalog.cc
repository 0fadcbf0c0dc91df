// `ctdump catalog <storage>:<volname> [<path>]`: the files of a datastore
// backup, `ls -l` style, or with --output-format json a result event whose
// "data" is the array of entries.
#include <fmt/format.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <ctime>
#include <nlohmann/json.hpp>

#include "backup/task_log.h"
#include "cli/commands.h"
#include "cli/datastore_storage.h"
#include "datastore/reader.h"
#include "datastore/tar_export.h"

namespace ctdump::cli {
namespace {

using json = nlohmann::json;

char TypeChar(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return 'd';
    case S_IFLNK:
      return 'l';
    case S_IFCHR:
      return 'c';
    case S_IFBLK:
      return 'b';
    case S_IFIFO:
      return 'p';
    case S_IFSOCK:
      return 's';
    default:
      return '-';
  }
}

std::string ModeString(uint32_t mode) {
  std::string s(10, '-');
  s[0] = TypeChar(mode);
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i)
    if (mode & (1u << (8 - i))) s[1 + i] = rwx[i];
  if (mode & S_ISUID) s[3] = (mode & S_IXUSR) ? 's' : 'S';
  if (mode & S_ISGID) s[6] = (mode & S_IXGRP) ? 's' : 'S';
  if (mode & S_ISVTX) s[9] = (mode & S_IXOTH) ? 't' : 'T';
  return s;
}

std::string TimeString(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", &tm);
  return buf;
}

std::string HexBytes(std::string_view s) {
  std::string out;
  for (unsigned char ch : s) out += fmt::format("{:02x}", ch);
  return out;
}

int RunCatalog(const Context& ctx, Renderer& out, const std::string& volid,
               const std::string& path) {
  auto prefix = datastore::NormalizeSnapshotPath(path);  // ".." is a usage error
  if (!prefix.ok()) return UsageError(out, prefix.status());
  auto v = OpenDatastoreVolume(ctx, volid);
  if (!v.ok()) return Fail(out, v.status());
  auto reader = datastore::SnapshotReader::Open(*v->ds, v->volname);
  if (!reader.ok()) return Fail(out, reader.status());
  bool found = false;
  json listing = json::array();
  Status s = (*reader)->ForEachEntry([&](const datastore::Entry& e) -> Status {
    bool below = prefix->empty() || e.path == *prefix ||
                 (e.path.size() > prefix->size() && e.path.starts_with(*prefix) &&
                  e.path[prefix->size()] == '/');
    if (!below) return Status::OK();
    found = true;
    std::string shown = "/" + e.path;
    if (ctx.json()) {
      json j = {{"path", shown},          {"type", std::string(1, TypeChar(e.mode))},
                {"mode", e.mode & 07777}, {"uid", e.uid},
                {"gid", e.gid},           {"size", e.size},
                {"mtime", e.mtime_sec}};
      if (!e.link.empty()) j[e.is_hardlink() ? "hardlink" : "target"] = "/" + e.link;
      if (!e.link.empty() && !e.is_hardlink()) j["target"] = e.link;
      // Names that are not UTF-8: the string has U+FFFD, "<key>-hex" the bytes.
      for (const char* key : {"path", "hardlink", "target"})
        if (j.contains(key) && !backup::IsUtf8(j[key].get<std::string>()))
          j[std::string(key) + "-hex"] = HexBytes(j[key].get<std::string>());
      listing.push_back(std::move(j));
      return Status::OK();
    }
    // Text: control characters and bytes that are not UTF-8 as \xHH, one entry a line.
    std::string line = fmt::format("{} {:>6} {:>6} {:>12} {} {}", ModeString(e.mode), e.uid, e.gid,
                                   e.size, TimeString(e.mtime_sec), backup::EscapeControl(shown));
    if (S_ISLNK(e.mode)) line += " -> " + backup::EscapeControl(e.link);
    if (e.is_hardlink()) line += " link to /" + backup::EscapeControl(e.link);
    fmt::print("{}\n", line);
    return Status::OK();
  });
  if (!s.ok()) return Fail(out, s);
  if (!found)
    return Fail(out, NotFoundError(fmt::format("'/{}' is not in backup '{}'", *prefix, volid)));
  out.OnResult(true, kExitOk, listing);  // JSON: "data" is the array of entries
  return kExitOk;
}

struct CatalogArgs {
  std::string volume, path;
};

}  // namespace

void RegisterCatalog(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<CatalogArgs>();
  auto* cat = app.add_subcommand("catalog", "list the files of a datastore backup");
  cat->add_option("volume", a->volume, "<storage>:<volname>")->required();
  cat->add_option("path", a->path, "only this path and what is below it");
  ctx.AddRunner(cat, [&ctx, a] {
    auto renderer = MakeRenderer(ctx);
    // A volume not of the form <storage>:<volname> is a usage error.
    if (Status s = SplitVolumeId(a->volume).status(); !s.ok()) return UsageError(*renderer, s);
    return RunCatalog(ctx, *renderer, a->volume, a->path);
  });
}

}  // namespace ctdump::cli
