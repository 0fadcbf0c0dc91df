#include "datastore/writer.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include "ctdump/chunker.h"
#include "datastore/entry_format.h"
#include "datastore/manifest.h"
#include "datastore/manifest_format.h"
#include "sys/signals.h"
#include "sys/thread_pool.h"

namespace ctdump::datastore {
namespace {

// Hashes, compresses, encrypts and stores chunks on a pool of threads; the
// digest of each lands in its index slot, so the order in which chunks finish
// does not matter. At most two chunks per thread wait in memory: Submit
// blocks the stream until the pool catches up.
class ChunkUploader {
 public:
  ChunkUploader(Datastore& ds, const crypt::Key* key, int threads, Compression compression,
                int zstd_level)
      : ds_(ds),
        key_(key),
        compression_(compression),
        zstd_level_(zstd_level),
        pool_(threads, static_cast<size_t>(threads) * 2) {}

  void AddKnown(const Digest& d) {
    std::lock_guard<std::mutex> l(known_mu_);
    known_.insert(d);
  }

  std::mutex& index_mu() { return index_mu_; }

  // Queues a chunk; blocks while the queue is full. Returns the first error
  // of any chunk so far (then the chunk is not queued).
  Status Submit(std::string data, std::vector<IndexEntry>* index, size_t slot) {
    RETURN_IF_ERROR(error());
    if (!pool_.Submit([this, t = Task{std::move(data), index, slot}] { Run(t); })) return error();
    return Status::OK();
  }

  // Waits for every queued chunk; the first error of any.
  Status Drain() {
    pool_.Wait();
    return error();
  }

  std::vector<Digest> touched() {
    std::lock_guard<std::mutex> l(known_mu_);
    return touched_;
  }

  void AddStats(WriterStats* s) const {
    s->chunks += chunks_;
    s->new_chunks += new_chunks_;
    s->new_bytes += new_bytes_;
    s->stored_bytes += stored_bytes_;
    s->dedup_chunks += dedup_chunks_;
  }

 private:
  struct Task {
    std::string data;
    std::vector<IndexEntry>* index;
    size_t slot;
  };

  Status error() {
    std::lock_guard<std::mutex> l(error_mu_);
    return error_;
  }

  // On the pool. The first failure stops the stream: Submit refuses more.
  void Run(const Task& t) {
    Status s = Store(t);
    if (s.ok()) return;
    {
      std::lock_guard<std::mutex> l(error_mu_);
      if (error_.ok()) error_ = s;
    }
    pool_.Refuse();
  }

  Status Store(const Task& t) {
    Digest d = ComputeDigest(key_, t.data);
    ++chunks_;
    bool known;
    {
      std::lock_guard<std::mutex> l(known_mu_);
      known = known_.count(d) > 0;
    }
    if (!known) {
      const std::string name = ChunkObjectName(d);
      bool stored = false;
      auto st = ds_.backend().Stat(name);
      if (st.ok()) {
        Status touch = ds_.backend().Touch(name);
        if (touch.ok()) {
          stored = true;
        } else if (touch.code() != Code::kNotFound) {
          return touch;
        }
      } else if (st.status().code() != Code::kNotFound) {
        return st.status();
      }
      if (stored) {
        ++dedup_chunks_;
      } else {
        BlobOptions o;
        o.type = BlobType::kChunk;
        o.compression = compression_;
        o.zstd_level = zstd_level_;
        o.key = key_;
        ASSIGN_OR_RETURN(std::string blob, EncodeBlob(t.data, d, o));
        ASSIGN_OR_RETURN(bool created,
                         ds_.backend().PutIfAbsent(name, blob, Durability::kDeferred));
        if (created) {
          ++new_chunks_;
          new_bytes_ += t.data.size();
          stored_bytes_ += blob.size();
        } else {
          RETURN_IF_ERROR(ds_.backend().Touch(name));
          stored = true;
          ++dedup_chunks_;
        }
      }
      std::lock_guard<std::mutex> l(known_mu_);
      known_.insert(d);
      if (stored) touched_.push_back(d);
    }
    std::lock_guard<std::mutex> l(index_mu_);
    (*t.index)[t.slot].digest = d;
    return Status::OK();
  }

