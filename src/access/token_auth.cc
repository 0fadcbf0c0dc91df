#include "access/token_auth.h"

#include <fmt/format.h>

#include "access/acl.h"
#include "access/userid.h"

namespace ctdump::access {
namespace {

// The value after `name` as pveproxy's (?:^|\s)NAME(?:=| )([^;]*).
std::optional<std::string_view> FindValue(std::string_view header, std::string_view name) {
  for (size_t pos = header.find(name); pos != std::string_view::npos;
       pos = header.find(name, pos + 1)) {
    bool starts = pos == 0 || header[pos - 1] == ' ' || header[pos - 1] == '\t';
    size_t after = pos + name.size();
    if (!starts || after >= header.size() || (header[after] != '=' && header[after] != ' '))
      continue;
    std::string_view value = header.substr(after + 1);
    return value.substr(0, value.find(';'));
  }
  return std::nullopt;
}

}  // namespace

std::optional<TokenCredentials> ParseTokenHeader(std::string_view header) {
  std::optional<std::string_view> raw = FindValue(header, "PVEAPIToken");
  if (!raw) raw = FindValue(header, "CTDUMPAPIToken");
  if (!raw) return std::nullopt;
  std::string value = DecodeText(*raw);
  size_t eq = value.rfind('=');
  if (eq == std::string::npos) return std::nullopt;
  return TokenCredentials{value.substr(0, eq), value.substr(eq + 1)};
}

Status AuthenticateToken(const UserConfig& cfg, const TokenShadow& shadow, std::string_view tokenid,
                         std::string_view secret, int64_t now) {
  Result<TokenId> id = ParseTokenId(tokenid);
  if (!id.ok()) return PermissionDeniedError(id.status().message());
  RETURN_IF_ERROR(CheckEnabled(cfg, id->full, now));
  if (!shadow.Verify(id->full, secret))
    return PermissionDeniedError(fmt::format("token '{}': wrong secret", id->full));
  return Status::OK();
}

}  // namespace ctdump::access
