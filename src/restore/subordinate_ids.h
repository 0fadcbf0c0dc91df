// Whether an ID map stays within the host ids delegated to root in
// /etc/subuid and /etc/subgid (shadow's subid files, which LXC's own
// unprivileged setup relies on). A map stored in a backup chooses host ids
// for the new container; one that leaves the delegated ranges could make the
// container's root a real host user (uid 1000 owning a home directory), so
// it is used only when every range lies inside them. Pure: no I/O.
#ifndef CTDUMP_RESTORE_SUBORDINATE_IDS_H_
#define CTDUMP_RESTORE_SUBORDINATE_IDS_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "ctdump/idmap.h"
#include "ctdump/status.h"

namespace ctdump::restore {

struct IdRange {
  uint64_t start = 0;
  uint64_t count = 0;
  bool operator==(const IdRange&) const = default;
};

// The ranges of `user` (a name, or its numeric id as shadow also accepts)
// in the text of a subuid/subgid file ("name:start:count" lines; comments,
// blank and malformed lines are skipped), sorted and merged.
std::vector<IdRange> DelegatedRanges(std::string_view text, std::string_view user,
                                     std::string_view user_id);

// OK when every 'u' entry of `map` lies inside `subuid`'s ranges and every
// 'g' entry inside `subgid`'s; else FailedPrecondition naming the first
// entry that does not. The empty (privileged) map is OK.
Status CheckDelegated(const IdMap& map, const std::vector<IdRange>& subuid,
                      const std::vector<IdRange>& subgid);

}  // namespace ctdump::restore

#endif  // CTDUMP_RESTORE_SUBORDINATE_IDS_H_
