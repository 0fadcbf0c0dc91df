// Standard base64 (RFC 4648 §4) for tickets, CSRF tokens and key files.
// Pure; thread-safe.
#ifndef CTDUMP_ACCESS_BASE64_H_
#define CTDUMP_ACCESS_BASE64_H_

#include <optional>
#include <string>
#include <string_view>

namespace ctdump::access {

// With '=' padding unless `pad` is false; no line breaks.
std::string Base64Encode(std::string_view data, bool pad = true);
// Strict: only the alphabet, padding optional but correct if present, no
// whitespace; nullopt otherwise.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace ctdump::access

#endif  // CTDUMP_ACCESS_BASE64_H_
