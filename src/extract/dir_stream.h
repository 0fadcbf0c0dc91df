// Reading a directory as a tar stream, for the `directory` restore mechanism.
//
// The directory is a provider's restore directory: trusted, as in PVE
// (`tar cpf - ... --directory=<dir> .` as host root), and read by host root.
// Like PVE the walk crosses mount points (no --one-file-system): providers
// may mount restored volumes below it. The stream is pax with members
// "./path" (names as their bytes), numeric owners as stored on disk (the
// provider stores container-view ids), modes, mtimes (nanoseconds), symlinks, hardlinks, sparse
// holes, fifos and devices, xattrs and POSIX ACLs. Sockets are skipped, as tar does. This is a
// minimal walker until the archive module's tree writer can be used here.
#ifndef CTDUMP_EXTRACT_DIR_STREAM_H_
#define CTDUMP_EXTRACT_DIR_STREAM_H_

#include <cstdint>
#include <functional>
#include <string>

#include "ctdump/observer.h"
#include "ctdump/status.h"

namespace ctdump::extract {

struct StreamSink {
  // Takes the next bytes of the stream.
  std::function<Status(const void* data, size_t size)> write;
  // True once the consumer stopped reading; the walk then ends early with
  // OK (the consumer reports why it stopped).
  std::function<bool()> closed;
};

// What a stream held.
struct DirStreamStats {
  uint64_t entries = 0;     // members written (the directory itself included)
  uint64_t data_bytes = 0;  // file data read (holes not counted)
};

// Streams `source_dir` to `sink`. Read errors fail, naming the path;
// warnings (e.g. an ACL that could not be read) go to `observer`. With
// `stats`, counts what was streamed.
Status StreamDirectory(const std::string& source_dir, const StreamSink& sink, Observer* observer,
                       DirStreamStats* stats = nullptr);

}  // namespace ctdump::extract

#endif  // CTDUMP_EXTRACT_DIR_STREAM_H_
