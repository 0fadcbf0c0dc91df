#include "crypt/paper_key.h"

#include <fmt/format.h>

#include <cctype>

#include "crypt/key_format.h"
#include "crypt/passphrase.h"
#include "crypt/qr_code.h"

namespace ctdump::crypt {
namespace {

constexpr std::string_view kFingerprintLine = "fingerprint:";

std::string StripWhitespace(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c))) out.push_back(c);
  return out;
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string Header(const KeyFileInfo& info) {
  std::string h = fmt::format(
      "ctdump paper key\n"
      "{} {}\n"
      "created:     {}\n"
      "kdf:         {}\n\n",
      kFingerprintLine, FingerprintString(info.fingerprint), Rfc3339Utc(info.created),
      KdfName(info.kdf));
  if (info.kdf == Kdf::kNone) {
    h += "WARNING: this key is not protected by a passphrase: whoever reads this page can\n"
         "read the backups made with it.\n\n";
  } else {
    h += "The key's passphrase is still needed to use this copy.\n\n";
  }
  h += "To restore the key file, type or scan the lines from BEGIN to END (spaces and line\n"
       "breaks do not matter) and run: ctdump key import --paperkey <that file> <key file>\n\n";
  return h;
}

// Position just past the line containing `marker` (at or after `from`), or
// npos.
size_t LineAfter(std::string_view text, std::string_view marker, size_t from, size_t* start) {
  size_t at = text.find(marker, from);
  if (at == std::string_view::npos) return at;
  *start = at;
  size_t eol = text.find('\n', at);
  return eol == std::string_view::npos ? text.size() : eol + 1;
}

}  // namespace

Result<std::string> FormatPaperKey(std::string_view key_file, const std::string& what,
                                   PaperFormat format) {
  ASSIGN_OR_RETURN(KeyFileContents c, ParseKeyFileText(key_file, what));
  std::string file_text = FormatKeyFileText(c);
  std::string compact = StripWhitespace(file_text);
  std::string qr_data = fmt::format("{}\n{}\n{}\n", kPaperKeyBegin, compact, kPaperKeyEnd);
  WipeString(compact);
  Result<QrMatrix> qr = EncodeQr(qr_data);
  WipeString(qr_data);
  if (!qr.ok()) return qr.status();
  std::string block = fmt::format("{}\n{}{}\n", kPaperKeyBegin, file_text, kPaperKeyEnd);
  WipeString(file_text);
  std::string out;
  if (format == PaperFormat::kText) {
    out = Header(c.Info()) + block + "\n" + QrHalfBlocks(*qr);
  } else {
    out = fmt::format(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ctdump paper key {}"
        "</title>\n<style>pre{{font-size:11pt;}} body{{font-family:monospace;}}</style></head>\n"
        "<body>\n<pre>{}{}</pre>\n<p>{}</p>\n</body></html>\n",
        FingerprintString(c.fingerprint), HtmlEscape(Header(c.Info())), HtmlEscape(block),
        QrSvg(*qr));
  }
  WipeString(block);
  return out;
}

Result<std::string> ParsePaperKey(std::string_view paper, const std::string& what) {
  if (paper.size() > kPaperKeyMaxSize) {
    return InvalidArgumentError(fmt::format("\"{}\": not a ctdump paper key (larger than {} bytes)",
                                            what, kPaperKeyMaxSize));
  }
  size_t begin_at = 0;
  size_t body = LineAfter(paper, kPaperKeyBegin, 0, &begin_at);
  if (body == std::string_view::npos) {
    return InvalidArgumentError(
        fmt::format("\"{}\": not a ctdump paper key (no \"{}\" line)", what, kPaperKeyBegin));
  }
  size_t end_at = 0;
  if (LineAfter(paper, kPaperKeyEnd, body, &end_at) == std::string_view::npos) {
    return DataLossError(
        fmt::format("\"{}\": the paper key is truncated: no \"{}\" line after the BEGIN line", what,
                    kPaperKeyEnd));
  }
  std::string compact = StripWhitespace(paper.substr(body, end_at - body));
  Result<KeyFileContents> c = ParseKeyFileText(compact, what);
  WipeString(compact);
  if (!c.ok()) return c.status();
  // The human-readable fingerprint line above BEGIN, when it was copied too.
  std::string_view head = paper.substr(0, begin_at);
  if (size_t fp = head.find(kFingerprintLine); fp != std::string_view::npos) {
    size_t eol = head.find('\n', fp);
    std::string said = StripWhitespace(
        head.substr(fp + kFingerprintLine.size(), eol == std::string_view::npos
                                                      ? std::string_view::npos
                                                      : eol - fp - kFingerprintLine.size()));
    std::string has = FingerprintString(c->fingerprint);
    if (said != has) {
      return DataLossError(fmt::format(
          "\"{}\": fingerprint mismatch: the page says \"{}\", the key between the markers has {}",
          what, said.substr(0, 40), has));
    }
  }
  return FormatKeyFileText(*c);
}

}  // namespace ctdump::crypt