  Datastore& ds_;
  const crypt::Key* const key_;  // nullptr: a plain store
  const Compression compression_;
  const int zstd_level_;
  std::mutex error_mu_;  // guards error_
  Status error_;         // the first failed chunk's
  std::mutex known_mu_;  // guards known_ and touched_
  std::unordered_set<Digest, crypt::DigestHash> known_;
  std::vector<Digest> touched_;  // found stored already (datastore.h: re-checked)
  std::mutex index_mu_;          // guards the streams' indexes (slots filled by Store)
  std::atomic<uint64_t> chunks_{0}, new_chunks_{0}, new_bytes_{0}, stored_bytes_{0},
      dedup_chunks_{0};
  // Last: destroyed first, it runs what is queued and joins its threads while
  // the members above still exist.
  sys::ThreadPool pool_;
};

// One stream (metadata or data) being cut into chunks.
class StreamBuilder {
 public:
  StreamBuilder(ChunkUploader* up, const ChunkerParams& p) : up_(up), chunker_(p) {}

  Status Append(const char* p, size_t n) {
    while (n > 0) {
      size_t cut = chunker_.Scan(reinterpret_cast<const uint8_t*>(p), n);
      if (cut == 0) {
        cur_.append(p, n);
        return Status::OK();
      }
      cur_.append(p, cut);
      RETURN_IF_ERROR(Emit());
      p += cut;
      n -= cut;
    }
    return Status::OK();
  }

  // Ends the current chunk here.
  Status Cut() {
    RETURN_IF_ERROR(Emit());
    chunker_.Reset();
    return Status::OK();
  }

  // Appends chunks [first, last] of `prev` unchanged. Call after Cut().
  void Inject(const std::vector<IndexEntry>& prev, size_t first, size_t last) {
    std::lock_guard<std::mutex> l(up_->index_mu());
    for (size_t k = first; k <= last; ++k) {
      uint64_t size = prev[k].end - (k ? prev[k - 1].end : 0);
      committed_ += size;
      index_.push_back(IndexEntry{committed_, prev[k].digest});
    }
  }

  uint64_t position() const { return committed_ + cur_.size(); }
  const std::vector<IndexEntry>& index() const { return index_; }

 private:
  Status Emit() {
    if (cur_.empty()) return Status::OK();
    size_t slot;
    {
      std::lock_guard<std::mutex> l(up_->index_mu());
      committed_ += cur_.size();
      index_.push_back(IndexEntry{committed_, {}});
      slot = index_.size() - 1;
    }
    std::string data = std::move(cur_);
    cur_ = std::string();
    return up_->Submit(std::move(data), &index_, slot);
  }

  ChunkUploader* up_;
  Chunker chunker_;
  std::string cur_;
  uint64_t committed_ = 0;
  std::vector<IndexEntry> index_;
};

// A path of the tree as the worker may send it: relative, no empty, "." or
// ".." components ("" is the root).
bool SanePath(std::string_view p) {
  if (p.empty()) return true;
  if (p.front() == '/' || p.find('\0') != std::string_view::npos) return false;
  size_t pos = 0;
  while (pos <= p.size()) {
    size_t end = std::min(p.find('/', pos), p.size());
    std::string_view c = p.substr(pos, end - pos);
    if (c.empty() || c == "." || c == "..") return false;
    pos = end + 1;
  }
  return true;
}

}  // namespace

class SnapshotWriter::Impl {
 public:
  Impl(Datastore& ds, const crypt::Key* key, const WriterOptions& o,
       std::shared_ptr<const ParentSnapshot> parent, Observer* observer)
      : ds_(ds),
        key_(key),
        o_(o),
        parent_(std::move(parent)),
        observer_(observer),
        up_(ds, key, ds.IoThreads(o.threads), o.compression, o.zstd_level),
        meta_(&up_, ds.chunker_params()),
        data_(&up_, ds.chunker_params()) {
    if (parent_) {
      for (const auto& e : parent_->data_index) up_.AddKnown(e.digest);
      for (const auto& e : parent_->meta_index) up_.AddKnown(e.digest);
    }
  }
  // The upload threads write digests into meta_'s and data_'s indexes, which
  // are destroyed before up_: after a failed Feed chunks may still be in
  // flight, so let them land first.
  ~Impl() { up_.Drain().IgnoreError(); }

