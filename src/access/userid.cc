#include "access/userid.h"

#include <fmt/format.h>

namespace ctdump::access {
namespace {

bool IsAlpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameChar(char c) { return IsAlpha(c) || IsDigit(c) || c == '.' || c == '-' || c == '_'; }

// [A-Za-z][A-Za-z0-9.\-_]+ (realms and token names).
bool IsLetterName(std::string_view s) {
  if (s.size() < 2 || !IsAlpha(s[0])) return false;
  for (char c : s.substr(1))
    if (!IsNameChar(c)) return false;
  return true;
}

// [A-Za-z0-9.\-_]+ (groups and roles).
bool IsPlainName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!IsNameChar(c)) return false;
  return true;
}

bool IsUserPartChar(char c) {
  auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7f && c != ':' && c != '/' && c != ',';
}

}  // namespace

std::string Printable(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string out;
  for (char c : s.substr(0, kMax)) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f)
      out += fmt::format("\\x{:02x}", u);
    else
      out.push_back(c);
  }
  if (s.size() > kMax) out += "...";
  return out;
}

Result<UserId> ParseUserId(std::string_view s) {
  auto bad = [s](std::string_view why) {
    return InvalidArgumentError(fmt::format("invalid user id '{}': {}", Printable(s), why));
  };
  if (s.size() > kMaxUserIdLength) return bad("too long (at most 63 characters)");
  size_t at = s.rfind('@');
  if (at == std::string_view::npos) return bad("not of the form USER@REALM");
  std::string_view name = s.substr(0, at), realm = s.substr(at + 1);
  if (name.empty()) return bad("the user name is empty");
  for (char c : name)
    if (!IsUserPartChar(c))
      return bad("the user name has a space, control character, ':', '/' or ','");
  if (!IsLetterName(realm)) return bad("the realm is not of the form [A-Za-z][A-Za-z0-9.-_]+");
  return UserId{std::string(name), std::string(realm), std::string(s)};
}

Result<TokenId> ParseTokenId(std::string_view s) {
  size_t bang = s.rfind('!');
  if (bang == std::string_view::npos)
    return InvalidArgumentError(
        fmt::format("invalid token id '{}': not of the form USER@REALM!NAME", Printable(s)));
  Result<UserId> user = ParseUserId(s.substr(0, bang));
  if (!user.ok())
    return InvalidArgumentError(
        fmt::format("invalid token id '{}': {}", Printable(s), user.status().message()));
  RETURN_IF_ERROR(CheckTokenName(s.substr(bang + 1)));
  return TokenId{user->full, std::string(s.substr(bang + 1)), std::string(s)};
}

Status CheckTokenName(std::string_view s) {
  if (IsLetterName(s)) return Status::OK();
  return InvalidArgumentError(fmt::format(
      "invalid token name '{}': not of the form [A-Za-z][A-Za-z0-9.-_]+", Printable(s)));
}

Status CheckGroupId(std::string_view s) {
  if (IsPlainName(s)) return Status::OK();
  return InvalidArgumentError(
      fmt::format("invalid group id '{}': not of the form [A-Za-z0-9.-_]+", Printable(s)));
}

Status CheckRoleId(std::string_view s) {
  if (IsPlainName(s)) return Status::OK();
  return InvalidArgumentError(
      fmt::format("invalid role id '{}': not of the form [A-Za-z0-9.-_]+", Printable(s)));
}

bool IsTokenId(std::string_view authid) { return authid.find('!') != std::string_view::npos; }

}  // namespace ctdump::access
