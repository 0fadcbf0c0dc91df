// FORMAT: the snapshot manifest, written last: a snapshot exists exactly
// when its manifest does. JSON, UTF-8, the plaintext of a blob of type
// kManifest. Specified in docs/formats/manifest.md.
//
// Version 2 (written since issue 12): an unencrypted blob, so that list,
// verify, gc and df read it without the key (as PBS's manifest):
//   {
//     "format": "ctdump-snapshot", "version": 2,
//     "vmid": "<container>", "backup-time": <unix seconds>,
//     "unprivileged": true|false,
//     "files": [ {"name": "meta.didx", "size": <bytes>, "digest": "<hex>"},
//                {"name": "data.didx", ...} ],
//     "parent": "<volname>"|null, "key-fingerprint": "aa:bb:.."|null,
//     "chunker": {"min": 32768, "avg": 131072, "max": 524288},
//     "stats": { ... },
//   without a key:
//     "guest-config": "<raw config text>", "firewall-config": "<text>"|null
//   under a key (sealed, manifest.h):
//     "private": "<hex of an encrypted text blob: JSON {"guest-config",
//                 "firewall-config"}>",
//     "rsa-encrypted-key": "<hex>", "master-key-fingerprint": "..."  (optional)
//     "signature": "<64 hex: HMAC-SHA256(id key, kManifestSignaturePrefix ||
//                   the compact JSON of the object without "signature")>"
//   }
// Version 1 (read only): the same members without "private" and
// "signature", its configs in the clear, the blob encrypted under a key.
//
// "files" digests are the digests of the index blobs' plaintext (the same
// as their blob header digest), so a manifest pins its indexes.
#ifndef CTDUMP_DATASTORE_MANIFEST_FORMAT_H_
#define CTDUMP_DATASTORE_MANIFEST_FORMAT_H_

#include <cstddef>

namespace ctdump::datastore {

inline constexpr char kManifestFormat[] = "ctdump-snapshot";
inline constexpr int kManifestVersion = 2;
// Domain separation of the manifest signature (with its NUL: 19 bytes).
inline constexpr char kManifestSignaturePrefix[] = "ctdump manifest v2";
inline constexpr size_t kManifestSignaturePrefixSize = sizeof(kManifestSignaturePrefix);

// Object names below a snapshot's prefix.
inline constexpr char kManifestName[] = "manifest";
inline constexpr char kMetaIndexName[] = "meta.didx";
inline constexpr char kDataIndexName[] = "data.didx";
inline constexpr char kLogName[] = "task.log";
inline constexpr char kNotesName[] = "notes";
inline constexpr char kProtectedName[] = "protected";

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_MANIFEST_FORMAT_H_
