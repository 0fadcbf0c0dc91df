// Running a program as a container's root: the "worker" of a backup.
//
// SpawnAsContainerRoot() forks; the child drops its host supplementary groups,
// unshares a user and a mount namespace and waits; the parent writes the
// container's ID map to /proc/PID/uid_map and gid_map directly (host root needs
// neither newuidmap nor /etc/subuid entries); the child then switches to
// uid/gid 0 *inside* the namespace with setresgid/setresuid (without that it
// would keep host-root powers), drops groups again, makes its mounts private
// and execs. The program then sees the container's owners (host 100000 appears
// as 0, unmapped ids as 65534) and cannot read host-root files it could not
// read as the container's root.
//
// An empty map (a privileged container) runs the program as host root in a
// new mount namespace only, as PVE does.
#ifndef CTDUMP_USERNS_USERNS_H_
#define CTDUMP_USERNS_USERNS_H_

#include <functional>

#include "ctdump/idmap.h"
#include "ctdump/status.h"
#include "sys/subprocess.h"

namespace ctdump::userns {

Result<sys::Subprocess> SpawnAsContainerRoot(const IdMap& map, const sys::SpawnOptions& options);

// Like SpawnAsContainerRoot, but the child runs `fn` (after the same
// namespace and credential set-up) instead of exec'ing a program, and exits
// with its return value. For built-in providers and restore extraction: the
// code that touches a container's files runs as that container's root. Only
// `options.pipe_*`, `cwd` and `new_session` are used (argv names the child
// in errors). `fn` runs in a forked copy of ctdump: it must not touch
// ctdump's locks, providers or containers, and reports through its pipes.
Result<sys::Subprocess> ForkAsContainerRoot(const IdMap& map, const sys::SpawnOptions& options,
                                            std::function<int()> fn);

}  // namespace ctdump::userns

#endif  // CTDUMP_USERNS_USERNS_H_
