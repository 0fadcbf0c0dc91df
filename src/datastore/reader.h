// Reading a snapshot: its metadata stream record by record and its file data
// by offset, with chunks decoded ahead on a pool of threads.
//
// A stream is read through its index. Reads at increasing offsets (a restore,
// a verify, the metadata stream) keep a window of the next chunks decoding in
// the background; a read elsewhere (restore-file, the FUSE mount) decodes
// what it needs and keeps the last chunks in a small cache. Every chunk is
// checked against its id as it is decoded (codec.h), so damage is reported
// naming the chunk, never restored as garbage.
//
// Thread-safety: a reader is used by one thread at a time (the FUSE mount
// serializes its calls); its prefetch threads are internal.
#ifndef CTDUMP_DATASTORE_READER_H_
#define CTDUMP_DATASTORE_READER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ctdump/status.h"
#include "datastore/codec.h"
#include "datastore/datastore.h"

namespace ctdump::datastore {

class StreamReader {
 public:
  // `prefetch`: chunks decoded ahead of a sequential reader (0: none), at
  // least Datastore::IoThreads() (max(cores, the backend's IoDepth)) when
  // not 0, on that many threads. Memory: that many decoded chunks (at most
  // 512 KiB each) and a few behind.
  StreamReader(Datastore& ds, std::vector<IndexEntry> index, std::string what, int prefetch = 8);
  ~StreamReader();
  StreamReader(const StreamReader&) = delete;
  StreamReader& operator=(const StreamReader&) = delete;

  uint64_t size() const { return index_.empty() ? 0 : index_.back().end; }
  const std::vector<IndexEntry>& index() const { return index_; }

  // Hands [offset, offset+length) to `sink` in pieces. OutOfRange-ish
  // (DataLoss naming the stream) when the range exceeds the stream.
  Status Read(uint64_t offset, uint64_t length,
              const std::function<Status(const char* data, size_t size)>& sink);

 private:
  class Impl;
  // Declared first so it outlives impl_, whose decoder threads read it
  // until impl_'s destructor has joined them.
  std::vector<IndexEntry> index_;
  std::string what_;
  std::unique_ptr<Impl> impl_;
};

class SnapshotReader {
 public:
  static Result<std::unique_ptr<SnapshotReader>> Open(Datastore& ds, const std::string& volname);

  const std::string& volname() const { return volname_; }
  const Manifest& manifest() const { return manifest_; }
  StreamReader& data() { return *data_; }
  StreamReader& meta() { return *meta_; }

  // Calls `fn` for every record of the metadata stream, in order; stops at
  // the first error (of the stream or of `fn`).
  Status ForEachEntry(const std::function<Status(const Entry&)>& fn);

  // The data of regular file `e`, in logical order with holes as zeros
  // when `with_holes` (else only the stored regions).
  Status ReadFile(const Entry& e, bool with_holes,
                  const std::function<Status(const char* data, size_t size)>& sink);

 private:
  SnapshotReader() = default;
  std::string volname_;
  Manifest manifest_;
  std::unique_ptr<StreamReader> meta_;
  std::unique_ptr<StreamReader> data_;
};

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_READER_H_
