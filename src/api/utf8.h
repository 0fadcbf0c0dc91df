// UTF-8 helpers (private to src/api).
#ifndef CTDUMP_API_UTF8_H_
#define CTDUMP_API_UTF8_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace ctdump::api {

// The length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms,
// no surrogates, at most U+10FFFF) at s[i], or 0 if there is none.
size_t Utf8SequenceLength(std::string_view s, size_t i);

// `s` with every byte that does not start a well-formed sequence replaced by
// U+FFFD, as Perl's decode_utf8 in PVE's decode_utf8_parameters. The result is
// always accepted by nlohmann::json's dump().
std::string ToValidUtf8(std::string_view s);

}  // namespace ctdump::api

#endif  // CTDUMP_API_UTF8_H_
