// The proxy's confinement (docs/design/api-server.md §1): after it has
// loaded the certificate, the key and the console's files, the process that
// talks to the network gives up everything else.
//
// Order matters: the user is looked up while /etc/passwd is still visible;
// then chroot into an empty root-owned directory, chdir "/", drop the
// supplementary groups, the gid and the uid (real, effective and saved:
// there is no way back), PR_SET_NO_NEW_PRIVS (no exec can gain privileges)
// and PR_SET_DUMPABLE 0 (the process holds the TLS key: no ptrace or
// /proc/<pid>/mem by other processes of the same user, no core dump). Any
// step that fails is an error and the caller exits: a proxy never runs
// half-confined.
#ifndef CTDUMP_HTTPD_CONFINE_H_
#define CTDUMP_HTTPD_CONFINE_H_

#include <sys/types.h>

#include <string>

#include "ctdump/status.h"

namespace ctdump::httpd {

struct ConfineOptions {
  std::string user = "_ctdump";  // the unprivileged account (no login, no home)
  // The empty root: made (0555, root-owned) if missing; an existing one
  // must be an empty directory owned by root, not writable by others.
  std::string root = "/run/ctdump/api-root";
};

struct Account {
  uid_t uid = 0;
  gid_t gid = 0;
};

// The account of `user`. NotFound naming the user and how to make it
// (`adduser --system --group --no-create-home _ctdump`); root (uid 0) is
// refused.
Result<Account> LookUpAccount(const std::string& user);

// Makes `root` as described above or checks the existing one.
Status PrepareEmptyRoot(const std::string& root);

// Confines the calling process (single-threaded: setresuid applies to this
// thread only without glibc's broadcast, which it does have, but a second
// thread would already have seen the privileged state). Must run as root.
Status Confine(const ConfineOptions& options);

}  // namespace ctdump::httpd

#endif  // CTDUMP_HTTPD_CONFINE_H_
