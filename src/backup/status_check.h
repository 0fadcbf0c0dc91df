// `ctdump status`: which containers are backed up, as a monitoring check.
//
// Pure: the caller gathers the containers, each storage's newest backups and
// the guest records (guest_state.h), and passes "now"; Classify decides the
// state of each container and of the whole, as a Nagios plugin's exit code:
//   critical  a container has no backup younger than max-age on any storage
//             (none at all included), or its last job failed
//   warning   a storage cannot be listed, a guest record cannot be read, the
//             containers cannot be listed, or a container's last job had
//             warnings
//   ok        otherwise
// The containers: those asked for (checked in full), or every one under
// lxcpath and every one known only from its guest record (destroyed, or a
// mistyped name) while the record is younger than max-age; such a container
// is checked on its last job only (it needs no new backups). A restore
// test's throw-away container (kRestoreTestPrefix) and its record are never
// checked unless asked for. If lxcpath could not be listed, every record
// counts in full.
#ifndef CTDUMP_BACKUP_STATUS_CHECK_H_
#define CTDUMP_BACKUP_STATUS_CHECK_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backup/guest_state.h"
#include "ctdump/status.h"

namespace ctdump::backup {

// The default --max-age: a daily job, with two hours for the job's own
// duration and a late start.
inline constexpr int64_t kDefaultStatusMaxAge = 26 * 3600;

// How restore/test_restore.cc names its throw-away containers.
inline constexpr std::string_view kRestoreTestPrefix = "ctdump-rt-";

// "90m", "36h", "2d", "1w", "45s", and sums such as "1d12h" (s, m, h, d, w);
// InvalidArgument naming the text for anything else (a bare number too: the
// unit would be a guess), for zero and for more than 100 years.
Result<int64_t> ParseDuration(std::string_view text);
// The largest two units: "2d 3h", "5h 12m", "42m", "10s"; negative: "0s".
std::string FormatDuration(int64_t seconds);
// One unit, as ParseDuration takes it: "26h", "2d", "90m", "45s".
std::string FormatMaxAge(int64_t seconds);

enum class CheckState { kOk = 0, kWarning = 1, kCritical = 2 };
const char* CheckStateName(CheckState s);  // "OK", "WARNING", "CRITICAL"

struct NewestBackup {
  std::string storage;
  std::string volname;
  int64_t ctime = 0;
  std::optional<uint64_t> size;
};

struct StatusInput {
  int64_t now = 0;
  int64_t max_age = kDefaultStatusMaxAge;
  std::vector<std::string> containers;  // under lxcpath
  // False when lxcpath could not be listed: whether a container still
  // exists is unknown, so every record counts in full.
  bool containers_listed = true;
  std::vector<std::string> only;      // non-empty: only these containers
  std::vector<std::string> exclude;   // never these containers
  std::vector<std::string> storages;  // listed
  // --storage: only backups and last jobs of this storage count.
  std::optional<std::string> only_storage;
  // Storages that could not be listed: id -> why.
  std::map<std::string, std::string> unreadable_storages;
  // Per container, its newest backup on each listed storage.
  std::map<std::string, std::vector<NewestBackup>> backups;
  std::vector<GuestRecord> records;
  std::vector<std::string> problems;  // other warnings (unreadable records, lxcpath)
};

struct ContainerStatus {
  std::string vmid;
  bool configured = false;             // under lxcpath
  std::vector<NewestBackup> backups;   // newest first, one per storage
  std::optional<NewestBackup> newest;  // the newest of all
  std::optional<GuestRecord> last_job;
  CheckState state = CheckState::kOk;
  std::vector<std::string> reasons;  // why it is not ok
};

struct StatusReport {
  CheckState state = CheckState::kOk;
  std::vector<ContainerStatus> containers;  // by vmid
  std::vector<std::string> warnings;        // not about one container
  // "CTDUMP OK - 3 containers backed up within 26h"
  std::string summary;
  int exit_code() const { return static_cast<int>(state); }
};

StatusReport Classify(const StatusInput& in);

}  // namespace ctdump::backup

#endif  // CTDUMP_BACKUP_STATUS_CHECK_H_
