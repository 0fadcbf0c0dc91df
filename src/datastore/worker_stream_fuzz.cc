// libFuzzer target for the parser of the worker stream (entry_format.h): the
// bytes the user-namespace worker sends, which ctdump must treat as hostile.
// The input is fed to a SnapshotWriter on a local store in a temp directory
// in two pieces (split where its first byte says). Every failure must be
// DataLoss about the worker's stream; a stream that is accepted must publish
// a snapshot whose records and data read back.
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "datastore/datastore.h"
#include "datastore/reader.h"
#include "datastore/writer.h"
#include "objstore/local_backend.h"

namespace {

namespace ds = ctdump::datastore;

ds::Datastore& Store() {
  static ds::Datastore* store = [] {
    char tmpl[] = "/tmp/ctdump-worker-fuzz.XXXXXX";
    if (!::mkdtemp(tmpl)) __builtin_trap();
    auto backend = ctdump::objstore::OpenLocalBackend(tmpl);
    if (!backend.ok()) __builtin_trap();
    auto d = ds::Datastore::Open(std::move(*backend), std::nullopt, "fuzz store");
    if (!d.ok()) __builtin_trap();
    return d->release();
  }();
  return *store;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static int64_t time = 1'000'000'000;
  ds::WriterOptions o;
  o.vmid = "fuzz";
  o.backup_time = ++time;
  o.volname = ds::FormatVolume(o.vmid, o.backup_time);
  o.threads = 1;
  auto w = ds::SnapshotWriter::Create(Store(), o, nullptr, nullptr);
  if (!w.ok()) __builtin_trap();
  const char* p = reinterpret_cast<const char*>(data);
  size_t split = size ? data[0] % (size + 1) : 0;
  ctdump::Status s = (*w)->Feed(p, split);
  if (s.ok()) s = (*w)->Feed(p + split, size - split);
  auto m = s.ok() ? (*w)->Finish() : ctdump::Result<ds::Manifest>(s);
  if (!m.ok()) {
    if (m.status().code() != ctdump::Code::kDataLoss ||
        m.status().message().find("worker") == std::string::npos)
      __builtin_trap();
    (*w)->Abort();
    return 0;
  }
  auto r = ds::SnapshotReader::Open(Store(), o.volname);
  if (!r.ok()) __builtin_trap();
  ctdump::Status read = (*r)->ForEachEntry([&](const ds::Entry& e) -> ctdump::Status {
    if (!e.is_regular()) return ctdump::Status::OK();
    // Holes are read back as zeros only in small files: a record may rightly
    // describe a terabyte of holes, which takes that long to read as zeros.
    const bool with_holes = e.size <= (1u << 20);
    return (*r)->ReadFile(e, with_holes, [](const char*, size_t) { return ctdump::Status::OK(); });
  });
  if (!read.ok()) __builtin_trap();
  Store().DeleteSnapshot(o.volname).IgnoreError();
  return 0;
}
