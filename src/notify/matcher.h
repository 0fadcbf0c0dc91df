// Matchers (proxmox-notify's matcher.rs): which targets a notification goes to.
//
// A matcher's directives are match-severity, match-field and match-calendar
// entries. With mode `all` every entry must match, with `any` one; a matcher
// without entries always matches (also when inverted, as PVE); invert-match
// negates the result otherwise. A field that the notification does not have
// never matches. Regexes search (unanchored, like Rust's is_match) with
// ECMAScript syntax. Calendar entries are proxmox-time's DailyDuration in
// local time: "[<weekdays>] H[:MM]-H[:MM]", weekdays a list of days and
// ranges (mon..fri or mon-fri), the time range start inclusive, end exclusive.
#ifndef CTDUMP_NOTIFY_MATCHER_H_
#define CTDUMP_NOTIFY_MATCHER_H_

#include <string_view>

#include "notify/notify.h"

namespace ctdump::notify {

// "exact:key=v1,v2" or "regex:key=re".
Result<FieldMatch> ParseFieldMatch(std::string_view text);
// "warning,error".
Result<std::vector<Severity>> ParseSeverityList(std::string_view text);
// "mon..fri 8:00-17:30".
Result<DailyDuration> ParseDailyDuration(std::string_view text);
// Whether epoch second `t` (local time) lies in `d`.
bool DurationContains(const DailyDuration& d, int64_t t);

// Whether the (enabled or not) matcher selects its targets for `n`.
bool MatcherMatches(const Matcher& m, const Notification& n);

}  // namespace ctdump::notify

#endif  // CTDUMP_NOTIFY_MATCHER_H_
