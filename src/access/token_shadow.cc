#include "access/token_shadow.h"

#include <fmt/format.h>

#include <algorithm>

#include "access/lines.h"
#include "access/userid.h"
#include "crypt/crypt.h"
#include "sys/file.h"

namespace ctdump::access {
namespace {

constexpr size_t kMaxFileSize = 16 << 20;
constexpr std::string_view kPrefix = "sha256:";

bool IsHashField(std::string_view s) {
  if (!s.starts_with(kPrefix) || s.size() != kPrefix.size() + 64) return false;
  return std::all_of(s.begin() + kPrefix.size(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::string HashTokenSecret(std::string_view secret) {
  return std::string(kPrefix) + crypt::Sha256(secret).Hex();
}

TokenShadow TokenShadow::Parse(std::string_view text, std::string_view file) {
  TokenShadow shadow;
  int n = 0;
  for (std::string_view line : SplitLines(text)) {
    ++n;
    Line l{"", std::string(line)};
    size_t space = line.find(' ');
    if (line.empty() || line[0] == '#') {
      // kept as it is
    } else if (space == std::string_view::npos || !ParseTokenId(line.substr(0, space)).ok() ||
               !IsHashField(line.substr(space + 1))) {
      // Never quote the line: it may hold a secret pasted by hand.
      shadow.problems_.push_back(
          fmt::format("{}:{}: not of the form '<userid>!<name> sha256:<hex>'", file, n));
    } else if (shadow.Find(line.substr(0, space))) {
      shadow.problems_.push_back(fmt::format("{}:{}: token '{}' is listed again (ignored)", file, n,
                                             Printable(line.substr(0, space))));
    } else {
      l.tokenid = std::string(line.substr(0, space));
    }
    shadow.lines_.push_back(std::move(l));
  }
  return shadow;
}

Result<TokenShadow> TokenShadow::Load(const std::string& path) {
  if (!sys::PathExists(path)) return Parse("", path);
  ASSIGN_OR_RETURN(std::string text, sys::ReadRegularFile(path, kMaxFileSize));
  return Parse(text, path);
}

const TokenShadow::Line* TokenShadow::Find(std::string_view tokenid) const {
  for (const Line& l : lines_)
    if (!l.tokenid.empty() && l.tokenid == tokenid) return &l;
  return nullptr;
}

void TokenShadow::Set(std::string_view tokenid, std::string_view secret) {
  std::string text = fmt::format("{} {}", tokenid, HashTokenSecret(secret));
  for (Line& l : lines_)
    if (l.tokenid == tokenid) {
      l.text = std::move(text);
      return;
    }
  lines_.push_back({std::string(tokenid), std::move(text)});
}

bool TokenShadow::Remove(std::string_view tokenid) {
  // Also lines of the token that were ignored as repeated.
  size_t before = lines_.size();
  std::string prefix = fmt::format("{} ", tokenid);
  std::erase_if(lines_, [&](const Line& l) {
    return l.tokenid == tokenid || std::string_view(l.text).starts_with(prefix);
  });
  return lines_.size() != before;
}

bool TokenShadow::Has(std::string_view tokenid) const { return Find(tokenid) != nullptr; }

bool TokenShadow::Verify(std::string_view tokenid, std::string_view secret) const {
  const Line* l = Find(tokenid);
  // Hash even when the token is unknown: the time does not tell.
  std::string hash = HashTokenSecret(secret);
  if (l == nullptr) return false;
  return crypt::ConstantTimeEqual(std::string_view(l->text).substr(tokenid.size() + 1), hash);
}

std::string TokenShadow::Serialize() const {
  std::string out;
  for (const Line& l : lines_) {
    out += l.text;
    out.push_back('\n');
  }
  return out;
}

}  // namespace ctdump::access
