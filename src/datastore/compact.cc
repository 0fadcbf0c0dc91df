#include "datastore/compact.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "datastore/maintenance.h"
#include "sys/signals.h"
#include "sys/thread_pool.h"

namespace ctdump::datastore {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxProblems = 100;
constexpr uint64_t kMaxCompactStateSize = 4096;

// The mark of the last compaction: chunks older than it were seen by one.
std::optional<int64_t> ReadSince(Datastore& ds) {
  auto text = ds.Fetch(kCompactStateName, kMaxCompactStateSize);
  if (!text.ok()) return std::nullopt;
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("since-ns") || !j["since-ns"].is_number_integer())
    return std::nullopt;  // unreadable: everything is read again, nothing lost
  return j["since-ns"].get<int64_t>();
}

class Progress {
 public:
  Progress(Observer* observer, uint64_t total) : observer_(observer), total_(total) {}

  void Add(uint64_t saved) {
    saved_ += saved;
    ++done_;
    if (!observer_) return;
    std::lock_guard<std::mutex> l(mu_);
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(500)) return;
    last_ = now;
    Report();
  }

  void Done() {
    if (!observer_) return;
    std::lock_guard<std::mutex> l(mu_);
    Report();
  }

 private:
  void Report() {
    ctdump::Progress p;
    p.phase = "compact";
    p.bytes = saved_;
    p.files = done_;
    p.total_files = total_;
    observer_->OnProgress(p);
  }

  Observer* const observer_;
  const uint64_t total_;
  std::atomic<uint64_t> saved_{0}, done_{0};
  std::mutex mu_;  // guards last_ and the observer's calls
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace

Result<CompactReport> Compact(Datastore& ds, const CompactOptions& options, Observer* observer) {
  const int level = options.zstd_level > 0 ? options.zstd_level : ds.compact_level();
  if (level < 1 || level > 19)
    return InvalidArgumentError(
        fmt::format("compaction level {} is not a zstd level from 1 to 19", level));
  CompactReport report;
  if (!ds.exists()) return report;  // an empty directory: nothing to compact, nothing written
  ASSIGN_OR_RETURN(LockInfo lock, ds.TakeLock(kCompactLockName, std::nullopt, observer));
  struct Release {
    Datastore& ds;
    ~Release() { ds.ReleaseLock(kCompactLockName).IgnoreError(); }
  } release{ds};

  ASSIGN_OR_RETURN(std::vector<std::string> names, ds.backend().List("chunks/"));
  std::vector<std::pair<Digest, std::string>> chunks;
  for (auto& n : names) {
    if (auto d = ChunkIdOfObject(n)) chunks.emplace_back(*d, std::move(n));
  }
  report.chunks = chunks.size();
  const int threads = ds.IoThreads(options.threads);

  // Only what changed since the last compaction, unless asked for all.
  std::optional<int64_t> since = options.all ? std::nullopt : ReadSince(ds);
  if (since) {
    report.incremental = true;
    std::vector<char> changed(chunks.size(), 0);
    std::vector<Status> errors(chunks.size());
    sys::ParallelFor(chunks.size(), threads, [&](size_t i) {
      auto st = ds.backend().Stat(chunks[i].second);
      if (st.ok()) {
        changed[i] = st->mtime_ns >= *since;
      } else if (st.status().code() != Code::kNotFound) {  // removed meanwhile: gc
        errors[i] = st.status();
      }
    });
    RETURN_IF_ERROR(sys::CheckInterrupted());
    for (const Status& s : errors) RETURN_IF_ERROR(s);
    size_t kept = 0;
    for (size_t i = 0; i < chunks.size(); ++i) {
      if (!changed[i]) continue;
      if (kept != i) chunks[kept] = std::move(chunks[i]);  // never a self-move: it empties
      ++kept;
    }
    chunks.resize(kept);
  }
  report.read = chunks.size();

  std::mutex mu;  // guards report's counters below and `error`
  Status error;
  Progress progress(observer, chunks.size());
  auto problem = [&](std::string line) {
    if (report.problems.size() < kMaxProblems) report.problems.push_back(std::move(line));
  };
  sys::ParallelFor(chunks.size(), threads, [&](size_t i) {
    {
      std::lock_guard<std::mutex> l(mu);
      if (!error.ok()) return;
    }
    const auto& [digest, object] = chunks[i];
    const std::string what = fmt::format("chunk '{}'", object);
    auto blob = ds.Fetch(object);
    if (!blob.ok() && blob.status().code() == Code::kNotFound) {
      progress.Add(0);  // removed meanwhile (gc) or moved aside (verify)
      return;
    }
    auto info = blob.ok() ? ParseBlobHeader(*blob, what) : Result<BlobInfo>(blob.status());
    // LZ4 chunks, and chunks stored as they are: written by a store with
    // `compression none`, or not worth LZ4 (zstd may still find a gain;
    // the rewrite is kept only if smaller). zstd chunks are left.
    if (info.ok() && BlobCompression(info->flags) == Compression::kZstd) {
      progress.Add(0);
      return;
    }
    // Decode checks everything (CRC, GCM tag, the digest against the name).
    Result<std::string> plain = info.ok() ? ds.Decode(*blob, BlobType::kChunk, &digest, what,
                                                      /*may_prompt=*/false)
                                          : Result<std::string>(info.status());
    const crypt::Key* key = nullptr;
    if (plain.ok() && info->fingerprint) {
      auto k = ds.keys().Require(*info->fingerprint, what, "encrypted", false);
      if (!k.ok()) plain = k.status();
      if (k.ok()) key = *k;
    }
    if (!plain.ok()) {
      std::lock_guard<std::mutex> l(mu);
      if (IsKeyError(plain.status())) {
        ++report.keyless;
      } else if (plain.status().code() == Code::kDataLoss) {
        ++report.damaged;
      } else {  // the backend failed: stop
        if (error.ok()) error = plain.status();
        return;
      }
      problem(plain.status().message());
      return;
    }
    BlobOptions bo;
    bo.type = BlobType::kChunk;
    bo.compression = Compression::kZstd;
    bo.zstd_level = level;
    bo.key = key;
    auto rewritten = EncodeBlob(*plain, digest, bo);
    if (rewritten.ok() && rewritten->size() >= blob->size()) {
      std::lock_guard<std::mutex> l(mu);
      ++report.kept;
      progress.Add(0);
      return;
    }
    Status written = rewritten.status();
    if (written.ok() && !options.dry_run) written = ds.backend().Put(object, *rewritten);
    std::lock_guard<std::mutex> l(mu);
    if (!written.ok()) {
      if (error.ok()) error = written.WithContext(fmt::format("Failed to rewrite {}", what));
      return;
    }
    ++report.recompressed;
    report.bytes_before += blob->size();
    report.bytes_after += rewritten->size();
    progress.Add(blob->size() - rewritten->size());
  });
  progress.Done();
  RETURN_IF_ERROR(error);
  RETURN_IF_ERROR(sys::CheckInterrupted());
  if (!options.dry_run) {
    // The next compaction reads what changed after this one started.
    json state = {{"since-ns", lock.mtime_ns - ds.backend().ClockSkewNs() - 1'000'000'000},
                  {"level", level}};
    RETURN_IF_ERROR(ds.backend().Put(kCompactStateName, state.dump() + "\n"));
  }
  return report;
}

}  // namespace ctdump::datastore
