// A container's configuration, read from either of the two formats ctdump
// understands:
//
//   * LXC (`/var/lib/lxc/<name>/config`, "lxc.key = value" lines), read with
//     ReadLxcConfig, which follows lxc.include like LXC does;
//   * Proxmox pct.conf ("key: value" lines, `/etc/pve/lxc/<vmid>.conf`),
//     parsed with ParsePctConfig following PVE's parse_pct_config.
//
// Both produce a ContainerConfig: what a backup needs to know (root file
// system directory, ID map, mount points and whether each is backed up) plus
// the raw text handed to a backup provider as the guest config.
//
// Mount points and backups (pve-backup-provider-api.md §4.1 step 3): the root
// file system is always backed up; a pct volume mount point (`mpN` whose
// volume is "storage:volname") only with backup=1; bind and device mount
// points never. LXC has no such flag, so its mount entries are not backed up
// unless their options contain the ctdump extension option
// `x-ctdump.backup`. LXC hands options it does not know to mount(2) as data,
// which the kernel ignores for bind mounts, so use the option only on `bind` /
// `rbind` entries, e.g.
//   lxc.mount.entry = /srv/data srv/data none bind,create=dir,x-ctdump.backup 0 0
//
// These functions are pure apart from reading files through ConfigFiles.
// Errors are InvalidArgument values naming the file and line, except that
// failures to read a file keep the code of the underlying error (NotFound, ...).
#ifndef CTDUMP_CONTAINER_CONFIG_H_
#define CTDUMP_CONTAINER_CONFIG_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctdump/idmap.h"
#include "ctdump/status.h"

namespace ctdump {

struct MountPoint {
  // "mp0" (pct), "lxc.mount.entry:<n>" (n = 0-based index in the effective
  // list of lxc.mount.entry values) or "lxc.mount.fstab:<n>" (n-th entry of
  // the file named by lxc.mount.fstab).
  std::string key;
  // Host path or device; for pct volume mount points the volume string
  // ("local:subvol-100-disk-1").
  std::string source;
  // Mount point inside the container: absolute and normalised ("/mnt/data",
  // no trailing slash, no "." or ".." components).
  std::string path;
  // "none"/"bind" for bind mounts, else the fs type; "" for pct volumes and
  // pct device mount points (the type is detected at mount time).
  std::string fstype;
  // LXC: the options field. pct: the whole property string.
  std::string options;
  // A bind mount of a host path (lxc "bind"/"rbind" option, or a pct mp whose
  // volume is an absolute host path outside /dev/).
  bool is_bind = false;
  // A pct volume mount point ("storage:volname"): PVE's backup rules apply.
  bool is_volume = false;
  // Include in the backup. pct: backup=1 on a volume mount point (PVE never
  // backs up bind or device mount points, whatever the flag says). LXC: the
  // options contain "x-ctdump.backup".
  bool backup = false;

  bool operator==(const MountPoint&) const = default;
};

struct ContainerConfig {
  enum class Format { kLxc, kPct };
  Format format = Format::kLxc;
  std::string name;
  // Raw text of the main config file; what a provider gets as guest config.
  // pct: without the lock/parent/snapstate lines and without the [snapshot]
  // and [pve:pending] sections, as vzdump's assemble step writes it.
  std::string raw;
  // Every key/value in file order. LXC: includes followed in place (the
  // lxc.include line itself comes first). pct: main section only, raw LXC
  // keys included.
  std::vector<std::pair<std::string, std::string>> entries;
  std::string rootfs_path;                // absolute, normalised host directory
  std::string rootfs_backend;             // "dir" or "btrfs"
  std::vector<std::string> idmap_values;  // raw lxc.idmap values, in order
  bool unprivileged = false;              // LXC: lxc.idmap present; pct: 'unprivileged'
  std::string hostname;                   // lxc.uts.name / pct hostname; may be empty
  std::vector<MountPoint> mounts;         // rootfs not included; pct: by mpN number
  // Non-fatal findings for the caller to log, e.g. a mount entry LXC itself
  // ignores. The parsers never print.
  std::vector<std::string> warnings;