  Status Start() { return meta_.Append(kMetaMagic, sizeof(kMetaMagic)); }

  Status Feed(const char* data, size_t size) {
    if (!error_.ok()) return error_;
    // A lost lock fails the backup now rather than at the end (cheap: no
    // backend call).
    Status s = o_.lock.empty() ? Status::OK() : ds_.CheckLock(o_.lock);
    if (s.ok()) s = FeedImpl(data, size);
    if (!s.ok()) error_ = s;
    return s;
  }

  Result<Manifest> Finish();
  Result<std::shared_ptr<const ParentSnapshot>> FinishAsParent();
  void Abort();
  const WriterStats& stats() const { return stats_; }

 private:
  // After the end frame: the last chunks of both streams cut and stored,
  // their stats counted (Finish and FinishAsParent).
  Status EndStreams();
  Status FeedImpl(const char* data, size_t size);
  Status HandleFrame(uint8_t type, std::string_view payload);
  Status HandleEntry(std::string_view payload);
  Status Reuse(Entry* e);
  Status FlushRun();
  Status Bad(std::string_view why) {
    return DataLossError(fmt::format("invalid data from the backup worker: {}", why));
  }
  Status WriteIndex(const char* name, const std::vector<IndexEntry>& index, ManifestFile* f);
  Status RecheckTouched();

  Datastore& ds_;
  const crypt::Key* const key_;  // of new backups; nullptr: a plain store
  WriterOptions o_;
  std::shared_ptr<const ParentSnapshot> parent_;
  Observer* observer_;
  ChunkUploader up_;
  StreamBuilder meta_;
  StreamBuilder data_;
  WriterStats stats_;
  Status error_;

  char header_[5];  // the frame header being read
  size_t header_len_ = 0;
  uint8_t frame_type_ = 0;     // of the frame being read
  uint64_t frame_left_ = 0;    // its payload bytes still to come
  std::string in_;             // the record being read
  uint64_t pending_data_ = 0;  // bytes of the current file still to come
  bool ended_ = false;
  std::string record_;  // scratch for encoding

  // The run of parent chunks being reused: [run_first_, run_last_], put at
  // new stream offset run_base_.
  bool run_active_ = false;
  size_t run_first_ = 0, run_last_ = 0;
  uint64_t run_base_ = 0;
  std::vector<std::string> written_;  // objects of this snapshot written so far
};

Status SnapshotWriter::Impl::FeedImpl(const char* data, size_t size) {
  // File data goes from `data` straight to the data stream, whatever the
  // framing of the pipe reads; only frame headers and records are buffered.
  while (size > 0) {
    if (frame_left_ > 0 && frame_type_ == kFrameData) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(size, frame_left_));
      stats_.read_bytes += n;
      RETURN_IF_ERROR(data_.Append(data, n));
      frame_left_ -= n;
      data += n;
      size -= n;
      continue;
    }
    if (frame_left_ > 0) {  // a record
      size_t n = static_cast<size_t>(std::min<uint64_t>(size, frame_left_));
      in_.append(data, n);
      frame_left_ -= n;
      data += n;
      size -= n;
      if (frame_left_ == 0) {
        RETURN_IF_ERROR(HandleFrame(frame_type_, in_));
        in_.clear();
      }
      continue;
    }
    size_t n = std::min(size, sizeof(header_) - header_len_);
    std::memcpy(header_ + header_len_, data, n);
    header_len_ += n;
    data += n;
    size -= n;
    if (header_len_ < sizeof(header_)) break;
    header_len_ = 0;
    frame_type_ = static_cast<uint8_t>(header_[0]);
    uint32_t len = 0;
    for (int i = 4; i >= 1; --i) len = (len << 8) | static_cast<uint8_t>(header_[i]);
    if (len > kMaxFrameSize && frame_type_ != kFrameEntry) return Bad("oversized frame");
    if (len > kMaxRecordSize + 4) return Bad("oversized record");
    if (ended_) return Bad("data after the end of the stream");
    if (frame_type_ == kFrameData) {
      if (len > pending_data_) return Bad("more file data than announced");
      pending_data_ -= len;
    } else if (frame_type_ != kFrameEntry && frame_type_ != kFrameEnd) {
      return Bad(fmt::format("unknown frame type {}", frame_type_));
    }
    frame_left_ = len;
    if (len == 0 && frame_type_ != kFrameData) RETURN_IF_ERROR(HandleFrame(frame_type_, {}));
  }
  return Status::OK();
}

