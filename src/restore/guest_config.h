// Adapting a backed-up guest config to the container a restore creates.
//
// The backup holds the source container's raw config: LXC syntax ("lxc.key =
// value") or Proxmox pct.conf syntax ("key: value"). The restored container
// gets a new name, a new root file system and the ID map it is restored with;
// everything else is kept, as PVE's sanitize_and_merge_config does (which
// skips digest, rootfs, snapshots, unprivileged, parent, mpN, unusedN,
// template, lock). Pure: no I/O.
#ifndef CTDUMP_RESTORE_GUEST_CONFIG_H_
#define CTDUMP_RESTORE_GUEST_CONFIG_H_

#include <optional>
#include <string>
#include <vector>

#include "ctdump/idmap.h"
#include "ctdump/status.h"

namespace ctdump::restore {

struct BackedUpConfig {
  bool is_pct = false;        // pct.conf syntax (else LXC)
  bool unprivileged = false;  // as backed up
  std::vector<std::string> idmap_values;  // as backed up
  std::string hostname;
};

// Looks at a backed-up config without judging its volumes (they belong to
// the source host).
Result<BackedUpConfig> InspectGuestConfig(const std::string& raw);

struct RestoreTarget {
  std::string name;            // new container name
  std::string rootfs_spec;     // "dir:/path" or "btrfs:/path"
  std::string rootfs_path;     // the directory itself
  std::string lxcpath;         // for the log file path
  IdMap map;                   // empty = privileged
  std::string source_volid;    // for the header comment
  // The backup came from an external provider (less trusted, as in PVE):
  // raw LXC keys that reach the host (hooks, host mounts, devices, security
  // profiles, shared namespaces, physical NICs, includes from elsewhere) are
  // dropped and reported.
  bool untrusted = false;
};

struct RestoredConfig {
  std::string lxc_config;              // <lxcpath>/<name>/config
  std::optional<std::string> pct_conf;  // <lxcpath>/<name>/pct.conf (pct sources)
  std::vector<std::string> dropped;     // raw LXC keys not restored (untrusted sources)
};

// True for raw LXC keys a restore never copies (they describe the source's
// storage and logging: lxc.rootfs.*, lxc.log.*, lxc.idmap).
bool IsRegeneratedLxcKey(const std::string& key);
// True for raw LXC keys that are not restored from an untrusted backup.
bool IsHostReachingLxcKey(const std::string& key, const std::string& value);

Result<RestoredConfig> AdaptGuestConfig(const std::string& raw, const RestoreTarget& target);

}  // namespace ctdump::restore

#endif  // CTDUMP_RESTORE_GUEST_CONFIG_H_
