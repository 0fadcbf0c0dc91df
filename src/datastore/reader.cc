#include "datastore/reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>

#include "datastore/entry_format.h"
#include "datastore/manifest_format.h"
#include "sys/thread_pool.h"

namespace ctdump::datastore {

// Decoded chunks by index position. A sequential reader asks for chunk i;
// chunks i+1..i+window are queued, in that order, for the decoder threads
// (Datastore::IoThreads; none without prefetch).
class StreamReader::Impl {
 public:
  Impl(Datastore& ds, const std::vector<IndexEntry>& index, std::string what, int prefetch)
      : ds_(ds), index_(index), what_(std::move(what)), prefetch_(prefetch) {
    if (prefetch > 0) {
      // As many decodes in flight as threads (on RADOS: the queue depth),
      // so the window is at least that wide.
      const int threads = ds.IoThreads();
      prefetch_ = std::max(prefetch, threads);
      pool_ = std::make_unique<sys::ThreadPool>(threads);
    }
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;  // queued decodes return at once
    }
    pool_.reset();
  }

  // The plaintext of chunk i (kept until the next Get of a later chunk).
  Result<std::shared_ptr<const std::string>> Get(size_t i) {
    std::unique_lock<std::mutex> l(mu_);
    // Queue the window ahead.
    for (size_t k = i + 1; k < index_.size() && k <= i + static_cast<size_t>(prefetch_); ++k) {
      if (slots_.count(k) == 0) {
        slots_[k] = Slot{};
        // Unbounded: never blocks (the window bounds what is queued).
        pool_->Submit([this, k] { Prefetch(k); });
      }
    }
    auto it = slots_.find(i);
    if (it == slots_.end()) {
      // Not decoded nor queued: decode here.
      l.unlock();
      auto r = Decode(i);
      l.lock();
      Slot s;
      s.done = true;
      if (r.ok())
        s.data = std::make_shared<const std::string>(std::move(*r));
      else
        s.error = r.status();
      it = slots_.insert_or_assign(i, std::move(s)).first;
    }
    cv_done_.wait(l, [&] { return slots_[i].done; });
    Slot& s = slots_[i];
    Status err = s.error;
    auto data = s.data;
    // Drop what lies behind (keep a few for small backward steps).
    for (auto e = slots_.begin(); e != slots_.end();) {
      if (e->first + 4 < i && e->second.done)
        e = slots_.erase(e);
      else
        ++e;
    }
    // A random reader may leave far-ahead slots: bound the map.
    while (slots_.size() > static_cast<size_t>(prefetch_) + 16) {
      auto last = std::prev(slots_.end());
      if (!last->second.done || last->first == i) break;
      slots_.erase(last);
    }
    if (!err.ok()) return err;
    return data;
  }

 private:
  struct Slot {
    bool done = false;
    std::shared_ptr<const std::string> data;
    Status error;
  };

  Result<std::string> Decode(size_t i) {
    ASSIGN_OR_RETURN(std::string plain, ds_.ReadChunk(index_[i].digest));
    uint64_t want = index_[i].end - (i ? index_[i - 1].end : 0);
    if (plain.size() != want)
      return DataLossError(fmt::format("{}: chunk {} has {} bytes, the index says {}", what_,
                                       index_[i].digest.Hex(), plain.size(), want));
    return plain;
  }

  // On the pool: decodes chunk i into its slot unless it was dropped or
  // decoded meanwhile.
  void Prefetch(size_t i) {
    std::unique_lock<std::mutex> l(mu_);
    if (stop_ || slots_.count(i) == 0 || slots_[i].done) return;
    l.unlock();
    auto r = Decode(i);
    l.lock();
    auto it = slots_.find(i);
    if (it == slots_.end()) return;  // dropped meanwhile
    if (r.ok())
      it->second.data = std::make_shared<const std::string>(std::move(*r));
    else
      it->second.error = r.status();
    it->second.done = true;
    cv_done_.notify_all();
  }

  Datastore& ds_;
  const std::vector<IndexEntry>& index_;
  std::string what_;
  int prefetch_;
  std::mutex mu_;                    // guards slots_ and stop_
  std::condition_variable cv_done_;  // a slot became done
  std::map<size_t, Slot> slots_;
  bool stop_ = false;
  // Last: the destructor resets it first, so queued decodes find stop_ set and
  // the members above still exist.
  std::unique_ptr<sys::ThreadPool> pool_;
};