Status SnapshotWriter::Impl::HandleFrame(uint8_t type, std::string_view payload) {
  if (ended_) return Bad("data after the end of the stream");
  switch (type) {
    case kFrameEntry:
      if (pending_data_ != 0) return Bad("a record before the previous file's data ended");
      return HandleEntry(payload);
    case kFrameEnd:
      if (pending_data_ != 0) return Bad("the stream ended inside a file's data");
      if (!payload.empty()) return Bad("an end frame with a payload");
      ended_ = true;
      return Status::OK();
    default:
      return Bad(fmt::format("unknown frame type {}", type));
  }
}

Status SnapshotWriter::Impl::HandleEntry(std::string_view payload) {
  Entry e;
  ASSIGN_OR_RETURN(size_t used, DecodeEntry(payload, &e, "the backup worker's stream"));
  if (used != payload.size()) return Bad("record size does not match its frame");
  if (!SanePath(e.path)) return Bad(fmt::format("bad path '{}'", e.path));
  if (e.is_hardlink() && (e.link.empty() || !SanePath(e.link)))
    return Bad(fmt::format("bad hardlink target of '{}'", e.path));
  const bool regular = e.is_regular();
  if (!regular && (e.data_length != 0 || !e.sparse.empty() || (e.flags & kEntryUnchanged)))
    return Bad(fmt::format("data for '{}', which is not a regular file", e.path));
  if (regular && e.sparse.empty() && e.data_length != e.size)
    return Bad(fmt::format("data length of '{}' does not match its size", e.path));
  ++stats_.entries;
  if (regular) stats_.file_bytes += e.size;
  if (e.flags & kEntryUnchanged) {
    RETURN_IF_ERROR(Reuse(&e));
    e.flags &= ~kEntryUnchanged;
  } else if (regular && e.data_length > 0) {
    RETURN_IF_ERROR(FlushRun());
    e.data_offset = data_.position();
    pending_data_ = e.data_length;
  } else {
    e.data_offset = 0;
  }
  record_.clear();
  EncodeEntry(e, &record_);
  return meta_.Append(record_.data(), record_.size());
}

// Points `e` (unchanged since the parent; data_offset is the parent's) at
// the parent's chunks holding its data, extending the current run of reused
// chunks when they follow it.
Status SnapshotWriter::Impl::Reuse(Entry* e) {
  if (!parent_) return Bad(fmt::format("'{}' marked unchanged, but there is no parent", e->path));
  const auto& prev = parent_->data_index;
  const uint64_t prev_len = prev.empty() ? 0 : prev.back().end;
  if (e->data_offset > prev_len || e->data_length > prev_len - e->data_offset)
    return Bad(fmt::format("'{}' refers to data outside the parent snapshot", e->path));
  ++stats_.reused_files;
  stats_.reused_bytes += e->data_length;
  if (e->data_length == 0) {
    e->data_offset = 0;
    return Status::OK();
  }
  auto chunk_of = [&prev](uint64_t off) {
    return static_cast<size_t>(
        std::upper_bound(prev.begin(), prev.end(), off,
                         [](uint64_t v, const IndexEntry& x) { return v < x.end; }) -
        prev.begin());
  };
  size_t first = chunk_of(e->data_offset);
  size_t last = chunk_of(e->data_offset + e->data_length - 1);
  if (!run_active_ || first < run_first_ || first > run_last_ + 1) {
    RETURN_IF_ERROR(FlushRun());
    RETURN_IF_ERROR(data_.Cut());
    run_active_ = true;
    run_first_ = first;
    run_last_ = last;
    run_base_ = data_.position();
  } else {
    run_last_ = std::max(run_last_, last);
  }
  const uint64_t run_start_prev = run_first_ ? prev[run_first_ - 1].end : 0;
  e->data_offset = run_base_ + (e->data_offset - run_start_prev);
  return Status::OK();
}