  // IdMap::Parse(idmap_values, unprivileged).
  Result<IdMap> GetIdMap() const;
};

// Read-only file access used by the readers; tests and fuzzers pass an
// in-memory implementation. Implementations must not throw.
class ConfigFiles {
 public:
  virtual ~ConfigFiles() = default;
  // Contents of a regular file (error if absent, unreadable or a directory).
  virtual Result<std::string> Read(const std::string& path) const = 0;
  // Whether `path` is a directory (error if it does not exist).
  virtual Result<bool> IsDirectory(const std::string& path) const = 0;
  // Names (not paths) of a directory's entries without "." and "..", any order.
  virtual Result<std::vector<std::string>> List(const std::string& path) const = 0;

  // The real file system. Files larger than kMaxFileSize are rejected.
  static const ConfigFiles& Real();
  static constexpr size_t kMaxFileSize = 4 << 20;
};

// Reads an LXC config file.
//
// Syntax as LXC's parser: '#' comments and blank lines are skipped, lines not
// starting with "lxc." are ignored (as LXC does), others must be
// "key = value" with any spaces; a value quoted with matching ' or " is
// unquoted. Later assignments override earlier ones for single-valued keys;
// lxc.idmap and lxc.mount.entry accumulate and an empty value clears them.
//
// lxc.include (absolute path): a file, or a directory whose entries named
// "*.conf" are read in sorted order; nesting deeper than 16 or a cycle is an
// error. An empty value is ignored, and so is a missing path ending in '/'
// (LXC 5 behaves the same; other missing includes are errors in both).
// lxc.rootfs.path: "dir:/p", "btrfs:/p" or "/p" (= dir); other backends (lvm:,
// zfs:, overlay:, loop:, ...) and a missing rootfs are errors.
// lxc.mount.entry: fstab fields "src target fstype options [dump [pass]]"
// with fstab's \040-style escapes. A relative target is relative to the
// container root; an absolute target must lie below the rootfs path or
// "<dir of path>/rootfs" (otherwise LXC ignores the entry, and so do we, with
// a warning).
// lxc.mount.fstab (absolute path): a file of such entries, read the same way.
Result<ContainerConfig> ReadLxcConfig(const std::string& path, const std::string& name,
                                      const ConfigFiles& files);
Result<ContainerConfig> ReadLxcConfig(const std::string& path, const std::string& name);

// Parses Proxmox pct.conf text. `filename_for_errors` is only used in
// messages.
//
// Lines: blank; "#..." (description); raw LXC keys "lxc.key: value" or
// "lxc.key = value"; "key: value" with key ^[a-z][a-z_]*\d*$. The first
// "[name]" or "[pve:pending]" line ends the main section; the rest is
// ignored. Anything else is an error.
// rootfs / mpN (N in 0..255) values are property strings
// "<volume>,mp=/x,backup=1,size=8G,ro=1,..." (the volume is the element
// without '=', or "volume=..."); unknown or duplicate properties and
// non-boolean flags are errors. Volume classes as PVE's classify_mountpoint:
// "/dev/..." device, other absolute paths bind, anything else a storage
// volume. The rootfs must be an absolute directory path: a storage volume
// cannot be resolved on a plain LXC host and is an error.
Result<ContainerConfig> ParsePctConfig(std::string_view text, const std::string& name,
                                       const std::string& filename_for_errors);

// Reads `path` with `files` and parses it with ParsePctConfig.
Result<ContainerConfig> ReadPctConfig(const std::string& path, const std::string& name,
                                      const ConfigFiles& files = ConfigFiles::Real());

}  // namespace ctdump

#endif  // CTDUMP_CONTAINER_CONFIG_H_
