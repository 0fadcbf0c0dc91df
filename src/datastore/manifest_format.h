// FORMAT: the snapshot manifest, written last: a snapshot exists exactly
// when its manifest does. Stored as the plaintext of a blob of type
// kManifest (encrypted, hence authenticated, under a key). JSON, UTF-8.
// Specified in docs/formats/manifest.md.
//
//   {
//     "format": "ctdump-snapshot", "version": 1,
//     "vmid": "<container>", "backup-time": <unix seconds>,
//     "guest-config": "<raw config text>", "firewall-config": "<text>"|null,
//     "unprivileged": true|false,
//     "files": [ {"name": "meta.didx", "size": <bytes>, "digest": "<hex>"},
//                {"name": "data.didx", ...} ],
//     "parent": "<volname of the snapshot used for change detection>"|null,
//     "key-fingerprint": "aa:bb:.."|null,
//     "chunker": {"min": 32768, "avg": 131072, "max": 524288},
//     "stats": { "entries": n, "bytes": logical file bytes, "read-bytes":
//                bytes the worker read, "reused-bytes": ..., "new-chunks": n,
//                "new-chunk-bytes": stored bytes of new chunks, ... }
//   }
//
// "files" digests are the digests of the index blobs' plaintext (the same
// as their blob header digest), so a manifest pins its indexes.
#ifndef CTDUMP_DATASTORE_MANIFEST_FORMAT_H_
#define CTDUMP_DATASTORE_MANIFEST_FORMAT_H_

namespace ctdump::datastore {

inline constexpr char kManifestFormat[] = "ctdump-snapshot";
inline constexpr int kManifestVersion = 1;

// Object names below a snapshot's prefix.
inline constexpr char kManifestName[] = "manifest";
inline constexpr char kMetaIndexName[] = "meta.didx";
inline constexpr char kDataIndexName[] = "data.didx";
inline constexpr char kLogName[] = "task.log";
inline constexpr char kNotesName[] = "notes";
inline constexpr char kProtectedName[] = "protected";

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_MANIFEST_FORMAT_H_