Status SnapshotWriter::Impl::FlushRun() {
  if (!run_active_) return Status::OK();
  data_.Inject(parent_->data_index, run_first_, run_last_);
  run_active_ = false;
  return Status::OK();
}

Status SnapshotWriter::Impl::WriteIndex(const char* name, const std::vector<IndexEntry>& index,
                                        ManifestFile* f) {
  std::string plain = EncodeIndex(index);
  f->name = name;
  f->size = plain.size();
  // Indexes are never encrypted: they hold chunk ids (keyed under a key) and
  // sizes, and gc must read them whatever key a snapshot was made with. The
  // manifest, authenticated under a key, pins their SHA-256.
  f->digest = crypt::Sha256(plain);
  BlobOptions bo;
  bo.type = BlobType::kIndex;
  ASSIGN_OR_RETURN(std::string blob, EncodeBlob(plain, f->digest, bo));
  std::string object = SnapshotPrefix(o_.volname) + name;
  written_.push_back(object);
  return ds_.backend().Put(object, blob);
}

Status SnapshotWriter::Impl::RecheckTouched() {
  // A gc that was sweeping when this backup touched a chunk it found stored
  // may have decided to remove it just before: wait for any gc to end, then
  // make sure every such chunk is still there.
  for (int waited = 0;; ++waited) {
    // With leases: its lease (a gc whose host died holds none, and one whose
    // lease lapsed removes nothing more).
    ASSIGN_OR_RETURN(bool gc, ds_.LockHeld(kGcLockName));
    if (!gc) break;
    if (waited == 0 && observer_)
      observer_->Log(LogLevel::kInfo, "waiting for the running garbage collection to finish");
    RETURN_IF_ERROR(sys::CheckInterrupted());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (const Digest& d : up_.touched()) {
    auto st = ds_.backend().Stat(ChunkObjectName(d));
    if (!st.ok())
      return DataLossError(
          fmt::format("chunk {} was removed by a concurrent garbage collection; the backup was not "
                      "published, run it again",
                      d.Hex()));
  }
  return Status::OK();
}

Status SnapshotWriter::Impl::EndStreams() {
  if (!error_.ok()) return error_;
  if (!ended_ || frame_left_ > 0 || header_len_ > 0)
    return Bad("the stream ended without its end frame");
  RETURN_IF_ERROR(FlushRun());
  RETURN_IF_ERROR(data_.Cut());
  RETURN_IF_ERROR(meta_.Cut());
  RETURN_IF_ERROR(up_.Drain());
  up_.AddStats(&stats_);
  return Status::OK();
}

Result<std::shared_ptr<const ParentSnapshot>> SnapshotWriter::Impl::FinishAsParent() {
  RETURN_IF_ERROR(EndStreams());
  // Durable and all there, as for a published snapshot: the next pass
  // references these chunks without looking at them again.
  RETURN_IF_ERROR(ds_.backend().Sync());
  RETURN_IF_ERROR(RecheckTouched());
  auto p = std::make_shared<ParentSnapshot>();
  // The published snapshot this pass took unchanged files from: the next
  // pass's manifest names it (this pass has no name of its own).
  if (parent_) p->volname = parent_->volname;
  p->meta_index = meta_.index();
  p->data_index = data_.index();
  p->in_memory = true;
  return std::shared_ptr<const ParentSnapshot>(std::move(p));
}

Result<Manifest> SnapshotWriter::Impl::Finish() {
  RETURN_IF_ERROR(EndStreams());
  Manifest m;
  m.vmid = o_.vmid;
  m.backup_time = o_.backup_time;
  m.guest_config = o_.guest_config;
  m.firewall_config = o_.firewall_config;
  m.unprivileged = o_.unprivileged;
  m.files.resize(2);
  // A published snapshot of the same name (another backup in the same
  // second): writing our indexes would replace its ones, and Abort() would
  // then delete them.
  auto existing = ds_.backend().Stat(SnapshotPrefix(o_.volname) + kManifestName);
  if (existing.ok())
    return AlreadyExistsError(fmt::format("backup '{}' exists already", o_.volname));
  if (existing.status().code() != Code::kNotFound) return existing.status();
  RETURN_IF_ERROR(WriteIndex(kMetaIndexName, meta_.index(), &m.files[0]));
  RETURN_IF_ERROR(WriteIndex(kDataIndexName, data_.index(), &m.files[1]));
  RETURN_IF_ERROR(ds_.backend().Sync());
  RETURN_IF_ERROR(RecheckTouched());
  if (parent_ && !parent_->volname.empty()) m.parent = parent_->volname;
  if (o_.wrapped_key && key_) {
    m.wrapped_key = HexEncode(*o_.wrapped_key);
    m.master_fingerprint = o_.master_fingerprint;
  }
  m.chunk_min = ds_.chunker_params().min_size;
  m.chunk_avg = ds_.chunker_params().avg_size;
  m.chunk_max = ds_.chunker_params().max_size;
  m.stats = {{"entries", stats_.entries},           {"bytes", stats_.file_bytes},
             {"read-bytes", stats_.read_bytes},     {"reused-bytes", stats_.reused_bytes},
             {"reused-files", stats_.reused_files}, {"chunks", stats_.chunks},
             {"new-chunks", stats_.new_chunks},     {"new-bytes", stats_.new_bytes},
             {"stored-bytes", stats_.stored_bytes}, {"meta-bytes", meta_.position()},
             {"data-bytes", data_.position()}};
  // Version 2: a plain blob anyone can read, sealed (signed, configs
  // encrypted) under a key.
  ASSIGN_OR_RETURN(std::string plain, SealManifest(m, key_));
  ASSIGN_OR_RETURN(Manifest sealed, ParseManifest(plain, "the new manifest"));
  m.key_fingerprint = sealed.key_fingerprint;
  m.version = sealed.version;
  m.signature = sealed.signature;
  m.private_part = sealed.private_part;
  BlobOptions bo;
  bo.type = BlobType::kManifest;
  // Stored uncompressed (a few KiB): a zstd frame can carry bits its decoder
  // ignores, and a plain manifest has no CRC, so a flipped byte there would
  // decode to the same text and go unnoticed by verify.
  bo.zstd_level = 0;
  ASSIGN_OR_RETURN(std::string blob, EncodeBlob(plain, crypt::Sha256(plain), bo));
  std::string object = SnapshotPrefix(o_.volname) + kManifestName;
  // Last: the lock held without a gap, renewed for a whole lease ahead.
  if (!o_.lock.empty()) {
    Status held = ds_.RenewLock(o_.lock);
    if (!held.ok())
      return held.WithContext(
          fmt::format("backup '{}' was not published, run it again", o_.volname));
  }
  ASSIGN_OR_RETURN(bool created, ds_.backend().PutIfAbsent(object, blob));
  if (!created) return AlreadyExistsError(fmt::format("backup '{}' exists already", o_.volname));
  written_.clear();  // published: nothing to undo
  return m;
}

void SnapshotWriter::Impl::Abort() {
  for (const auto& object : written_) ds_.backend().Delete(object).IgnoreError();
  written_.clear();
}

SnapshotWriter::SnapshotWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SnapshotWriter::~SnapshotWriter() = default;

Result<std::unique_ptr<SnapshotWriter>> SnapshotWriter::Create(
    Datastore& ds, const WriterOptions& o, std::shared_ptr<const ParentSnapshot> parent,
    Observer* observer) {
  RETURN_IF_ERROR(ds.EnsureCreated());  // a store opened empty: its config first
  ASSIGN_OR_RETURN(const crypt::Key* key, ds.CurrentKey());
  auto impl = std::make_unique<Impl>(ds, key, o, std::move(parent), observer);
  RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<SnapshotWriter>(new SnapshotWriter(std::move(impl)));
}

Status SnapshotWriter::Feed(const char* data, size_t size) { return impl_->Feed(data, size); }
Result<Manifest> SnapshotWriter::Finish() { return impl_->Finish(); }
Result<std::shared_ptr<const ParentSnapshot>> SnapshotWriter::FinishAsParent() {
  return impl_->FinishAsParent();
}
void SnapshotWriter::Abort() { impl_->Abort(); }
const WriterStats& SnapshotWriter::stats() const { return impl_->stats(); }

std::shared_ptr<const ParentSnapshot> LoadParent(Datastore& ds, const std::string& vmid,
                                                 Observer* observer) {
  // Newest first, reading manifests only until one fits: the cost of
  // finding the parent does not grow with the number of snapshots.
  if (!ValidateObjectName(vmid).ok() || vmid.find('/') != std::string::npos) return nullptr;
  auto names = ds.backend().List("snapshots/ct/" + vmid + "/");
  if (!names.ok()) return nullptr;
  std::vector<std::pair<int64_t, std::string>> candidates;
  const std::string suffix = std::string("/") + kManifestName;
  for (const auto& n : *names) {
    if (!n.ends_with(suffix)) continue;
    std::string volname = n.substr(10, n.size() - 10 - suffix.size());
    auto v = ParseVolume(volname);
    if (v.ok()) candidates.emplace_back(v->time, std::move(volname));
  }
  std::sort(candidates.rbegin(), candidates.rend());
  // Only a parent made with the key of new backups: its chunk ids are keyed
  // with it. The public part says which key; only that one is read whole.
  auto key = ds.CurrentKey();
  if (!key.ok()) return nullptr;
  std::optional<std::string> fp;
  if (*key) fp = crypt::FingerprintString((*key)->fingerprint());
  for (const auto& [time, volname] : candidates) {
    auto pub = ds.ReadManifestPublic(volname);
    if (!pub.ok() || pub->key_fingerprint != fp) continue;
    auto m = ds.ReadManifest(volname);
    if (!m.ok() || m->key_fingerprint != fp) continue;
    auto p = std::make_shared<ParentSnapshot>();
    p->volname = volname;
    p->manifest = std::move(*m);
    auto meta = ds.ReadIndex(volname, p->manifest, kMetaIndexName);
    auto data = ds.ReadIndex(volname, p->manifest, kDataIndexName);
    if (!meta.ok() || !data.ok()) {
      if (observer)
        observer->Log(LogLevel::kWarn,
                      fmt::format("cannot use '{}' for change detection ({}); reading everything",
                                  volname, (!meta.ok() ? meta.status() : data.status()).message()));
      return nullptr;
    }
    // A parent whose chunks are not all there (verify moved a damaged one
    // aside, or it was lost) would pass the gap on to the new snapshot
    // through its unchanged files: read everything instead, so that the
    // missing chunks are stored again. One stat per distinct chunk.
    // The stats run on IoThreads() threads: on RADOS each is a round trip.
    std::unordered_set<Digest, crypt::DigestHash> seen;
    std::vector<Digest> distinct;
    for (const auto* index : {&*meta, &*data})
      for (const auto& e : *index)
        if (seen.insert(e.digest).second) distinct.push_back(e.digest);
    std::vector<Result<ObjectStat>> stats(distinct.size(), Result<ObjectStat>(ObjectStat{}));
    sys::ParallelFor(distinct.size(), ds.IoThreads(),
                     [&](size_t i) { stats[i] = ds.backend().Stat(ChunkObjectName(distinct[i])); });
    if (sys::InterruptCount() > 0) return nullptr;
    for (size_t i = 0; i < distinct.size(); ++i) {
      const auto& st = stats[i];
      if (st.ok()) continue;
      std::string why = st.status().message();
      if (st.status().code() == Code::kNotFound)
        why = ds.backend().Stat(BadChunkObjectName(distinct[i])).ok()
                  ? "missing: verify found it damaged"
                  : "missing";
      if (observer)
        observer->Log(LogLevel::kWarn,
                      fmt::format("'{}' needs chunk '{}', which is {}; reading everything so "
                                  "that it is stored again",
                                  volname, ChunkObjectName(distinct[i]), why));
      return nullptr;
    }
    p->meta_index = std::move(*meta);
    p->data_index = std::move(*data);
    return p;
  }
  return nullptr;
}

}  // namespace ctdump::datastore