StreamReader::StreamReader(Datastore& ds, std::vector<IndexEntry> index, std::string what,
                           int prefetch)
    : index_(std::move(index)), what_(what) {
  impl_ = std::make_unique<Impl>(ds, index_, std::move(what), prefetch);
}

StreamReader::~StreamReader() = default;

Status StreamReader::Read(uint64_t offset, uint64_t length,
                          const std::function<Status(const char* data, size_t size)>& sink) {
  if (offset > size() || length > size() - offset)
    return DataLossError(
        fmt::format("{}: read of {} bytes at {} beyond the end of the {}-byte stream", what_,
                    length, offset, size()));
  size_t i = static_cast<size_t>(
      std::upper_bound(index_.begin(), index_.end(), offset,
                       [](uint64_t v, const IndexEntry& e) { return v < e.end; }) -
      index_.begin());
  while (length > 0) {
    ASSIGN_OR_RETURN(auto chunk, impl_->Get(i));
    uint64_t start = i ? index_[i - 1].end : 0;
    uint64_t in = offset - start;
    uint64_t n = std::min<uint64_t>(length, chunk->size() - in);
    RETURN_IF_ERROR(sink(chunk->data() + in, static_cast<size_t>(n)));
    offset += n;
    length -= n;
    ++i;
  }
  return Status::OK();
}

Result<std::unique_ptr<SnapshotReader>> SnapshotReader::Open(Datastore& ds,
                                                             const std::string& volname) {
  std::unique_ptr<SnapshotReader> r(new SnapshotReader());
  r->volname_ = volname;
  ASSIGN_OR_RETURN(r->manifest_, ds.ReadManifest(volname));
  ASSIGN_OR_RETURN(auto meta, ds.ReadIndex(volname, r->manifest_, kMetaIndexName));
  ASSIGN_OR_RETURN(auto data, ds.ReadIndex(volname, r->manifest_, kDataIndexName));
  r->meta_ = std::make_unique<StreamReader>(ds, std::move(meta),
                                            fmt::format("metadata of '{}'", volname), 4);
  r->data_ =
      std::make_unique<StreamReader>(ds, std::move(data), fmt::format("data of '{}'", volname), 8);
  return r;
}

Status SnapshotReader::ForEachEntry(const std::function<Status(const Entry&)>& fn) {
  const std::string what = fmt::format("metadata stream of '{}'", volname_);
  std::string buf;
  size_t pos = 0;
  bool magic_checked = false;
  Entry e;
  Status stop;
  Status s = meta_->Read(0, meta_->size(), [&](const char* data, size_t n) -> Status {
    buf.append(data, n);
    if (!magic_checked) {
      if (buf.size() < sizeof(kMetaMagic)) return Status::OK();
      if (std::memcmp(buf.data(), kMetaMagic, sizeof(kMetaMagic)) != 0)
        return DataLossError(what + " is damaged: bad magic");
      pos = sizeof(kMetaMagic);
      magic_checked = true;
    }
    for (;;) {
      ASSIGN_OR_RETURN(size_t used, DecodeEntry(std::string_view(buf).substr(pos), &e, what));
      if (used == 0) break;
      pos += used;
      RETURN_IF_ERROR(fn(e));
    }
    if (pos > (1u << 20)) {
      buf.erase(0, pos);
      pos = 0;
    }
    return Status::OK();
  });
  RETURN_IF_ERROR(s);
  if (!magic_checked || pos != buf.size())
    return DataLossError(what + " is damaged: it ends inside a record");
  return Status::OK();
}

Status SnapshotReader::ReadFile(const Entry& e, bool with_holes,
                                const std::function<Status(const char* data, size_t size)>& sink) {
  if (e.sparse.empty()) return data_->Read(e.data_offset, e.data_length, sink);
  static const std::string kZeros(64 * 1024, '\0');
  auto zeros = [&](uint64_t n) -> Status {
    while (n > 0) {
      size_t k = static_cast<size_t>(std::min<uint64_t>(n, kZeros.size()));
      RETURN_IF_ERROR(sink(kZeros.data(), k));
      n -= k;
    }
    return Status::OK();
  };
  uint64_t pos = 0, stored = e.data_offset;
  for (auto [off, len] : e.sparse) {
    if (with_holes) RETURN_IF_ERROR(zeros(off - pos));
    RETURN_IF_ERROR(data_->Read(stored, len, sink));
    stored += len;
    pos = off + len;
  }
  if (with_holes) RETURN_IF_ERROR(zeros(e.size - pos));
  return Status::OK();
}

}  // namespace ctdump::datastore
