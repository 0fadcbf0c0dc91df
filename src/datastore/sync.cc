#include "datastore/sync.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_set>
#include <utility>

#include "ctdump/units.h"
#include "datastore/codec.h"
#include "datastore/manifest_format.h"
#include "sys/signals.h"
#include "sys/thread_pool.h"

namespace ctdump::datastore {
namespace {

using Clock = std::chrono::steady_clock;

// Snapshots by container, each container's oldest first.
using VolumeMap = std::map<std::string, std::vector<std::pair<int64_t, std::string>>>;

// The snapshots (objects ".../manifest") of `ds`, of `vmid` or all. Listing
// names reads no manifest: a damaged one fails when it is copied, by name.
Result<VolumeMap> ListVolumes(Datastore& ds, const std::optional<std::string>& vmid) {
  VolumeMap out;
  std::string prefix = "snapshots/ct/";
  if (vmid) prefix += *vmid + "/";
  ASSIGN_OR_RETURN(std::vector<std::string> names, ds.backend().List(prefix));
  const std::string suffix = std::string("/") + kManifestName;
  for (const auto& n : names) {
    if (!n.ends_with(suffix)) continue;
    std::string volname = n.substr(10, n.size() - 10 - suffix.size());
    auto v = ParseVolume(volname);
    if (v.ok()) out[v->vmid].emplace_back(v->time, std::move(volname));
  }
  for (auto& [id, vols] : out) std::sort(vols.begin(), vols.end());
  return out;
}

// Numeric container ids in numeric order, others after them.
bool VmidLess(const std::string& a, const std::string& b) {
  auto numeric = [](const std::string& s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (numeric(a) != numeric(b)) return numeric(a);
  if (numeric(a) && a.size() != b.size()) return a.size() < b.size();
  return a < b;
}

std::string VmidOf(const std::string& volname) {
  auto v = ParseVolume(volname);
  return v.ok() ? v->vmid : std::string();
}

struct ChunkRef {
  Digest digest;
  uint64_t size = 0;  // plaintext bytes (from the index)
};

// What one container's sync shares between its snapshots, under its lock.
struct ContainerState {
  // Chunks stored on the target since the lock was taken (sent, or found
  // and touched): not looked at again.
  std::unordered_set<Digest, crypt::DigestHash> known;
  // Found stored and touched, not yet re-checked after a gc that may have
  // overlapped (datastore.h).
  std::vector<Digest> touched;
};

// Copies chunks from source to target on a pool of threads (one per
// snapshot, so that a failed snapshot's refused pool ends with it).
class ChunkCopier {
 public:
  ChunkCopier(Datastore& source, Datastore& target, int threads, ContainerState* state)
      : source_(source),
        target_(target),
        state_(state),
        pool_(threads, static_cast<size_t>(sys::ThreadPool::ResolveThreads(threads)) * 2) {}

  // Queues `c` (blocking while the pool is behind); the first error of any
  // chunk so far, and then nothing is queued.
  Status Submit(const ChunkRef& c) {
    RETURN_IF_ERROR(error());
    if (!pool_.Submit([this, c] { Run(c); })) return error();
    return Status::OK();
  }
  Status Drain() {
    pool_.Wait();
    return error();
  }
  // Sends `d` again (after gc removed it); on the calling thread.
  Status Resend(const Digest& d) { return Send(d, true); }

  uint64_t done_chunks() const { return done_chunks_; }
  uint64_t done_bytes() const { return done_bytes_; }
  void AddTo(SyncReport* r) const {
    r->chunks_sent += sent_;
    r->chunks_present += present_;
    r->chunks_resent += resent_;
    r->bytes_sent += sent_bytes_;
  }

 private:
  Status error() {
    std::lock_guard<std::mutex> l(mu_);
    return error_;
  }

  void Run(const ChunkRef& c) {
    Status s = sys::CheckInterrupted();
    if (s.ok()) s = Copy(c.digest);
    if (s.ok()) {
      ++done_chunks_;
      done_bytes_ += c.size;
      return;
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      if (error_.ok()) error_ = s;
    }
    pool_.Refuse();
  }

  Status Copy(const Digest& d) {
    const std::string name = ChunkObjectName(d);
    Status t = target_.backend().Touch(name);
    if (t.ok()) {
      ++present_;
      Remember(d, true);
      return Status::OK();
    }
    if (t.code() != Code::kNotFound)
      return Status(t.code(), fmt::format("{}: {}", target_.name(), t.message()));
    return Send(d, false);
  }

  // Reads `d` from the source, checks it and stores it on the target.
  Status Send(const Digest& d, bool resend) {
    const std::string name = ChunkObjectName(d);
    auto blob = source_.Fetch(name);
    if (!blob.ok()) {
      if (blob.status().code() != Code::kNotFound) return blob.status();
      bool bad = source_.backend().Stat(BadChunkObjectName(d)).ok();
      return DataLossError(fmt::format(
          "chunk '{}' is missing on {}{}", name, source_.name(),
          bad ? " (verify found it damaged and moved it aside; the next backup of a container "
                "that still has its data stores it again)"
              : ""));
    }
    // Checked on arrival: fully where the source can (a plain chunk, or
    // its key at hand without a passphrase), else without the key (Decode
    // checks header, sizes and CRC before it reports the key problem).
    Status s = source_
                   .Decode(*blob, BlobType::kChunk, &d, fmt::format("chunk '{}'", name),
                           /*may_prompt=*/false)
                   .status();
    if (!s.ok() && !IsKeyError(s))
      return DataLossError(fmt::format("{} on {}", s.message(), source_.name()));
    for (int attempt = 0;; ++attempt) {
      ASSIGN_OR_RETURN(bool created,
                       target_.backend().PutIfAbsent(name, *blob, Durability::kDeferred));
      if (created) {
        ++(resend ? resent_ : sent_);
        sent_bytes_ += blob->size();
        Remember(d, false);
        return Status::OK();
      }
      // Stored meanwhile (another sync or backup): rely on it as on a
      // chunk found stored. Removed again before the touch: put it again.
      Status t = target_.backend().Touch(name);
      if (t.ok()) {
        ++present_;
        Remember(d, true);
        return Status::OK();
      }
      if (t.code() != Code::kNotFound || attempt > 3) return t;
    }
  }

  void Remember(const Digest& d, bool touched) {
    std::lock_guard<std::mutex> l(mu_);
    state_->known.insert(d);
    if (touched) state_->touched.push_back(d);
  }

  Datastore& source_;
  Datastore& target_;
  ContainerState* state_;  // guarded by mu_ while the pool runs
  std::mutex mu_;          // guards error_ and *state_
  Status error_;
  std::atomic<uint64_t> done_chunks_{0}, done_bytes_{0}, sent_{0}, present_{0}, resent_{0},
      sent_bytes_{0};
  // Last: destroyed first, it runs what is queued and joins its threads.
  sys::ThreadPool pool_;
};

// A snapshot read from the source, ready to be written to the target.
struct SourceSnapshot {
  std::string volname;
  std::string manifest_blob;
  bool signed_or_encrypted = false;
  std::vector<std::pair<std::string, std::string>> indexes;  // file name, blob
  std::vector<ChunkRef> chunks;                              // distinct, in index order
  uint64_t logical_bytes = 0;
};

class Syncer {
 public:
  Syncer(Datastore& source, Datastore& target, const SyncOptions& o, Observer* observer)
      : source_(source), target_(target), o_(o), observer_(observer) {
    threads_ = o.threads > 0
                   ? o.threads
                   : std::max(sys::ThreadPool::ResolveThreads(0), target.backend().IoDepth());
  }

  Status Run(SyncReport* report);

 private:
  void Log(LogLevel level, const std::string& line) {
    if (observer_) observer_->Log(level, line);
  }
  Status SyncContainer(const std::string& vmid, const VolumeMap& src, const VolumeMap& dst);
  Status CopySnapshot(const std::string& volname, ContainerState* state);
  Result<SourceSnapshot> ReadSource(const std::string& volname);
  Status TransferChunks(const SourceSnapshot& snap, ContainerState* state);
  Status RecheckTouched(ContainerState* state);
  Status Publish(const SourceSnapshot& snap, const std::string& lock_object,
                 std::vector<std::string>* written);
  void RemoveVanished(const std::string& vmid, const std::vector<std::string>& vanished);
  bool SourceHas(const std::string& volname) {
    return source_.backend().Stat(SnapshotPrefix(volname) + kManifestName).ok();
  }

  Datastore& source_;
  Datastore& target_;
  const SyncOptions& o_;
  Observer* observer_;
  int threads_ = 1;
  SyncReport* r_ = nullptr;
};

Status Syncer::Run(SyncReport* report) {
  r_ = report;
  if (!source_.exists())
    return FailedPreconditionError(
        fmt::format("{}: {} holds no datastore: nothing to sync from (is the storage's path "
                    "right?)",
                    source_.name(), source_.backend().Describe()));
  if (source_.backend().Describe() == target_.backend().Describe())
    return InvalidArgumentError(fmt::format("{} and {} are the same store ({})", source_.name(),
                                            target_.name(), source_.backend().Describe()));
  VolumeMap src, dst;
  std::vector<std::string> vmids = o_.vmids;
  if (vmids.empty()) {
    ASSIGN_OR_RETURN(src, ListVolumes(source_, std::nullopt));
    if (target_.exists()) {
      ASSIGN_OR_RETURN(dst, ListVolumes(target_, std::nullopt));
    }
    for (const auto& [id, v] : src) vmids.push_back(id);
    if (o_.remove_vanished)
      for (const auto& [id, v] : dst)
        if (!src.count(id)) vmids.push_back(id);
  } else {
    for (const auto& id : vmids) {
      if (!ValidateObjectName(id).ok() || id.find('/') != std::string::npos)
        return InvalidArgumentError(fmt::format("'{}' is not a container id", id));
      ASSIGN_OR_RETURN(VolumeMap one, ListVolumes(source_, id));
      src.merge(one);
      if (target_.exists()) {
        ASSIGN_OR_RETURN(VolumeMap t, ListVolumes(target_, id));
        dst.merge(t);
      }
    }
  }
  std::sort(vmids.begin(), vmids.end(), VmidLess);
  vmids.erase(std::unique(vmids.begin(), vmids.end()), vmids.end());
  Log(LogLevel::kInfo,
      fmt::format("{} container(s) to sync, chunks on {} thread(s)", vmids.size(), threads_));
  for (const auto& vmid : vmids) {
    RETURN_IF_ERROR(sys::CheckInterrupted());
    Status s = SyncContainer(vmid, src, dst);
    if (s.code() == Code::kCancelled) return s;
    if (!s.ok()) {
      r_->failures.push_back(fmt::format("ct/{}: {}", vmid, s.message()));
      Log(LogLevel::kErr, fmt::format("container {}: {}", vmid, s.message()));
    }
  }
  return Status::OK();
}

Status Syncer::SyncContainer(const std::string& vmid, const VolumeMap& src, const VolumeMap& dst) {
  static const std::vector<std::pair<int64_t, std::string>> kNone;
  const auto& have = src.count(vmid) ? src.at(vmid) : kNone;
  const auto& there = dst.count(vmid) ? dst.at(vmid) : kNone;
  ++r_->containers;
  // PBS's rule: only snapshots newer than the target's newest, so that
  // what the target pruned does not come back with every run.
  const int64_t newest_there = there.empty() ? INT64_MIN : there.back().first;
  size_t first = 0;
  if (o_.transfer_last && have.size() > *o_.transfer_last) first = have.size() - *o_.transfer_last;
  std::set<std::string> on_target;
  for (const auto& [t, v] : there) on_target.insert(v);
  std::vector<std::string> todo;
  uint64_t older = 0, present = 0;
  for (size_t i = first; i < have.size(); ++i) {
    if (on_target.count(have[i].second)) {
      ++present;
    } else if (have[i].first < newest_there) {
      ++older;
    } else {
      todo.push_back(have[i].second);
    }
  }
  std::vector<std::string> vanished;
  if (o_.remove_vanished) {
    std::set<std::string> at_source;
    for (const auto& [t, v] : have) at_source.insert(v);
    for (const auto& [t, v] : there)
      if (!at_source.count(v)) vanished.push_back(v);
  }
  r_->skipped += present + older;
  std::string skipped_text;
  if (present) skipped_text += fmt::format(", {} on the target already", present);
  if (older) skipped_text += fmt::format(", {} older than the target's newest (skipped)", older);
  Log(LogLevel::kInfo, fmt::format("container {}: {} backup(s) on the source, {} to copy{}", vmid,
                                   have.size(), todo.size(), skipped_text));
  if (todo.empty() && vanished.empty()) return Status::OK();

  ASSIGN_OR_RETURN(LockInfo lock, target_.TakeLock(BackupLockName(vmid), std::nullopt, observer_));
  struct Unlock {
    Datastore& ds;
    std::string object;
    ~Unlock() { ds.ReleaseLock(object).IgnoreError(); }
  } unlock{target_, lock.object};
  ContainerState state;
  for (const auto& volname : todo) {
    RETURN_IF_ERROR(sys::CheckInterrupted());
    Status s = CopySnapshot(volname, &state);
    if (s.code() == Code::kCancelled) return s;
    if (!s.ok()) {
      r_->failures.push_back(fmt::format("{}: {}", volname, s.message()));
      Log(LogLevel::kErr, fmt::format("backup '{}' not copied: {}", volname, s.message()));
    }
  }
  RemoveVanished(vmid, vanished);
  return Status::OK();
}

Result<SourceSnapshot> Syncer::ReadSource(const std::string& volname) {
  SourceSnapshot snap;
  snap.volname = volname;
  const std::string prefix = SnapshotPrefix(volname);
  const std::string what =
      fmt::format("manifest '{}{}' on {}", prefix, kManifestName, source_.name());
  ASSIGN_OR_RETURN(snap.manifest_blob, source_.Fetch(prefix + kManifestName));
  ASSIGN_OR_RETURN(BlobInfo info, ParseBlobHeader(snap.manifest_blob, what));
  std::vector<std::pair<std::string, const Digest*>> files;
  Manifest m;
  std::unordered_set<Digest, crypt::DigestHash> seen;  // across both indexes
  if (info.fingerprint) {
    // Version 1 under a key: the manifest needs the key; copied as it is,
    // its indexes checked as blobs.
    ASSIGN_OR_RETURN(info,
                     CheckBlobWithoutKey(snap.manifest_blob, BlobType::kManifest, nullptr, what));
    snap.signed_or_encrypted = true;
    files = {{kMetaIndexName, nullptr}, {kDataIndexName, nullptr}};
  } else {
    ASSIGN_OR_RETURN(std::string text,
                     DecodeBlob(snap.manifest_blob, BlobType::kManifest, nullptr, nullptr, what));
    ASSIGN_OR_RETURN(m, ParseManifest(text, what));
    snap.signed_or_encrypted = m.signature.has_value();
    for (const auto& f : m.files) files.emplace_back(f.name, &f.digest);
  }
  for (const auto& [file, digest] : files) {
    if (!ValidateObjectName(file).ok() || file.find('/') != std::string::npos)
      return DataLossError(fmt::format("{} is damaged: bad file name '{}'", what, file));
    const std::string object = prefix + file;
    const std::string iwhat = fmt::format("index '{}' on {}", object, source_.name());
    ASSIGN_OR_RETURN(std::string blob, source_.Fetch(object));
    ASSIGN_OR_RETURN(std::string plain, DecodeBlob(blob, BlobType::kIndex, nullptr, digest, iwhat));
    const ManifestFile* mf = m.File(file);
    if (mf && plain.size() != mf->size)
      return DataLossError(iwhat + " has another size than its manifest says");
    ASSIGN_OR_RETURN(std::vector<IndexEntry> index, ParseIndex(plain, iwhat));
    uint64_t prev = 0;
    for (const auto& e : index) {
      const uint64_t size = e.end - prev;
      prev = e.end;
      snap.logical_bytes += size;
      if (seen.insert(e.digest).second) snap.chunks.push_back(ChunkRef{e.digest, size});
    }
    snap.indexes.emplace_back(file, std::move(blob));
  }
  return snap;
}

Status Syncer::TransferChunks(const SourceSnapshot& snap, ContainerState* state) {
  std::vector<ChunkRef> todo;
  uint64_t total_bytes = 0;
  for (const auto& c : snap.chunks) {
    if (state->known.count(c.digest)) {
      ++r_->chunks_present;  // stored or touched for an earlier backup of this run
      continue;
    }
    todo.push_back(c);
    total_bytes += c.size;
  }
  Progress p;
  p.phase = "sync";
  p.current = snap.volname;
  p.total_files = todo.size();
  p.total_bytes = total_bytes;
  auto report = [&](const ChunkCopier& cp) {
    p.files = cp.done_chunks();
    p.bytes = cp.done_bytes();
    if (observer_) observer_->OnProgress(p);
  };
  ChunkCopier copier(source_, target_, threads_, state);
  auto last = Clock::now();
  Status s;
  for (const auto& c : todo) {
    s = sys::CheckInterrupted();
    if (s.ok()) s = copier.Submit(c);
    if (!s.ok()) break;
    if (Clock::now() - last > std::chrono::milliseconds(500)) {
      report(copier);
      last = Clock::now();
    }
  }
  Status drained = copier.Drain();
  copier.AddTo(r_);
  report(copier);
  if (!s.ok()) return s;
  RETURN_IF_ERROR(drained);
  // Gone from the target between the touch and a gc that overlapped: sent
  // again from the source.
  RETURN_IF_ERROR(RecheckTouched(state));
  return Status::OK();
}

Status Syncer::RecheckTouched(ContainerState* state) {
  // A gc that was sweeping when a chunk was touched may have decided to
  // remove it just before: once no gc runs, every touched chunk must be
  // there. One that is gone is sent again (its new mtime is after our lock,
  // so no gc removes it); one found stored meanwhile was touched again, and
  // is checked again after any gc that overlapped that touch.
  ChunkCopier copier(source_, target_, 1, state);
  while (!state->touched.empty()) {
    for (int waited = 0;; ++waited) {
      ASSIGN_OR_RETURN(bool gc_running, target_.LockHeld(kGcLockName));
      if (!gc_running) break;
      if (waited == 0)
        Log(LogLevel::kInfo, fmt::format("waiting for the garbage collection running on {} to "
                                         "finish",
                                         target_.name()));
      RETURN_IF_ERROR(sys::CheckInterrupted());
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    std::vector<Digest> touched = std::move(state->touched);
    state->touched.clear();
    for (const Digest& d : touched) {
      auto st = target_.backend().Stat(ChunkObjectName(d));
      if (st.ok()) continue;
      if (st.status().code() != Code::kNotFound) return st.status();
      Log(LogLevel::kInfo, fmt::format("chunk '{}' was removed by a garbage collection on {}; "
                                       "sending it again",
                                       ChunkObjectName(d), target_.name()));
      RETURN_IF_ERROR(copier.Resend(d));
    }
  }
  copier.AddTo(r_);
  return Status::OK();
}

Status Syncer::Publish(const SourceSnapshot& snap, const std::string& lock_object,
                       std::vector<std::string>* written) {
  const std::string prefix = SnapshotPrefix(snap.volname);
  for (const auto& [file, blob] : snap.indexes) {
    written->push_back(prefix + file);
    RETURN_IF_ERROR(target_.backend().Put(prefix + file, blob));
  }
  // The snapshot's attributes before its manifest: a snapshot appears whole
  // or not at all (a run killed after the manifest would skip it next time).
  for (const char* file : {kLogName, kNotesName, kProtectedName}) {
    auto data = source_.Fetch(prefix + file);
    if (!data.ok() && data.status().code() == Code::kNotFound) continue;
    if (!data.ok()) return data.status();
    written->push_back(prefix + file);
    RETURN_IF_ERROR(target_.backend().Put(prefix + file, *data));
  }
  RETURN_IF_ERROR(target_.backend().Sync());
  // The lock (its lease, on a backend with leases) must have been held
  // without a gap: else a gc may not have seen this sync.
  RETURN_IF_ERROR(target_.RenewLock(lock_object));
  ASSIGN_OR_RETURN(bool created,
                   target_.backend().PutIfAbsent(prefix + kManifestName, snap.manifest_blob));
  if (!created) {
    written->clear();  // they are another writer's now
    return AlreadyExistsError(
        fmt::format("backup '{}' exists on {} already", snap.volname, target_.name()));
  }
  written->clear();
  return Status::OK();
}

Status Syncer::CopySnapshot(const std::string& volname, ContainerState* state) {
  auto start = Clock::now();
  // A lease lost meanwhile (a hung host, the cluster unreachable): stop
  // before any work, as at the manifest.
  RETURN_IF_ERROR(target_.CheckLock(BackupLockName(VmidOf(volname))));
  auto existing = target_.backend().Stat(SnapshotPrefix(volname) + kManifestName);
  if (existing.ok()) {
    ++r_->skipped;
    return Status::OK();
  }
  if (existing.status().code() != Code::kNotFound) return existing.status();
  auto snap = ReadSource(volname);
  if (!snap.ok()) {
    if (snap.status().code() == Code::kNotFound && !SourceHas(volname)) {
      Log(LogLevel::kInfo, fmt::format("backup '{}' was removed from {} meanwhile; skipped",
                                       volname, source_.name()));
      return Status::OK();
    }
    return snap.status();
  }
  if (!snap->signed_or_encrypted && target_.keys().has_current())
    return FailedPreconditionError(fmt::format(
        "it is not encrypted, but {} has an encryption key and would refuse its unsigned "
        "manifest; sync it to a storage without 'encryption-key'",
        target_.name()));
  Log(LogLevel::kInfo, fmt::format("sync backup '{}' ({}, {} chunks)", volname,
                                   HumanBytes(snap->logical_bytes), snap->chunks.size()));
  const uint64_t sent_before = r_->chunks_sent, bytes_before = r_->bytes_sent;
  const uint64_t present_before = r_->chunks_present;
  std::vector<std::string> written;
  struct Undo {
    Datastore& ds;
    std::vector<std::string>* objects;
    ~Undo() {
      for (const auto& o : *objects) ds.backend().Delete(o).IgnoreError();
    }
  } undo{target_, &written};
  Status s = TransferChunks(*snap, state);
  if (s.ok()) s = Publish(*snap, BackupLockName(VmidOf(volname)), &written);
  if (!s.ok()) {
    if (s.code() == Code::kDataLoss && !SourceHas(volname)) {
      Log(LogLevel::kInfo, fmt::format("backup '{}' was removed from {} meanwhile; skipped",
                                       volname, source_.name()));
      return Status::OK();
    }
    return s;
  }
  ++r_->copied;
  r_->copied_snapshots.push_back(volname);
  r_->logical_bytes += snap->logical_bytes;
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  Log(LogLevel::kInfo,
      fmt::format("backup '{}' copied: {} chunks sent ({}), {} already on the target, {:.1f} s",
                  volname, r_->chunks_sent - sent_before, HumanBytes(r_->bytes_sent - bytes_before),
                  r_->chunks_present - present_before, secs));
  return Status::OK();
}

void Syncer::RemoveVanished(const std::string& vmid, const std::vector<std::string>& vanished) {
  for (const auto& volname : vanished) {
    auto prot = target_.IsProtected(volname);
    if (prot.ok() && *prot) {
      r_->kept_protected.push_back(volname);
      Log(LogLevel::kWarn, fmt::format("backup '{}' is gone from {} but protected on {}; kept",
                                       volname, source_.name(), target_.name()));
      continue;
    }
    Status s = target_.DeleteSnapshot(volname);
    if (s.ok()) {
      ++r_->removed;
      r_->removed_snapshots.push_back(volname);
      Log(LogLevel::kInfo,
          fmt::format("removed backup '{}': gone from {}", volname, source_.name()));
    } else if (s.code() != Code::kNotFound) {
      r_->failures.push_back(fmt::format("{}: {}", volname, s.message()));
      Log(LogLevel::kErr,
          fmt::format("cannot remove vanished backup '{}': {}", volname, s.message()));
    }
  }
}

}  // namespace

Result<SyncReport> SyncStores(Datastore& source, Datastore& target, const SyncOptions& options,
                              Observer* observer) {
  auto start = Clock::now();
  SyncReport report;
  Syncer syncer(source, target, options, observer);
  RETURN_IF_ERROR(syncer.Run(&report));
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return report;
}

}  // namespace ctdump::datastore
