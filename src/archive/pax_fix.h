// Where libarchive's pax headers differ from GNU tar's (vzdump's tar), and
// the corrections ctdump applies when it writes and reads them.
//
// 1. Times before 1970 with a fraction. POSIX (and GNU tar) write a pax time
//    as the decimal number it is: -0.75 s is "-0.75". libarchive 3.6 writes
//    "<seconds rounded down>.<nanoseconds>" ("-1.25") and reads "-0.75" as
//    0 s + 0.75 s.
// 2. xattr names. GNU tar writes SCHILY.xattr.<name> with the name as it is
//    except '%' -> "%25" and '=' -> "%3D", and decodes those two when it
//    reads; libarchive URL-encodes the name ("user.a b" -> "user.a%20b") and
//    reads it undecoded.
// 3. The mode of a file with an ACL mask. libarchive keeps one mode per
//    entry and the ACL's group:: entry replaces its group bits; GNU tar's
//    header holds the file's mode (group bits = the mask), which readers
//    without ACL support restore.
//
// Writing, PaxWriterFixer sits between libarchive's pax writer and the
// output; reading, extract/tar_reader.h applies the same rules to what
// libarchive parsed.
#ifndef CTDUMP_ARCHIVE_PAX_FIX_H_
#define CTDUMP_ARCHIVE_PAX_FIX_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/status.h"

struct archive_entry;

namespace ctdump::archive {

inline constexpr size_t kTarBlock = 512;

struct PaxRecord {
  std::string key;
  std::string value;
};

// Parses "<length> <key>=<value>\n" records; nullopt when malformed.
std::optional<std::vector<PaxRecord>> ParsePaxRecords(std::string_view body);
// The records in that form, each with its correct length.
std::string FormatPaxRecords(const std::vector<PaxRecord>& records);

// A pax time as POSIX defines it, a decimal number ("-0.75", "12",
// "1.5"): whole seconds rounded down and nanoseconds (0..999999999);
// nullopt when malformed. Digits beyond nanoseconds are dropped.
struct PaxTime {
  int64_t sec = 0;
  long nsec = 0;
};
std::optional<PaxTime> ParsePaxTime(std::string_view value);
// A libarchive-written time ("-1.25": -1 s + 0.25 s) as the decimal number
// it stands for ("-0.75"); every other value unchanged.
std::string PaxTimeFromLibarchive(std::string_view value);

// GNU tar's xattr keyword coding: '%' <-> "%25", '=' <-> "%3D".
std::string EncodeXattrKeyword(std::string_view name);
std::string DecodeXattrKeyword(std::string_view keyword);
// "%XX" -> the byte (libarchive's url_encode, reversed).
std::string UrlDecode(std::string_view s);

// The permission bits GNU tar stores for `e`: its mode, with the group
// bits taken from the access ACL's mask when there is one.
mode_t HeaderPerm(archive_entry* e);

// ustar header fields (512-byte block).
bool TarChecksumOk(std::string_view block);
void SetTarChecksum(char* block);
// The size field (octal or base-256); nullopt when malformed.
std::optional<uint64_t> TarHeaderSize(std::string_view block);

// Corrects libarchive's pax writer output as GNU tar writes it: times
// (rule 1), xattr names (rule 2) and, when given, the header mode (rule 3).
// The writer must use format pax without filters and 0 bytes per block, so
// an entry's headers reach Write() within archive_write_header(), between
// BeginHeader() and EndHeader(). Everything else passes through unchanged
// and is handed to `out` in pieces of at least kCoalesce bytes (except at
// Flush()). Not thread-safe.
class PaxWriterFixer {
 public:
  using Output = std::function<Status(const char* data, size_t size)>;
  static constexpr size_t kCoalesce = 64 << 10;

  explicit PaxWriterFixer(Output out) : out_(std::move(out)) {}

  // `perm`: the permission bits for the entry's ustar header (HeaderPerm).
  void BeginHeader(std::optional<mode_t> perm);
  [[nodiscard]] Status EndHeader();
  [[nodiscard]] Status Write(const char* data, size_t size);
  // Hands everything held back to `out`.
  [[nodiscard]] Status Flush();
  uint64_t bytes_out() const { return bytes_out_; }

 private:
  Status Emit(const char* data, size_t size);
  Status FixHeaders(std::string& window) const;

  Output out_;
  std::string pending_;  // output held back to coalesce
  std::string header_;   // bytes written since BeginHeader
  bool in_header_ = false;
  std::optional<mode_t> perm_;
  uint64_t offset_ = 0;     // input bytes seen (libarchive's stream position)
  uint64_t bytes_out_ = 0;  // bytes handed to `out`
};

}  // namespace ctdump::archive

#endif  // CTDUMP_ARCHIVE_PAX_FIX_H_
