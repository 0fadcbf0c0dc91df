// The datastore behind a storage id, for the commands that work on the store
// itself rather than through the provider interface (verify, gc, catalog,
// restore-file, mount).
#ifndef CTDUMP_CLI_DATASTORE_STORAGE_H_
#define CTDUMP_CLI_DATASTORE_STORAGE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cli/command.h"
#include "crypt/crypt.h"
#include "crypt/master_key.h"
#include "datastore/datastore.h"

namespace ctdump::cli {

// storage.cfg's section `id`, opened as a datastore. NotFound "storage '<id>'
// does not exist"; InvalidArgument when the storage is of another type.
Result<std::unique_ptr<datastore::Datastore>> OpenDatastoreStorage(const Context& ctx,
                                                                   const std::string& id);

struct DatastoreVolume {
  std::unique_ptr<datastore::Datastore> ds;
  std::string volname;  // a valid datastore volume name (datastore::ParseVolume)
};

// "<storage>:<volname>" on a datastore storage.
Result<DatastoreVolume> OpenDatastoreVolume(const Context& ctx, const std::string& volid);

// --- key rotation (`ctdump key rotate`) ---

// The text of storage.cfg with datastore storage `id` rotated to `new_key`:
// its `encryption-key` line names `new_key` (added at the end of the section
// when there was none), and the key it named comes first in
// `encryption-key-old` (a comma-separated list, added after encryption-key
// when missing). Comments, other sections and every other line are kept
// byte for byte. NotFound without such a section; InvalidArgument for a
// storage of another type, or a `new_key` that is the current or an old key
// or holds a comma or white space.
Result<std::string> RotateKeyInConfigText(std::string_view text, const std::string& id,
                                          const std::string& new_key);

struct KeyRotation {
  std::string storage;
  std::string new_key;  // path of the new key file (must not exist)
  crypt::Kdf kdf = crypt::Kdf::kScrypt;
  std::string passphrase;  // for kScrypt
  // Test hook: called after each step, "key-written" (the new key file is
  // durable) and "config-written" (storage.cfg replaced).
  std::function<void(std::string_view step)> after_step;
};

// Rotates the key of datastore storage `r.storage` of <config_dir>/storage.cfg:
// generates a key, writes it to `r.new_key` (fsync), then replaces storage.cfg
// atomically (temp file, fsync, rename, fsync of the directory). Killed at any
// point, the old configuration (or the complete new one) is in place, so the
// old key always works; a kill before the rename leaves only a new key file
// nothing uses. Returns the new key's fingerprint.
Result<crypt::Fingerprint> RotateStorageKey(const std::string& config_dir, const KeyRotation& r);

// Where `key rotate` writes the new key without --new-key: beside the current
// one, "<current without .key>-<UTC YYYYmmddTHHMMSSZ>.key".
std::string DefaultRotatedKeyPath(const std::string& current, int64_t now);

// --- key import-with-master-key ---

// OK if the manifest (public part) of backup `what` holds its key wrapped to
// a master key; else FailedPrecondition saying why not (not encrypted, no
// master-pubkey when it was made) or DataLoss (damaged).
Status CheckWrappedKey(const datastore::Manifest& m, const std::string& what);
// The content key of the backup, unwrapped with `master` (read from
// `master_path`, named in errors): InvalidArgument when the backup was
// wrapped to another master key (naming both fingerprints), DataLoss when
// the unwrapped key does not have the backup's key fingerprint.
Result<crypt::Key> RecoverKeyWithMasterKey(const datastore::Manifest& m, const std::string& what,
                                           const crypt::MasterPrivateKey& master,
                                           const std::string& master_path);

}  // namespace ctdump::cli

#endif  // CTDUMP_CLI_DATASTORE_STORAGE_H_
