// Paper keys (PBS `key paperkey`, borg `key export --paper`): a key file
// printed between marker lines, with a QR code of the same, and read back
// from what a user typed or scanned. Spec: docs/formats/key-file.md.
//
//   ctdump paper key
//   fingerprint: aa:bb:cc:dd:ee:ff:00:11     informational, checked if present
//   ...
//   -----BEGIN CTDUMP PAPER KEY-----
//   { the key file's JSON text }
//   -----END CTDUMP PAPER KEY-----
//   <QR code of the BEGIN line, the compact JSON and the END line>
//
// Reading strips all whitespace between the markers (the key file has no
// meaningful whitespace), so line breaks and spaces typed by hand do not
// matter; the key file's own checksum catches any other change.
#ifndef CTDUMP_CRYPT_PAPER_KEY_H_
#define CTDUMP_CRYPT_PAPER_KEY_H_

#include <string>
#include <string_view>

#include "ctdump/status.h"

namespace ctdump::crypt {

inline constexpr std::string_view kPaperKeyBegin = "-----BEGIN CTDUMP PAPER KEY-----";
inline constexpr std::string_view kPaperKeyEnd = "-----END CTDUMP PAPER KEY-----";
// Anything longer is not a paper key.
inline constexpr size_t kPaperKeyMaxSize = 1024 * 1024;

enum class PaperFormat { kText, kHtml };

// The printable page for the key file text `key_file` (checked first with
// ParseKeyFileText; errors name `what`). Text: UTF-8 with the QR code in
// half blocks; HTML: a page with the text in <pre> and the QR code as SVG.
Result<std::string> FormatPaperKey(std::string_view key_file, const std::string& what,
                                   PaperFormat format);

// The key file text (version 2, as FormatKeyFileText writes it) in a paper
// key read back. Errors name `what`: no BEGIN line (InvalidArgument, "not a
// ctdump paper key"), no END line after it (DataLoss, "truncated"), the key
// file inside damaged (DataLoss from ParseKeyFileText, e.g. "checksum
// mismatch"), a "fingerprint:" line that names another key (DataLoss).
Result<std::string> ParsePaperKey(std::string_view paper, const std::string& what);

}  // namespace ctdump::crypt

#endif  // CTDUMP_CRYPT_PAPER_KEY_H_
