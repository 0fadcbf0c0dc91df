// The pure parts of the file restore routes (docs/design/api-server.md §6):
// how a client's `filepath` becomes a path of the snapshot, and how entries
// and download names are shown. routes_files.cc serves them; filepath_fuzz
// and routes_files_test check them.
#ifndef CTDUMP_SERVER_FILE_PATH_H_
#define CTDUMP_SERVER_FILE_PATH_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "api/response.h"

namespace ctdump::server {

// The one archive a datastore snapshot shows, PVE's first level of a PBS
// container backup.
inline constexpr char kSnapshotArchive[] = "root.pxar.didx";
// The longest decoded `filepath`.
inline constexpr size_t kMaxFilepathBytes = 4096;
// Its longest base64 form (padded).
inline constexpr size_t kMaxFilepathParam = (kMaxFilepathBytes + 2) / 3 * 4;

// Where a `filepath` points.
struct SnapshotPath {
  // True for the archive level ("/" or base64 of "/"): the list of archives.
  bool archives = false;
  // Inside the archive, as the metadata stream names entries ("etc/hosts",
  // "" for the container's root); exact bytes.
  std::string path{};
};

// A 400 on the parameter `filepath` with `message`.
api::ApiError FilepathError(std::string message);

// A client's `filepath`: the literal "/" (PVE's root), else strict base64
// (standard alphabet, padding optional, at most kMaxFilepathBytes decoded)
// of "[/]root.pxar.didx[/<path>]" without NUL, where `..` components are
// refused and `.` and empty ones dropped. 400 on `filepath` otherwise; the
// messages never echo the client's bytes.
std::variant<SnapshotPath, api::ApiError> ParseFilepath(std::string_view filepath);

// The `filepath` of an answer: base64 of "/root.pxar.didx[/<path>]".
std::string EncodeFilepath(std::string_view path);

// PVE's `type` letter of a stored mode ('d', 'f', 'l', 'b', 'c', 'p', 's'),
// 'h' for a hardlink; 'f' for anything unknown.
char EntryTypeLetter(uint32_t mode, bool hardlink);

// The Content-Disposition of a download named `name` (any bytes): attachment
// with a quoted ASCII filename (other bytes, quotes, '\' and controls as '_';
// "download" if nothing is left) and filename*=UTF-8''<percent-encoded
// name, invalid UTF-8 as U+FFFD>.
std::string ContentDisposition(std::string_view name);

}  // namespace ctdump::server

#endif  // CTDUMP_SERVER_FILE_PATH_H_
