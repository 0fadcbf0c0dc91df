// Restoring a backup into a new container (PVE §6 `pct restore`, for plain
// LXC hosts):
//
//   lock <new-ct> -> provider: archive_get_guest_config -> privileged check
//   ("refusing to restore privileged container backup from external source")
//   -> root file system created (dir, or a btrfs subvolume), owned by the new
//   container's root -> restore_get_mechanism -> restore_container_init ->
//   extraction as the new container's root in its user namespace (tar: the
//   file, any compression, checked as untrusted for external providers;
//   directory: read by host root, streamed in) -> restore_container_cleanup
//   (always; its error counts only if extraction succeeded) ->
//   archive_get_firewall_config -> config written -> [start]
//
// Any failure removes what the restore created (root file system, config
// directory): no half-created container is left behind. After a SIGKILL,
// the restore journal (restore_journal.h) lets `ctdump cleanup` or the next
// restore of the name do it.
#ifndef CTDUMP_RESTORE_RESTORE_H_
#define CTDUMP_RESTORE_RESTORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/provider.h"
#include "ctdump/status.h"

namespace ctdump::restore {

struct RestoreOptions {
  std::string volid;                 // <storage>:<volname>
  std::string name;                  // the new container
  std::optional<bool> unprivileged;  // default: as backed up
  std::string rootfs_dir;            // --rootfs DIR (default <lxcpath>/<name>/rootfs)
  std::string rootfs_storage;        // --rootfs-storage btrfs:<path>
  std::vector<std::string> idmap;    // --idmap "u 0 200000 65536" ... (default: as backed up)
  uint64_t bwlimit_kib = 0;          // 0 = unlimited
  bool force = false;                // overwrite existing files in an existing root
  bool start = false;                // start the container afterwards
  // --unique: new random locally administered MAC addresses for every
  // lxc.net.N.hwaddr / pct netN hwaddr (as `pct restore --unique`).
  bool unique = false;
  std::string hostname;  // --hostname (default: as backed up)
  // --mechanism: the restore mechanism to ask the provider for (one it
  // offers, Provider::OfferedRestoreMechanisms); nullopt: the provider's.
  std::optional<RestoreMechanism> mechanism;
  // A restore test's throw-away container (test_restore.h): the restore
  // journal is kept after the restore, marked so that `ctdump cleanup`
  // stops and removes the container; the test clears it after destroying it.
  bool throwaway = false;
};

// vzdump's configs inside an archive ("./etc/vzdump/pct.conf", "pct.fw"),
// read through the provider's archive_get_*_config: a restore does not
// write them into the container (PVE extracts and then unlinks them), and a
// restore test does not look for them.
const std::vector<std::string>& ArchiveConfigMembers();

struct Paths {
  std::string lxcpath;
  std::string config_dir;
  std::string run_dir;    // the restore locks
  std::string state_dir;  // the restore journals (<state_dir>/journal)
};

// The checks of the options that need no storage and no file system, each
// an InvalidArgument naming the option: the new container's name (letters,
// digits, '_', '.', '-', at most 64, not starting with '.' or '-') and
// --rootfs against --rootfs-storage. RunRestore runs them first; the CLI
// runs them to tell a usage error from a failed restore.
Status CheckRestoreNames(const RestoreOptions& options);

Status RunRestore(const RestoreOptions& options, const Paths& paths, Observer* observer);

}  // namespace ctdump::restore

#endif  // CTDUMP_RESTORE_RESTORE_H_
