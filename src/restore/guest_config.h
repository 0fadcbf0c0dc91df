// Adapting a backed-up guest config to the container a restore creates.
//
// The backup holds the source container's raw config: LXC syntax ("lxc.key =
// value") or Proxmox pct.conf syntax ("key: value"). The restored container
// gets a new name, a new root file system and the ID map it is restored with.
// A backup may have been crafted (an archive is data, not a config the admin
// wrote), so only an allow-list of keys that describe the container itself
// is kept (IsRestorableLxcKey, IsRestorablePctKey); every other key is
// dropped and listed in RestoredConfig::dropped for the admin. pct.conf
// keys PVE's sanitize_and_merge_config skips (digest, rootfs, snapshots,
// unprivileged, parent, mpN, unusedN, template, lock) go silently, as do
// the keys the restore writes itself. Pure: no I/O.
#ifndef CTDUMP_RESTORE_GUEST_CONFIG_H_
#define CTDUMP_RESTORE_GUEST_CONFIG_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ctdump/idmap.h"
#include "ctdump/status.h"

namespace ctdump::restore {

struct BackedUpConfig {
  bool is_pct = false;                    // pct.conf syntax (else LXC)
  bool unprivileged = false;              // as backed up
  std::vector<std::string> idmap_values;  // as backed up
  std::string hostname;
};

// Looks at a backed-up config without judging its volumes (they belong to
// the source host).
Result<BackedUpConfig> InspectGuestConfig(const std::string& raw);

struct RestoreTarget {
  std::string name;          // new container name
  std::string rootfs_spec;   // "dir:/path" or "btrfs:/path"
  std::string rootfs_path;   // the directory itself
  std::string lxcpath;       // for the log file path
  IdMap map;                 // empty = privileged
  std::string source_volid;  // for the header comment
  // --hostname: replaces lxc.uts.name (LXC) / hostname (pct). Checked by
  // CheckHostname.
  std::optional<std::string> hostname;
  // --unique: called once per lxc.net.N.hwaddr / pct netN hwaddr= for a new
  // address (as `pct restore --unique`); unset keeps the backed-up ones.
  std::function<std::string()> new_hwaddr;
};

struct RestoredConfig {
  std::string lxc_config;               // <lxcpath>/<name>/config
  std::optional<std::string> pct_conf;  // <lxcpath>/<name>/pct.conf (pct sources)
  // Keys of the backup not restored, "key = value" (LXC) or "key: value"
  // (pct), in config order.
  std::vector<std::string> dropped;
};

// True for raw LXC keys a restore never copies (they describe the source's
// storage and logging: lxc.rootfs.*, lxc.log.*, lxc.idmap).
bool IsRegeneratedLxcKey(const std::string& key);
// True for raw LXC keys a backup may carry into the restored config: the
// container's architecture, host name, signals, autostart, ttys, init,
// environment (NAME=value), cgroup resource limits (memory, cpu,
// cpuset.cpus/mems, pids, io, blkio, hugetlb; never devices), veth/empty
// networks (link,
// name, hwaddr, mtu, flags=up, IPv4/IPv6 addresses and gateways; never
// scripts, host-side routes or other types) and lxc.include of the host's
// /usr/share/lxc/config/[<distro>.]{common,userns}.conf. Everything else
// (hooks, mounts, console and log files, cgroup placement, devices,
// capabilities, security profiles, namespaces, sysctls, other includes)
// could reach the host and is not.
bool IsRestorableLxcKey(const std::string& key, const std::string& value);
// True for pct.conf keys (not lxc.*) that are restored: PVE's options that
// describe the guest (arch, hostname, memory, netN, ...); not hookscript,
// devN, features or unknown keys.
bool IsRestorablePctKey(const std::string& key);

// A host name LXC and PVE accept: DNS labels of letters, digits and '-'
// (not at either end, at most 63 each) joined by '.', at most 255 in all.
Status CheckHostname(const std::string& name);

// "xx:xx:xx:xx:xx:xx" from 6 random bytes, made a locally administered
// unicast address (first byte: bit 1 set, bit 0 clear).
std::string LocalMacAddress(const uint8_t (&random)[6]);

Result<RestoredConfig> AdaptGuestConfig(const std::string& raw, const RestoreTarget& target);

}  // namespace ctdump::restore

#endif  // CTDUMP_RESTORE_GUEST_CONFIG_H_
