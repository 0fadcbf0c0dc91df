#include "datastore/maintenance.h"

#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_set>

#include "datastore/manifest_format.h"
#include "sys/signals.h"
#include "sys/thread_pool.h"

namespace ctdump::datastore {
namespace {

using DigestSet = std::unordered_set<Digest, crypt::DigestHash>;

// How old a backend temporary must be before gc takes it for a killed
// writer's: an hour, far beyond any put, however stalled.
constexpr int64_t kStaleTempAge = int64_t{3600} * 1'000'000'000;

std::string MissingChunkProblem(Datastore& ds, const Digest& d) {
  // Not listed, or gone when read: no file, or no regular one.
  auto st = ds.backend().Stat(ChunkObjectName(d));
  if (!st.ok() && st.status().code() != Code::kNotFound)
    return fmt::format("chunk '{}' cannot be read: {}", ChunkObjectName(d), st.status().message());
  if (ds.backend().Stat(BadChunkObjectName(d)).ok())
    return fmt::format(
        "chunk '{}' is missing: an earlier verify found it damaged and moved it to '{}'; the "
        "next backup of a container that still has this data stores it again",
        ChunkObjectName(d), BadChunkObjectName(d));
  return fmt::format("chunk '{}' is missing", ChunkObjectName(d));
}

// Runs fn(i) for i in [0, n) on `threads` threads; stops early on interrupt.
// `files` counts chunks (verify, gc-sweep) or backups (gc-mark), out of
// `total`; `bytes` the plaintext bytes verify re-hashed.
void Progress(Observer* observer, const char* phase, uint64_t bytes, uint64_t files,
              std::optional<uint64_t> total) {
  if (!observer) return;
  ctdump::Progress p;
  p.phase = phase;
  p.bytes = bytes;
  p.files = files;
  p.total_files = total;
  observer->OnProgress(p);
}

// At most one progress report per half second (and the last one).
class Throttle {
 public:
  bool Due() {
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(500)) return false;
    last_ = now;
    return true;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace

std::optional<VerifyState> ReadVerifyState(Datastore& ds, const std::string& volname) {
  auto text = ds.Fetch(SnapshotPrefix(volname) + kVerifyStateName, kMaxVerifyStateSize);
  if (!text.ok()) return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto state = j.find("state");
  auto time = j.find("time");
  if (state == j.end() || !state->is_string() || time == j.end() || !time->is_number_integer())
    return std::nullopt;
  if (*state != "ok" && *state != "failed") return std::nullopt;
  VerifyState v;
  v.ok = *state == "ok";
  v.time = time->get<int64_t>();
  auto problems = j.find("problems");
  if (problems != j.end() && problems->is_number_unsigned()) v.problems = problems->get<uint64_t>();
  return v;
}

bool RecentlyVerified(const std::optional<VerifyState>& state, int64_t now, int64_t max_age_s) {
  // A time in the future (a clock set back) is no reason to skip forever.
  return state && state->ok && state->time <= now && now - state->time < max_age_s;
}

namespace {

// Records the outcome for the snapshot; a snapshot deleted meanwhile loses
// the record again. Failing is a warning: the verify's result stands.
void WriteVerifyState(Datastore& ds, const std::string& volname, const VerifyState& v,
                      Observer* observer) {
  const std::string object = SnapshotPrefix(volname) + kVerifyStateName;
  nlohmann::json j = {
      {"state", v.ok ? "ok" : "failed"}, {"time", v.time}, {"problems", v.problems}};
  Status s = ds.backend().Put(object, j.dump() + "\n");
  if (s.ok()) {
    auto st = ds.backend().Stat(SnapshotPrefix(volname) + kManifestName);
    if (!st.ok() && st.status().code() == Code::kNotFound) {
      Status d = ds.backend().Delete(object);
      if (d.ok() || d.code() == Code::kNotFound) return;
      s = d;
    } else {
      return;
    }
  }
  if (observer)
    observer->Log(LogLevel::kWarn, fmt::format("could not record the verify state of backup "
                                               "'{}': {}",
                                               volname, s.message()));
}

// The snapshots other than `verified` (with a manifest) whose indexes
// reference a chunk of `broken`, each with those chunks. A snapshot whose
// indexes cannot be read is left out (this verify did not check it; the
// next one that does reports it).
Result<std::map<std::string, std::vector<Digest>>> OtherSnapshotsNeeding(
    Datastore& ds, const std::set<Digest>& broken, const std::vector<std::string>& verified) {
  const std::set<std::string> skip(verified.begin(), verified.end());
  ASSIGN_OR_RETURN(std::vector<std::string> names, ds.backend().List("snapshots/ct/"));
  const std::string suffix = std::string("/") + kManifestName;
  std::map<std::string, std::vector<Digest>> out;
  for (const auto& n : names) {
    if (!n.ends_with(suffix)) continue;
    std::string v = n.substr(10, n.size() - 10 - suffix.size());
    if (skip.count(v) || !ParseVolume(v).ok()) continue;
    RETURN_IF_ERROR(sys::CheckInterrupted());
    auto m = ds.ReadManifestPublic(v);
    if (!m.ok() && !IsKeyError(m.status())) continue;
    std::set<Digest> needs;
    for (const char* file : {kMetaIndexName, kDataIndexName}) {
      auto index = m.ok() ? ds.ReadIndex(v, *m, file) : ds.ReadIndexUnpinned(v, file);
      if (!index.ok()) continue;
      for (const auto& e : *index)
        if (broken.count(e.digest)) needs.insert(e.digest);
    }
    if (!needs.empty()) out[v].assign(needs.begin(), needs.end());
  }
  return out;
}

}  // namespace

Result<VerifyReport> Verify(Datastore& ds, const std::optional<std::string>& volname, int threads,
                            Observer* observer) {
  VerifyOptions o;
  o.volname = volname;
  o.threads = threads;
  return Verify(ds, o, observer);
}

Result<VerifyReport> Verify(Datastore& ds, const VerifyOptions& options, Observer* observer) {
  const std::optional<std::string>& volname = options.volname;
  const int threads = options.threads;
  const int64_t now = options.now ? options.now : static_cast<int64_t>(::time(nullptr));
  VerifyReport report;
  std::vector<std::string> volnames;
  if (volname) {
    // A name that is no snapshot is a mistake of the caller, not damage.
    RETURN_IF_ERROR(ParseVolume(*volname).status());
    auto st = ds.backend().Stat(SnapshotPrefix(*volname) + kManifestName);
    if (!st.ok() && st.status().code() == Code::kNotFound)
      return NotFoundError(
          fmt::format("backup '{}' does not exist on {} ('ctdump list' shows the backups)",
                      *volname, ds.name()));
    volnames.push_back(*volname);
  } else {
    std::string prefix = "snapshots/ct/";
    if (options.vmid) {
      if (!ValidateObjectName(*options.vmid).ok() || options.vmid->find('/') != std::string::npos)
        return InvalidArgumentError(fmt::format("'{}' is not a container id", *options.vmid));
      prefix += *options.vmid + "/";
    }
    ASSIGN_OR_RETURN(std::vector<std::string> names, ds.backend().List(prefix));
    const std::string suffix = std::string("/") + kManifestName;
    std::set<std::string> with_manifest, without;
    for (const auto& n : names) {
      std::string v = n.substr(10, n.rfind('/') - 10);
      (n.ends_with(suffix) ? with_manifest : without).insert(v);
    }
    volnames.assign(with_manifest.begin(), with_manifest.end());
    // A snapshot whose manifest is no file (a FIFO, a device...) is not
    // listed; it is no killed backup's leftover either.
    for (const auto& v : without) {
      if (with_manifest.count(v)) continue;
      auto st = ds.backend().Stat(SnapshotPrefix(v) + kManifestName);
      if (!st.ok() && st.status().code() != Code::kNotFound) volnames.push_back(v);
    }
  }
  if (options.skip_verified_s) {
    std::vector<std::string> due;
    for (auto& v : volnames) {
      if (RecentlyVerified(ReadVerifyState(ds, v), now, *options.skip_verified_s))
        ++report.skipped;
      else
        due.push_back(std::move(v));
    }
    volnames = std::move(due);
  }
  // What the snapshots need of each chunk. A snapshot that cannot be read
  // with the configured key (or without one) cannot be restored with it
  // either: that is a problem too, and its chunks' content cannot be checked.
  struct ChunkUse {
    std::vector<size_t> snapshots;
    uint64_t size = 0;      // plaintext bytes, as the first index says
    size_t index = 0;       // that index, in index_objects
    bool readable = false;  // needed by a snapshot readable with the key
    bool keyless = false;   // needed by a snapshot whose key could not be loaded
  };
  std::map<Digest, ChunkUse> users;
  std::vector<std::string> index_objects;
  // Each problem with the snapshots it affects (none: the store's own).
  struct Problem {
    std::string text;
    std::vector<size_t> snapshots;
    bool damages = true;  // the snapshots are damaged (else: other key)
    // The chunk found damaged or missing: every snapshot that needs it is
    // damaged, also one this verify did not read.
    std::optional<Digest> broken_chunk;

    // {text, snapshots[, damages[, broken_chunk]]} (a constructor, so that
    // the short forms are not missing-field-initializers).
    Problem(std::string t, std::vector<size_t> s, bool d = true,
            std::optional<Digest> chunk = std::nullopt)
        : text(std::move(t)), snapshots(std::move(s)), damages(d), broken_chunk(chunk) {}
  };
  std::vector<Problem> problems;
  std::set<size_t> keyless;  // verified without their key (it could not be loaded)
  std::set<std::string> keyless_why;
  for (size_t s = 0; s < volnames.size(); ++s) {
    const std::string& v = volnames[s];
    ++report.snapshots;
    RETURN_IF_ERROR(sys::CheckInterrupted());
    auto m = ds.ReadManifestPublic(v);
    if (m.ok() && m->signature) {
      // Sealed (version 2): its key checks the signature and decrypts the
      // chunks. Without it (a key file missing, no passphrase) the rest is
      // checked all the same.
      auto fp = ParseFingerprint(*m->key_fingerprint);
      KeyRing::Found f = fp ? ds.keys().Find(*fp) : KeyRing::Found{};
      if (f.lookup == KeyRing::Lookup::kUnavailable) {
        keyless.insert(s);
        keyless_why.insert(f.why);
      } else {
        m = ds.ReadManifest(v);  // the signature checked
      }
    }
    if (!m.ok() && IsKeyError(m.status())) {
      problems.push_back({fmt::format("backup '{}' cannot be verified or restored with this "
                                      "storage's configuration: {}",
                                      v, m.status().message()),
                          {s},
                          false});
    } else if (!m.ok()) {
      problems.push_back({fmt::format("backup '{}': {}", v, m.status().message()), {s}});
      continue;
    } else {
      report.logical_bytes += m->Stat("bytes");
    }
    for (const char* file : {kMetaIndexName, kDataIndexName}) {
      auto index = m.ok() ? ds.ReadIndex(v, *m, file) : ds.ReadIndexUnpinned(v, file);
      if (!index.ok()) {
        problems.push_back({index.status().message(), {s}});
        continue;
      }
      index_objects.push_back(SnapshotPrefix(v) + file);
      uint64_t prev = 0;
      for (const auto& e : *index) {
        const uint64_t size = e.end - prev;
        prev = e.end;
        auto [it, fresh] = users.try_emplace(e.digest);
        ChunkUse& u = it->second;
        if (fresh) {
          u.size = size;
          u.index = index_objects.size() - 1;
        } else if (u.size != size) {
          problems.push_back(
              {fmt::format("index '{}' says chunk '{}' has {} bytes, index '{}' says {}",
                           index_objects.back(), ChunkObjectName(e.digest), size,
                           index_objects[u.index], u.size),
               {s}});
        }
        if (u.snapshots.empty() || u.snapshots.back() != s) u.snapshots.push_back(s);
        u.readable |= m.ok() && !keyless.count(s);
        u.keyless |= keyless.count(s) > 0;
      }
    }
  }
  // Which chunks to read: all of the store, or those of the snapshot.
  std::vector<Digest> chunks;
  std::set<Digest> present;
  if (volname || options.vmid || report.skipped) {
    for (const auto& [d, u] : users) chunks.push_back(d);
  } else {
    ASSIGN_OR_RETURN(std::vector<std::string> names, ds.backend().List("chunks/"));
    for (const auto& n : names) {
      if (BadChunkIdOfObject(n)) continue;  // moved aside by an earlier verify
      auto d = ChunkIdOfObject(n);
      if (!d) {
        problems.push_back({fmt::format("'{}' is not a chunk name", n), {}});
        continue;
      }
      chunks.push_back(*d);
      present.insert(*d);
    }
    for (const auto& [d, u] : users) {
      if (present.count(d)) continue;
      problems.push_back({MissingChunkProblem(ds, d), u.snapshots, true, d});
    }
  }
  std::mutex mu;
  std::atomic<uint64_t> bytes{0}, done{0};
  auto last = std::chrono::steady_clock::now();
  sys::ParallelFor(chunks.size(), ds.IoThreads(threads), [&](size_t i) {
    const Digest& d = chunks[i];
    const std::string object = ChunkObjectName(d);
    auto use = users.find(d);  // read-only while the pool runs
    const ChunkUse* u = use == users.end() ? nullptr : &use->second;
    auto blob = ds.Fetch(object);
    // Decode checks what needs no key (header, CRC, sizes, id) before it
    // asks for the key: damage is found without it.
    Result<std::string> plain =
        blob.ok() ? ds.Decode(*blob, BlobType::kChunk, &d, fmt::format("chunk '{}'", object))
                  : Result<std::string>(blob.status());
    if (plain.ok()) bytes += plain->size();
    ++done;
    bool other_key = false, without_key = false, crc = false;
    bool broken = false;  // damaged or missing, not an I/O error or a wrong index
    std::string problem;
    if (!plain.ok() && IsKeyError(plain.status()) && !(u && u->readable)) {
      auto info = CheckBlobWithoutKey(*blob, BlobType::kChunk, &d, "chunk");
      crc = info.ok() && info->crc.has_value();
      if (u && u->keyless) {
        without_key = true;  // checked as far as it can be without the key
        if (info.ok() && info->raw_size != u->size)
          problem = fmt::format("index '{}' says chunk '{}' has {} bytes; its header says {}",
                                index_objects[u->index], object, u->size, info->raw_size);
      } else {
        other_key = true;  // present; its content needs the other key
      }
    } else if (!plain.ok() && plain.status().code() == Code::kNotFound) {
      // Listed, then gone: gc removed it, which is no problem unless a
      // snapshot needs it.
      if (u) {
        problem = MissingChunkProblem(ds, d);
        broken = true;
      }
    } else if (!plain.ok() && (!blob.ok() || (!IsKeyError(plain.status()) &&
                                              plain.status().code() != Code::kDataLoss))) {
      // An I/O error (the chunk may be fine), or no file one can read as a
      // chunk (a FIFO, a device, far too large): reported, not moved aside.
      problem = plain.status().message();
    } else if (!plain.ok()) {
      // Damaged, or (a key error) not what a readable snapshot needs: a flag
      // or key fingerprint changed on disk. Moved aside so that the next
      // backup stores it again.
      std::string why = plain.status().message();
      if (plain.status().code() != Code::kDataLoss)
        why = fmt::format("chunk '{}' is damaged: {}, but '{}' needs it {}", object, why,
                          volnames[u->snapshots.front()],
                          ds.keys().empty() ? "not encrypted" : "encrypted with a configured key");
      Result<bool> q = ds.QuarantineChunk(d, *blob);
      broken = !q.ok() || *q;
      if (!q.ok())
        problem = fmt::format("{}; could not move it aside: {}", why, q.status().message());
      else if (*q)
        problem = fmt::format("{}; moved to '{}' so that the next backup stores it again", why,
                              BadChunkObjectName(d));
      else
        problem = fmt::format(
            "{}; read again, the stored chunk is intact (a read error of the storage, or a "
            "backup stored it anew meanwhile), so it stays; the bytes read are in '{}'",
            why, BadChunkObjectName(d));
    } else if (u && plain->size() != u->size) {
      // The chunk is right (it matches its id): the index is wrong.
      problem = fmt::format("index '{}' says chunk '{}' has {} bytes; it has {}",
                            index_objects[u->index], object, u->size, plain->size());
    }
    std::lock_guard<std::mutex> l(mu);
    if (other_key) ++report.other_key_chunks;
    if (without_key) ++report.keyless_chunks;
    if (without_key && !crc) ++report.keyless_chunks_without_crc;
    if (!problem.empty()) {
      problems.push_back({problem, u ? u->snapshots : std::vector<size_t>{}, true,
                          broken ? std::optional<Digest>(d) : std::nullopt});
    }
    auto now = std::chrono::steady_clock::now();
    if (now - last > std::chrono::milliseconds(500)) {
      last = now;
      Progress(observer, "verify", bytes, done, chunks.size());
    }
  });
  RETURN_IF_ERROR(sys::CheckInterrupted());
  report.chunks = done;
  report.chunk_bytes = bytes;
  Progress(observer, "verify", bytes, done, chunks.size());
  // A snapshot deleted while verify ran (and the chunks gc then removed)
  // is no damage: report only what concerns snapshots that still exist.
  std::set<size_t> gone;
  for (const Problem& p : problems) {
    for (size_t s : p.snapshots) {
      if (gone.count(s)) continue;
      auto st = ds.backend().Stat(SnapshotPrefix(volnames[s]) + kManifestName);
      if (!st.ok() && st.status().code() == Code::kNotFound) gone.insert(s);
    }
  }
  if (volname && gone.count(0))
    return NotFoundError(
        fmt::format("backup '{}' was deleted from {} while verify ran", *volname, ds.name()));
  std::set<size_t> damaged, other_key;
  for (const Problem& p : problems) {
    bool live = p.snapshots.empty();
    for (size_t s : p.snapshots) {
      if (gone.count(s)) continue;
      live = true;
      (p.damages ? damaged : other_key).insert(s);
    }
    if (live) report.problems.push_back(p.text);
  }
  for (size_t s : damaged) report.damaged_snapshots.push_back(volnames[s]);
  for (size_t s : other_key) report.other_key_snapshots.push_back(volnames[s]);
  for (size_t s : keyless)
    if (!gone.count(s)) report.keyless_snapshots.push_back(volnames[s]);
  if (!report.keyless_snapshots.empty()) {
    for (const auto& w : keyless_why)
      report.keyless_reason += (report.keyless_reason.empty() ? "" : "; ") + w;
    if (observer) observer->Log(LogLevel::kWarn, DescribeKeyless(report));
  }
  report.deleted_meanwhile = gone.size();
  // A verify that read only some snapshots (one, a container's, or the
  // ones not skipped) and found a chunk damaged (moved aside) or missing:
  // every other snapshot that needs it cannot be restored either. They are
  // damaged too and recorded failed, else --ignore-verified would skip them
  // (for ever without --outdated-after) while their restore fails. Their
  // indexes are read only then: the common path stays as cheap.
  std::set<Digest> broken;
  for (const Problem& p : problems)
    if (p.broken_chunk && p.damages &&
        std::any_of(p.snapshots.begin(), p.snapshots.end(),
                    [&](size_t s) { return !gone.count(s); }))
      broken.insert(*p.broken_chunk);
  std::vector<std::pair<std::string, uint64_t>> also_damaged;  // volname, broken chunks it needs
  if (!broken.empty() && (volname || options.vmid || report.skipped)) {
    auto others = OtherSnapshotsNeeding(ds, broken, volnames);
    if (!others.ok()) {
      report.problems.push_back(
          fmt::format("could not look for other backups that need the damaged or missing "
                      "chunks: {}",
                      others.status().message()));
    } else {
      for (auto& [v, chunks] : *others) {
        report.problems.push_back(fmt::format(
            "backup '{}' (not read by this verify) needs {} chunk{} this verify found damaged or "
            "missing: '{}'{}",
            v, chunks.size(), chunks.size() == 1 ? "" : "s", ChunkObjectName(chunks.front()),
            chunks.size() > 1 ? fmt::format(" and {} more", chunks.size() - 1) : ""));
        report.damaged_snapshots.push_back(v);
        also_damaged.emplace_back(v, chunks.size());
      }
    }
  }
  std::sort(report.damaged_snapshots.begin(), report.damaged_snapshots.end());
  std::sort(report.problems.begin(), report.problems.end());
  if (options.record_state) {
    for (const auto& [v, n] : also_damaged)
      WriteVerifyState(ds, v, VerifyState{false, now, n}, observer);
    // Per snapshot: how many problems concern it. A snapshot under another
    // key was not verified (its chunks' content is unknown): no record.
    std::map<size_t, uint64_t> count;
    for (const Problem& p : problems)
      if (p.damages)
        for (size_t s : p.snapshots) ++count[s];
    for (size_t s = 0; s < volnames.size(); ++s) {
      if (gone.count(s) || other_key.count(s)) continue;
      // Without its key the content was not checked: never "ok".
      if (keyless.count(s) && !damaged.count(s)) continue;
      VerifyState v;
      v.ok = !damaged.count(s);
      v.time = now;
      v.problems = count.count(s) ? count[s] : 0;
      WriteVerifyState(ds, volnames[s], v, observer);
    }
  }
  return report;
}

std::string DescribeKeyless(const VerifyReport& r) {
  if (r.keyless_snapshots.empty()) return "";
  std::string text = fmt::format(
      "{} backup(s) verified without their key ({}): checked were the manifests (signature "
      "present and well-formed), the indexes against the manifests, that every chunk exists, "
      "the chunks' headers and sizes against the indexes, and the CRC of {} of {} chunk(s); NOT "
      "checked, as that needs the key: the manifests' signatures and the chunks' content "
      "(decryption and chunk ids). No verify state is recorded for them unless damage was found",
      r.keyless_snapshots.size(), r.keyless_reason, r.keyless_chunks - r.keyless_chunks_without_crc,
      r.keyless_chunks);
  if (r.keyless_chunks_without_crc)
    text += fmt::format(" ({} chunk(s) were written before chunks had a CRC: header and size only)",
                        r.keyless_chunks_without_crc);
  return text;
}

std::optional<Digest> ChunkIdOfObject(std::string_view name) {
  if (!name.starts_with("chunks/") || name.size() != 7 + 5 + 64) return std::nullopt;
  auto d = Digest::FromHex(name.substr(12));
  if (!d.ok() || ChunkObjectName(*d) != name) return std::nullopt;
  return *d;
}

std::optional<Digest> BadChunkIdOfObject(std::string_view name) {
  if (!name.ends_with(kBadChunkSuffix)) return std::nullopt;
  return ChunkIdOfObject(name.substr(0, name.size() - std::string_view(kBadChunkSuffix).size()));
}

std::string SnapshotOfObject(const std::string& name) {
  return name.substr(10, name.rfind('/') - 10);
}

GcHorizon MakeGcHorizon(Datastore& ds, int64_t start_ns) {
  return GcHorizon{start_ns, {}, ds.backend().ClockSkewNs()};
}

Status AddRunningBackups(Datastore& ds, GcHorizon& h,
                         const std::function<Status(const LockInfo&)>& running,
                         std::vector<LockInfo>* lapsed) {
  ASSIGN_OR_RETURN(std::vector<LockInfo> locks, ds.ListLocks("locks/backup.", lapsed));
  for (const auto& l : locks) {
    h.oldest_start_ns = std::min(h.oldest_start_ns, l.mtime_ns);
    h.busy_vmids.insert(l.object.substr(std::string("locks/backup.").size()));
    if (running) RETURN_IF_ERROR(running(l));
  }
  return Status::OK();
}

Status ForEachReference(Datastore& ds, const std::string& volname, const Manifest* manifest,
                        const std::function<void(const IndexEntry&)>& fn) {
  for (const char* file : {kMetaIndexName, kDataIndexName}) {
    ASSIGN_OR_RETURN(std::vector<IndexEntry> index, manifest
                                                        ? ds.ReadIndex(volname, *manifest, file)
                                                        : ds.ReadIndexUnpinned(volname, file));
    for (const auto& e : index) fn(e);
  }
  return Status::OK();
}

bool GcRemovesLeftover(const GcHorizon& h, const std::string& volname, int64_t mtime_ns) {
  auto v = ParseVolume(volname);
  return v.ok() && !h.busy_vmids.count(v->vmid) && mtime_ns < h.cutoff_ns();
}

Result<GcReport> CollectGarbage(Datastore& ds, bool dry_run, Observer* observer) {
  if (!ds.exists()) return GcReport{};  // an empty directory: nothing to collect, nothing written
  ASSIGN_OR_RETURN(LockInfo gc_lock, ds.TakeLock(kGcLockName, std::nullopt, observer));
  struct Release {
    Datastore& ds;
    ~Release() { ds.ReleaseLock(kGcLockName).IgnoreError(); }
  } release{ds};
  GcReport report;
  GcHorizon horizon = MakeGcHorizon(ds, gc_lock.mtime_ns);
  // Lock objects of dead holders (leases lapsed): removed after the sweep.
  std::vector<LockInfo> lapsed;
  DigestSet marked;
  std::set<std::string> marked_parents;
  auto mark_snapshot = [&](const std::string& volname) -> Status {
    // The public part: gc never needs a key (version 2 manifests are plain).
    auto m = ds.ReadManifestPublic(volname);
    // A version 1 snapshot under another key (or none): its indexes are
    // plain, read them unpinned.
    if (!m.ok() && !IsKeyError(m.status())) return m.status();
    return ForEachReference(ds, volname, m.ok() ? &*m : nullptr,
                            [&](const IndexEntry& e) { marked.insert(e.digest); });
  };
  auto mark_running = [&]() -> Status {
    lapsed.clear();
    return AddRunningBackups(
        ds, horizon,
        [&](const LockInfo& l) -> Status {
          if (l.parent && marked_parents.insert(*l.parent).second) {
            Status s = mark_snapshot(*l.parent);
            if (!s.ok())
              return FailedPreconditionError(fmt::format(
                  "cannot read '{}', the base of a running backup ({}); nothing removed", *l.parent,
                  s.message()));
          }
          return Status::OK();
        },
        &lapsed);
  };
  RETURN_IF_ERROR(mark_running());
  ASSIGN_OR_RETURN(std::vector<std::string> snapshot_objects, ds.backend().List("snapshots/ct/"));
  std::set<std::string> with_manifest;
  const std::string manifest_suffix = std::string("/") + kManifestName;
  const uint64_t manifests = static_cast<uint64_t>(
      std::count_if(snapshot_objects.begin(), snapshot_objects.end(),
                    [&](const std::string& n) { return n.ends_with(manifest_suffix); }));
  Throttle throttle;
  for (const auto& n : snapshot_objects) {
    if (!n.ends_with(manifest_suffix)) continue;
    std::string volname = SnapshotOfObject(n);
    with_manifest.insert(volname);
    if (throttle.Due()) Progress(observer, "gc-mark", 0, with_manifest.size() - 1, manifests);
    Status s = mark_snapshot(volname);
    if (!s.ok()) {
      if (s.code() == Code::kNotFound && !ds.backend().Stat(n).ok()) continue;  // deleted meanwhile
      return FailedPreconditionError(fmt::format(
          "cannot read backup '{}' ({}); nothing removed: run verify", volname, s.message()));
    }
    RETURN_IF_ERROR(sys::CheckInterrupted());
  }
  RETURN_IF_ERROR(mark_running());
  Progress(observer, "gc-mark", 0, with_manifest.size(), manifests);
  report.marked = marked.size();
  const int64_t cutoff = horizon.cutoff_ns();
  if (observer)
    for (const LockInfo& l : lapsed)
      observer->Log(LogLevel::kInfo,
                    fmt::format("{}: ignoring lock '{}' of pid {} on {}: its lease expired (the "
                                "process or its host died); its backup's leftovers are collected",
                                ds.name(), l.object, l.pid, l.host));
  // From here on gc removes: only while its lock is held without a gap.
  RETURN_IF_ERROR(ds.RenewLock(kGcLockName));
  auto remove = [&](const std::string& name) -> Status {
    RETURN_IF_ERROR(ds.CheckLock(kGcLockName));
    Status s = ds.backend().Delete(name);
    return s.code() == Code::kNotFound ? Status::OK() : s;
  };

  ASSIGN_OR_RETURN(std::vector<std::string> chunk_names, ds.backend().List("chunks/"));
  uint64_t swept = 0;
  for (const auto& n : chunk_names) {
    RETURN_IF_ERROR(sys::CheckInterrupted());
    if (throttle.Due())
      Progress(observer, "gc-sweep", report.removed_bytes, swept, chunk_names.size());
    ++swept;
    if (auto bad = BadChunkIdOfObject(n)) {
      // A damaged copy verify moved aside (kept for whoever wants to look at it).
      // (Whether the chunk is stored again matters only while it is referenced.)
      const bool referenced = marked.count(*bad) > 0;
      if (!GcRemovesBadCopy(referenced,
                            referenced && ds.backend().Stat(ChunkObjectName(*bad)).ok()))
        continue;
      if (!dry_run) RETURN_IF_ERROR(remove(n));
      ++report.bad_removed;
      continue;
    }
    auto d = ChunkIdOfObject(n);
    if (!d) continue;
    ++report.chunks;
    if (marked.count(*d)) continue;
    auto st = ds.backend().Stat(n);
    if (!st.ok()) continue;
    if (!GcRemovesUnreferencedChunk(horizon, st->mtime_ns)) {
      ++report.kept_recent;
      continue;
    }
    if (!dry_run) RETURN_IF_ERROR(remove(n));
    ++report.removed;
    report.removed_bytes += st->size;
  }
  Progress(observer, "gc-sweep", report.removed_bytes, swept, chunk_names.size());
  // Leftovers of killed backups: snapshot objects without a manifest.
  for (const auto& n : snapshot_objects) {
    std::string volname = SnapshotOfObject(n);
    if (with_manifest.count(volname)) continue;
    auto st = ds.backend().Stat(n);
    if (!st.ok() || !GcRemovesLeftover(horizon, volname, st->mtime_ns)) continue;
    if (ds.backend().Stat(SnapshotPrefix(volname) + kManifestName).ok())
      continue;  // published meanwhile
    if (!dry_run) {
      RETURN_IF_ERROR(ds.CheckLock(kGcLockName));
      ds.backend().Delete(n).IgnoreError();
    }
    ++report.leftovers_removed;
  }
  // Temporaries of puts killed midway (old enough that no live writer, even
  // a stalled one, still writes them) and the directories of snapshots that
  // are gone. A backup's temporaries are newer than its start, hence than
  // the cutoff; a put into a directory removed here creates it again.
  if (!dry_run) {
    for (const LockInfo& l : lapsed) {
      RETURN_IF_ERROR(ds.CheckLock(kGcLockName));
      ASSIGN_OR_RETURN(bool removed, ds.RemoveLapsedLock(l.object, cutoff));
      report.lapsed_locks_removed += removed ? 1 : 0;
    }
    RETURN_IF_ERROR(ds.CheckLock(kGcLockName));
    const int64_t temps_cutoff = std::min(cutoff, gc_lock.mtime_ns - kStaleTempAge);
    ASSIGN_OR_RETURN(LeftoverCount everywhere,
                     ds.backend().RemoveLeftovers("", temps_cutoff, false));
    ASSIGN_OR_RETURN(LeftoverCount snapshots,
                     ds.backend().RemoveLeftovers("snapshots/", temps_cutoff, true));
    report.temps_removed = everywhere.temps + snapshots.temps;
    report.dirs_removed = snapshots.dirs;
  }
  return report;
}

}  // namespace ctdump::datastore
