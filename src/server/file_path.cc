// The pure parts of the file restore routes (docs/design/api-server.md §6):
// how a client's `filepath` becomes a path of the snapshot, and how entries
// and download names are shown. Kept apart from routes_files.cc so that the
// `filepath_fuzz` target needs no store.
#include "server/file_path.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cctype>
#include <optional>
#include <string>
#include <utility>

#include "base/base64.h"
#include "base/utf8.h"
#include "datastore/tar_export.h"

namespace ctdump::server {

api::ApiError FilepathError(std::string message) {
  return api::NamedParamError("filepath", std::move(message));
}

std::variant<SnapshotPath, api::ApiError> ParseFilepath(std::string_view filepath) {
  if (filepath == "/") return SnapshotPath{.archives = true};
  if (filepath.size() > kMaxFilepathParam)
    return FilepathError(
        fmt::format("filepath is too long (at most {} bytes, base64)", kMaxFilepathBytes));
  std::optional<std::string> decoded = Base64Decode(filepath);
  if (!decoded) return FilepathError("filepath is not base64 (or \"/\")");
  if (decoded->size() > kMaxFilepathBytes)
    return FilepathError(fmt::format("filepath is longer than {} bytes", kMaxFilepathBytes));
  if (decoded->find('\0') != std::string::npos) return FilepathError("filepath contains NUL");
  std::string_view p = *decoded;
  while (p.starts_with('/')) p.remove_prefix(1);
  if (p.empty()) return SnapshotPath{.archives = true};
  constexpr std::string_view kArchive = kSnapshotArchive;
  if (!p.starts_with(kArchive) || (p.size() > kArchive.size() && p[kArchive.size()] != '/'))
    return FilepathError(fmt::format("filepath does not start with {}", kArchive));
  auto normalized = datastore::NormalizeSnapshotPath(std::string(p.substr(kArchive.size())));
  if (!normalized.ok()) return FilepathError("filepath contains \"..\"");
  return SnapshotPath{.archives = false, .path = std::move(*normalized)};
}

std::string EncodeFilepath(std::string_view path) {
  std::string full = std::string("/") + kSnapshotArchive;
  if (!path.empty()) full.append("/").append(path);
  return Base64Encode(full);
}

char EntryTypeLetter(uint32_t mode, bool hardlink) {
  if (hardlink) return 'h';
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return 'd';
    case S_IFLNK:
      return 'l';
    case S_IFBLK:
      return 'b';
    case S_IFCHR:
      return 'c';
    case S_IFIFO:
      return 'p';
    case S_IFSOCK:
      return 's';
    default:
      return 'f';
  }
}

std::string ContentDisposition(std::string_view name) {
  std::string ascii;
  for (unsigned char c : name)
    ascii += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '%' && c != '/')
                 ? static_cast<char>(c)
                 : '_';
  if (ascii.empty()) ascii = "download";
  std::string encoded;
  for (unsigned char c : ToValidUtf8(name)) {
    // RFC 8187 attr-char
    if (std::isalnum(c) ||
        std::string_view("!#$&+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos) {
      encoded += static_cast<char>(c);
    } else {
      encoded += fmt::format("%{:02X}", c);
    }
  }
  return fmt::format("attachment; filename=\"{}\"; filename*=UTF-8''{}", ascii, encoded);
}

}  // namespace ctdump::server
