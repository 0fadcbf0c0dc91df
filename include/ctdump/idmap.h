// Container user-namespace ID maps (the `lxc.idmap` lines of a container).
//
// An IdMap is an immutable value: a list of ranges that map container IDs
// (as seen inside the user namespace) to host IDs, separately for users ('u')
// and groups ('g'). An empty map means a privileged container: no user
// namespace, container IDs are host IDs.
//
// Parsing follows PVE's `PVE::LXC::parse_id_maps` (pve-backup-provider-api.md
// §4.1) and adds the checks the kernel would otherwise make much later, when
// /proc/PID/uid_map is written, so a bad map fails before a backup starts.
//
// Invariants of a successfully parsed, non-empty map, per type:
//   * 1 <= entries <= kMaxEntriesPerType;
//   * every count > 0 and both ranges end at or below 4294967295 (the kernel
//     reserves ID (uint32_t)-1 and rejects ranges that wrap);
//   * container ranges do not overlap, host ranges do not overlap;
//   * there is an entry with ct_start == 0 (container root is mapped).
//
// Thread-safety: const methods are safe to call concurrently.
#ifndef CTDUMP_IDMAP_H_
#define CTDUMP_IDMAP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ctdump/status.h"

namespace ctdump {

struct IdMapEntry {
  char type = 'u';  // 'u' (users) or 'g' (groups)
  uint32_t ct_start = 0;
  uint32_t host_start = 0;
  uint32_t count = 0;

  bool operator==(const IdMapEntry&) const = default;
};

class IdMap {
 public:
  // The kernel accepts at most this many lines per uid_map / gid_map.
  static constexpr size_t kMaxEntriesPerType = 340;
  // PVE's default for unprivileged containers without lxc.idmap lines.
  static constexpr uint32_t kDefaultHostStart = 100000;
  static constexpr uint32_t kDefaultCount = 65536;

  IdMap() = default;  // empty map = privileged container

  // Parses raw `lxc.idmap` values, e.g. "u 0 100000 65536".
  //
  // Each value must match ^([ug])\s+(\d+)\s+(\d+)\s+(\d+)\s*$ (ASCII
  // whitespace), otherwise InvalidArgument "failed to parse idmap '<value>'".
  // With no values: unprivileged -> "u 0 100000 65536" and "g 0 100000 65536";
  // privileged -> the empty map. Values are used even when !unprivileged
  // (as PVE does). Violations of the invariants above, and numbers that do not
  // fit in uint32_t, are InvalidArgument errors quoting the offending value(s).
  // Entries keep the order of `values`.
  static Result<IdMap> Parse(const std::vector<std::string>& values, bool unprivileged);

  const std::vector<IdMapEntry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }

  // Host uid/gid of container uid/gid 0; 0 for the empty map.
  uint32_t root_uid() const;
  uint32_t root_gid() const;

  // Contents for /proc/PID/uid_map and gid_map: one "ct host count\n" line per
  // entry of that type, in entry order; "" for the empty map.
  std::string UidMapText() const;
  std::string GidMapText() const;

  // Arguments for `lxc-usernsexec -m`: "u:0:100000:65536" per entry.
  std::vector<std::string> UsernsexecSpecs() const;

  // Translate IDs between container and host. The empty map is the identity;
  // otherwise nullopt for IDs outside every range.
  std::optional<uint32_t> HostUid(uint32_t ct_uid) const;
  std::optional<uint32_t> HostGid(uint32_t ct_gid) const;
  std::optional<uint32_t> CtUid(uint32_t host_uid) const;
  std::optional<uint32_t> CtGid(uint32_t host_gid) const;

  // "u 0 100000 65536, g 0 100000 65536", or "(none)" for the empty map.
  std::string ToString() const;

 private:
  explicit IdMap(std::vector<IdMapEntry> entries) : entries_(std::move(entries)) {}

  std::string MapText(char type) const;
  std::optional<uint32_t> ToHost(char type, uint32_t ct_id) const;
  std::optional<uint32_t> ToCt(char type, uint32_t host_id) const;

  std::vector<IdMapEntry> entries_;
};

}  // namespace ctdump

#endif  // CTDUMP_IDMAP_H_
