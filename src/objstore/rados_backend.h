// The Ceph RADOS object backend (librados): object "a/b/c" is the RADOS
// object "a/b/c" in the namespace `ns` of `pool` (docs/formats/rados.md).
//
// Calls, each one RADOS operation unless said otherwise:
//   PutIfAbsent  one ObjectWriteOperation create(exclusive) + write_full:
//                atomic; -EEXIST -> false. Acked writes are durable, so
//                kDeferred and kSync are the same and Sync() does nothing.
//   Put          write_full (atomic per object).
//   Get          one read op: stat + read of max_size + 1 bytes (or all);
//                -ENOENT -> NotFound, more than max_size -> DataLoss.
//   Stat         stat: size and mtime (ns).
//   Touch        setxattr "ctdump.touch" with assert_exists: a write op, so
//                the OSD sets the object's mtime (to the client's stamp),
//                changing no byte of content and never creating the object
//                (a zero-length write also updates the mtime on Pacific, but
//                would create a missing object without the assert).
//   Delete       remove; -ENOENT -> NotFound.
//
// Listing. A RADOS listing is pool-wide and unordered (even one namespace's
// listing walks every PG), so only chunks are found that way:
//   - names below "chunks/" are never indexed: List("chunks/...") lists the
//     namespace, filters and sorts (gc and verify need all of them anyway);
//   - every other object name (manifests, indexes, locks, config) is also a
//     key of the omap of the index object kRadosIndexObject (a name no valid
//     object name can take), whose value is the time the entry was written.
//     The key is written BEFORE the object and removed AFTER it, so List of a
//     non-chunk prefix is a sorted omap walk (filter_prefix, pages of
//     kRadosIndexPage), never a pool scan.
//   List("") merges both. A writer that dies between the two steps leaves an
//   index entry without an object (List may show it; Get/Stat say NotFound,
//   which callers take as "deleted meanwhile"), never an object without an
//   entry. RemoveLeftovers reconciles: entries older than the cutoff whose
//   object is missing are removed (counted as temps; only if unchanged,
//   omap_cmp), and (prefix "" only: a pool scan) non-chunk objects without
//   an entry (a put that raced a delete of the same name) are entered
//   again, not removed: they may be live locks or manifests.
//   Limit: one index object for all non-chunk names; beyond ~200 000 keys
//   (some 40 000 snapshots) Ceph's deep scrub warns "large omap objects".
//
// Leases: cls_lock exclusive locks named after the lease on the private
// object kRadosLeaseObject (not a valid object name, never listed), with the
// lease duration; expiry is decided by the OSD's clock. LeaseHeld asks
// list_lockers; cls_lock leaves out lockers whose expiration has passed
// (measured: false right after expiry). A locker is (client instance,
// cookie): the same cookie from another backend object is another holder.
//
// Clocks: librados stamps the mtime of a write with the client's clock, so
// mtimes written by several hosts come from several clocks; ClockSkewNs()
// is max_clock_skew_s. IoDepth() is queue_depth.
//
// Errors name the storage-level problem and the fix: missing ceph.conf,
// cluster unreachable within timeout_s, wrong credentials, missing pool.
// Connecting and monitor ops time out after timeout_s; OSD ops after
// max(timeout_s, 3 x osd_heartbeat_grace) (60 s by default): an OSD that
// dies silently is marked down only after the grace (measured, killed OSDs
// within 0.3 s: docs/formats/rados.md), and a replicated pool that lost one
// OSD must delay a backup, not fail it.
//
// Thread-safety: one Rados handle and one IoCtx per backend, used by any
// number of threads at once (librados is thread-safe); several processes and
// hosts may use the same pool and namespace.
//
// IsEmpty lists the namespace until the first object that is not private
// (an index entry is no object); with none it has walked the whole pool.
//
// Fork: librados starts threads when it connects. A process that forks
// without exec (userns/ForkAsContainerRoot) must not use the backend in the
// child: the child has the handle but none of its threads. (Checked: the
// backup worker and the extraction child get plain configuration, no
// Datastore, and end with _exit, so no librados destructor runs there.)
#ifndef CTDUMP_OBJSTORE_RADOS_BACKEND_H_
#define CTDUMP_OBJSTORE_RADOS_BACKEND_H_

#include <memory>
#include <string>
#include <string_view>

#include "ctdump/object_backend.h"

namespace ctdump::objstore {

// The omap index of non-chunk names ('#' is no name character).
inline constexpr std::string_view kRadosIndexObject = "#index";
// The object whose cls_lock locks are the leases.
inline constexpr std::string_view kRadosLeaseObject = "#leases";
// Names below this prefix are chunks: not indexed, listed by a namespace scan.
inline constexpr std::string_view kRadosUnindexedPrefix = "chunks/";
// Keys per omap page when listing the index.
inline constexpr unsigned kRadosIndexPage = 1000;

struct RadosOptions {
  std::string pool;  // required
  std::string ceph_conf = "/etc/ceph/ceph.conf";
  std::string username = "admin";  // cephx client.<username>
  std::string keyring;             // optional; "" = what ceph.conf says
  std::string ns;                  // pool namespace; "" = the default one
  int queue_depth = 16;            // IoDepth()
  int timeout_s = 30;              // connect (client_mount_timeout) and op timeouts
  int max_clock_skew_s = 60;       // ClockSkewNs()
};

// Connects and opens the pool; errors name the storage-level problem and the fix
// (no ceph.conf, cluster unreachable within timeout_s, wrong credentials, pool does not exist).
Result<std::unique_ptr<ObjectBackend>> OpenRadosBackend(const RadosOptions& o);

}  // namespace ctdump::objstore

#endif  // CTDUMP_OBJSTORE_RADOS_BACKEND_H_
