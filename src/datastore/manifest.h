// Sealing and unsealing a version 2 manifest under a key
// (manifest_format.h, docs/formats/manifest.md).
//
// Sealed: the guest and firewall configs go into "private", an encrypted text
// blob (hex), and "signature" is HMAC-SHA256 with the key's id key over
// kManifestSignaturePrefix (with its NUL) followed by the compact JSON
// (nlohmann's dump(): keys sorted, no spaces) of the manifest object without
// "signature". Everything else stays readable without the key; nothing can be
// changed without it.
#ifndef CTDUMP_DATASTORE_MANIFEST_H_
#define CTDUMP_DATASTORE_MANIFEST_H_

#include <optional>
#include <string>
#include <string_view>

#include "crypt/crypt.h"
#include "ctdump/status.h"
#include "datastore/codec.h"

namespace ctdump::datastore {

// The text of `m` as a version 2 manifest: sealed under `key`, plain
// without one (m.key_fingerprint, private_part and signature are set from
// `key`).
Result<std::string> SealManifest(const Manifest& m, const crypt::Key* key);

// Checks the signature of the sealed manifest `m` (parsed from `text`)
// with `key` and decrypts its configs into `m` (`sensitive` true after).
// DataLoss naming `what` when the signature does not match (`key` has the
// manifest's fingerprint: it was changed without the key) or the private
// part is damaged; PermissionDenied for a manifest that is not sealed.
Status UnsealManifest(std::string_view text, const crypt::Key& key, Manifest* m,
                      const std::string& what);

// Lower-case hex of `bytes`, and back (nullopt for anything but an even
// number of lower-case hex digits): the manifest's binary members.
std::string HexEncode(std::string_view bytes);
std::optional<std::string> HexDecode(std::string_view hex);

// The signature of a manifest object (its "signature" member ignored).
Digest ManifestSignature(const nlohmann::json& manifest, const crypt::Key& key);

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_MANIFEST_H_
