// Small text helpers shared by the config parsers (private to src/config).
#ifndef CTDUMP_CONFIG_TEXT_UTIL_H_
#define CTDUMP_CONFIG_TEXT_UTIL_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ctdump::config {

// Perl's \s on bytes: space, \t, \n, \v, \f, \r.
bool IsSpace(char c);

// `s` without leading / trailing IsSpace characters.
std::string_view Trim(std::string_view s);
std::string_view TrimLeft(std::string_view s);
std::string_view TrimRight(std::string_view s);

// Lines split at '\n' (Perl's split /\n/: a final newline does not start an
// extra line). Line i of the result is line number i + 1.
std::vector<std::string_view> SplitLines(std::string_view text);

// Splits at `sep`, keeping empty pieces.
std::vector<std::string_view> Split(std::string_view s, char sep);

bool StartsWith(std::string_view s, std::string_view prefix);
bool EndsWith(std::string_view s, std::string_view suffix);

// PVE's parse_boolean: 1|on|yes|true -> true, 0|off|no|false -> false (any
// case), anything else nullopt.
std::optional<bool> ParsePveBool(std::string_view s);

// Lexically normalised absolute path: repeated and trailing '/' and "."
// components removed, ".." pops a component (and stays at "/" at the root).
// nullopt if `path` is not absolute or contains a NUL byte.
std::optional<std::string> NormalizeAbsolutePath(std::string_view path);

// The directory part of a path ("/a/b" -> "/a", "/a" -> "/", "a" -> ".").
std::string DirName(std::string_view path);

// "<file>:<line>".
std::string Where(std::string_view file, size_t line);

}  // namespace ctdump::config

#endif  // CTDUMP_CONFIG_TEXT_UTIL_H_
