// UTF-8 checks shared by every module that meets bytes which should be text:
// names, notes, log lines, HTTP headers and parameters. Pure; thread-safe.
//
// Well-formed means RFC 3629 / Unicode table 3-7: shortest form, no
// surrogates, nothing above U+10FFFF. Where bytes are not, the replacement
// is Unicode's recommended practice (as Rust's String::from_utf8_lossy and
// the WHATWG decoder): each maximal ill-formed subpart becomes one U+FFFD.
#ifndef CTDUMP_BASE_UTF8_H_
#define CTDUMP_BASE_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ctdump {

// The length of the well-formed sequence at s[i] (1..4), or 0 when there is
// none; `code_point`, when given, receives its code point.
size_t Utf8SequenceLength(std::string_view s, size_t i, uint32_t* code_point = nullptr);

// The length of the maximal ill-formed subpart at s[i] (at least 1), for a
// position where Utf8SequenceLength is 0.
size_t Utf8IllFormedLength(std::string_view s, size_t i);

bool IsValidUtf8(std::string_view s);

// `s` with each maximal ill-formed subpart replaced by U+FFFD.
std::string ToValidUtf8(std::string_view s);

}  // namespace ctdump

#endif  // CTDUMP_BASE_UTF8_H_
