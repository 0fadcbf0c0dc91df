// The line split the access module's file parsers share (user.cfg,
// token.shadow, the ticket key file). Pure; thread-safe.
#ifndef CTDUMP_ACCESS_LINES_H_
#define CTDUMP_ACCESS_LINES_H_

#include <string_view>
#include <vector>

namespace ctdump::access {

// `text` split at '\n'; a final newline starts no extra line. Element i is
// line number i + 1; the views point into `text`.
std::vector<std::string_view> SplitLines(std::string_view text);

}  // namespace ctdump::access

#endif  // CTDUMP_ACCESS_LINES_H_
