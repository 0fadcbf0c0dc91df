// The one conformance suite every backup provider runs: the built-in `dir`
// and `datastore` providers, the external-provider adapter driving the
// example provider over the real protocol, and later providers (borg,
// restic, a third party's) alike.
//
// The cases follow the PVE Backup Provider API (docs/provider-protocol.md)
// in the order the backup job calls it:
//
//   job_init -> backup_init -> backup_get_mechanism (directory)
//     -> backup_container_prepare -> backup_container (a small real tree:
//        files, a symlink, a hardlink, an empty directory, a non-ASCII name,
//        an excluded file; as host root without a user namespace, i.e. a
//        privileged container, which the API allows)
//     -> [notes, protected: update_attribute] -> backup_cleanup(success)
//     -> backup_handle_log_file -> job_cleanup (twice: idempotent)
//
// then what a backup must be afterwards: listed with its vmid, ctime and
// size; notes and protection round trip through a new listing of a new
// provider object; retention (keep-last chosen from list_backups'
// ctimes and flags, carried out with delete_backup) never removes a protected backup;
// delete_backup removes exactly the backup it names; the restore
// (restore_get_mechanism, restore_container_init or the stream,
// restore_container_cleanup) gives back the same tree (compared entry by
// entry with what the tar file, directory or stream holds); an unprivileged
// container's backup (worker in a user namespace) holds the container's
// owners; info.bandwidth-limit is honoured. And the failure paths: a failed
// backup_container then backup_cleanup(success=false) leaves nothing listed
// and the name free; backup_init of an existing name or of a vmid that is
// not one is refused and harms nothing; a backup interrupted by a signal and
// never cleaned up (ctdump killed) is not listed by the next job; cleanup of
// a guest that never started; unknown and missing volume names fail with a
// message naming them.
//
// Optional methods are used only if the provider claims them
// (Provider::HasFeature); a case that needs an unclaimed feature is skipped
// with a GTEST_SKIP message naming the feature, never passed silently.
//
// Cases whose names contain "Root" need root (the worker's mount namespace,
// chown); as another user they are skipped. Register
// the binary with ctdump_test(... ROOT_BY_NAME).
//
// Uses GoogleTest assertions: link it into test binaries only. Failures are
// reported in the calling test, under a trace naming the case.
#ifndef CTDUMP_PROVIDER_CONFORMANCE_H_
#define CTDUMP_PROVIDER_CONFORMANCE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/provider.h"
#include "ctdump/status.h"

namespace ctdump::provider {

// Opens a provider on the storage whose data lives in `storage_dir`. Each
// case makes a new, empty directory (a fresh storage) and may call this
// several times with it: every call must return a new provider object (for
// external providers a new main instance) on the same stored backups, as a
// new job or restore would get. `observer` outlives the provider.
using ProviderFactory = std::function<Result<std::unique_ptr<Provider>>(
    const std::string& storage_dir, Observer* observer)>;

// The names of the cases, in method order; register one test per case (a
// parameterised test, see src/providers/dir_conformance_test.cc).
std::vector<std::string> ProviderConformanceCases();

// Runs the case `name` (one of ProviderConformanceCases()) on a fresh storage.
void RunProviderConformanceCase(std::string_view name, const ProviderFactory& open);

}  // namespace ctdump::provider

#endif  // CTDUMP_PROVIDER_CONFORMANCE_H_
