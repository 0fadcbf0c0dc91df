// Standard base64 (RFC 4648 §4), one codec for every module: tickets, CSRF
// tokens and key files (access), API file paths (server), notification
// configs and mail headers (notify). Pure; thread-safe.
#ifndef CTDUMP_BASE_BASE64_H_
#define CTDUMP_BASE_BASE64_H_

#include <optional>
#include <string>
#include <string_view>

namespace ctdump {

// With '=' padding unless `pad` is false; no line breaks.
std::string Base64Encode(std::string_view data, bool pad = true);
// Strict: only the alphabet, padding optional but correct if present, no
// whitespace; nullopt otherwise.
std::optional<std::string> Base64Decode(std::string_view text);
// Lenient, for values people write: any number of trailing '=' is ignored,
// and so are the bits after the last whole byte; still only the alphabet,
// no whitespace, and no length of 4n+1 characters (without the '=').
std::optional<std::string> Base64DecodeLenient(std::string_view text);

}  // namespace ctdump

#endif  // CTDUMP_BASE_BASE64_H_
