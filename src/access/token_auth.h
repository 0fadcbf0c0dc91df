// API token authentication (docs/design/api-server.md §2.1, facts §2):
// the `Authorization` header's token form and the check of a token's secret.
//
//   Authorization: PVEAPIToken=USER@REALM!NAME=SECRET     (also CTDUMPAPIToken=)
//
// As pveproxy: the name is found with (?:^|\s)NAME(?:=| )([^;]*), the value is
// percent-decoded, then split at its last '=' (^(.*)=(.*)$). Pure;
// thread-safe.
#ifndef CTDUMP_ACCESS_TOKEN_AUTH_H_
#define CTDUMP_ACCESS_TOKEN_AUTH_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "access/token_shadow.h"
#include "access/user_cfg.h"
#include "ctdump/status.h"

namespace ctdump::access {

struct TokenCredentials {
  std::string tokenid;  // not yet validated
  std::string secret;
};

// The token and secret of an Authorization header value; nullopt when it
// has neither token form or no '=' between id and secret.
std::optional<TokenCredentials> ParseTokenHeader(std::string_view header);

// OK when `tokenid` is a valid token id, CheckEnabled (acl.h) passes for it
// at `now` (token exists and is unexpired, its user enabled and unexpired)
// and `secret` matches token.shadow. PermissionDenied with the reason
// otherwise (for logs only: never the secret).
Status AuthenticateToken(const UserConfig& cfg, const TokenShadow& shadow, std::string_view tokenid,
                         std::string_view secret, int64_t now);

}  // namespace ctdump::access

#endif  // CTDUMP_ACCESS_TOKEN_AUTH_H_
