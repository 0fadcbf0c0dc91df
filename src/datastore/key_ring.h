// The keys of a datastore storage: the current key (storage.cfg
// `encryption-key`, for new backups) and old keys (`encryption-key-old`,
// read only, after a rotation). Every read picks the key by the fingerprint
// in the blob or manifest it reads.
//
// Keys are loaded lazily, on first use, through the caller's Loader (which
// may ask for a passphrase): list, df, gc, prune, delete, protect and a
// verify without the key never load one. A key file that fails to load is
// not tried again (one prompt, one error, per process).
//
// Thread-safety: every method may be called from several threads at once (a
// mutex guards the loading; a loaded Key is immutable and lives as long as
// the ring).
#ifndef CTDUMP_DATASTORE_KEY_RING_H_
#define CTDUMP_DATASTORE_KEY_RING_H_

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "crypt/crypt.h"
#include "ctdump/status.h"

namespace ctdump::datastore {

class KeyRing {
 public:
  // Loads the key file at `path`; `may_prompt` false: only if that needs no
  // passphrase (else FailedPrecondition), so that a listing never prompts.
  using Loader = std::function<Result<crypt::Key>(const std::string& path, bool may_prompt)>;
  // The fingerprint of the key file at `path` without its passphrase (the
  // key file's plain fields), or an error: lets a lookup load only the file
  // that holds the key it needs. Optional.
  using Prober = std::function<Result<crypt::Fingerprint>(const std::string& path)>;

  // No key: a plain store.
  KeyRing();
  KeyRing(std::nullopt_t);  // NOLINT: as a std::optional<Key>
  // Loaded keys (tests, and callers that hold the key already).
  KeyRing(std::optional<crypt::Key> current);  // NOLINT: as a std::optional<Key>
  KeyRing(crypt::Key current, std::vector<crypt::Key> old);
  // Key files, loaded on first use. `current` may be empty (a store without
  // a key for new backups; its old keys still read).
  KeyRing(std::optional<std::string> current, std::vector<std::string> old, Loader loader,
          Prober prober = {});

  KeyRing(KeyRing&&) noexcept;
  KeyRing& operator=(KeyRing&&) noexcept;
  ~KeyRing();

  // A key is configured for new backups (loaded or not): the store must then
  // refuse unsigned manifests.
  bool has_current() const;
  // Any key is configured (current or old).
  bool empty() const;

  // The key for new backups (loading it), nullptr without one. Errors name
  // the key file.
  Result<const crypt::Key*> Current();

  enum class Lookup {
    kFound,        // `key` is set
    kNoKeys,       // no key configured at all
    kForeign,      // every configured key was loaded (or probed): none has it
    kUnavailable,  // a configured key file could not be loaded: it may be that one
  };
  struct Found {
    Lookup lookup = Lookup::kNoKeys;
    const crypt::Key* key = nullptr;
    std::string why;  // kUnavailable: the load errors (naming the files)
  };
  // The key with fingerprint `fp`, loading key files as needed (with
  // `may_prompt` false none that needs a passphrase).
  Found Find(const crypt::Fingerprint& fp, bool may_prompt = true);
  // Find as a Status: FailedPrecondition ("no encryption key is configured",
  // or the key is unavailable, naming why) or PermissionDenied (another key,
  // naming the configured fingerprints that are known), each naming `what`
  // and the fingerprint. `verb` says what was done with the key
  // ("encrypted", "signed").
  Result<const crypt::Key*> Require(const crypt::Fingerprint& fp, const std::string& what,
                                    const char* verb = "encrypted", bool may_prompt = true);

  // Whether `fp` is a configured key's, without loading any key file that is
  // not loaded yet (probing its fingerprint when a Prober is set); nullopt
  // when that cannot be told without loading.
  std::optional<bool> Knows(const crypt::Fingerprint& fp);

  // The fingerprints of the configured keys known without loading more
  // ("aa:..., bb:..."): loaded or probed ones.
  std::string KnownFingerprints();

  // How many key files were loaded (tests: list must load none).
  int loads() const;

 private:
  struct Slot;
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_KEY_RING_H_
