#include "datastore/usage.h"

#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "ctdump/units.h"
#include "datastore/maintenance.h"
#include "datastore/manifest_format.h"
#include "sys/signals.h"

namespace ctdump::datastore {
namespace {

constexpr int32_t kNone = -1;
constexpr int32_t kSeveral = -2;

struct Chunk {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int32_t snapshot = kNone;   // the one snapshot referencing it, or kNone/kSeveral
  int32_t container = kNone;  // likewise for containers
};

void Refer(int32_t& who, int32_t id) {
  if (who == kNone)
    who = id;
  else if (who != id)
    who = kSeveral;
}

int64_t NowNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

Result<StoreUsage> ComputeUsage(Datastore& ds, const std::optional<std::string>& vmid,
                                Observer* observer, int64_t now_ns) {
  StoreUsage u;
  if (!ds.exists()) return u;  // an empty directory: no store yet
  if (now_ns == 0) now_ns = NowNs();

  // Running backups first (as gc): their start bounds what is old enough.
  GcHorizon horizon = MakeGcHorizon(ds, now_ns);
  RETURN_IF_ERROR(AddRunningBackups(ds, horizon));

  // Every object, stat'ed.
  std::unordered_map<Digest, Chunk, crypt::DigestHash> chunks;
  std::vector<std::pair<Digest, uint64_t>> bad;  // "<chunk>.bad" copies
  std::map<std::string, ObjectStat> snapshot_objects;
  ASSIGN_OR_RETURN(std::vector<std::string> names, ds.backend().List(""));
  for (const auto& n : names) {
    RETURN_IF_ERROR(sys::CheckInterrupted());
    auto st = ds.backend().Stat(n);
    if (!st.ok()) {
      if (st.status().code() == Code::kNotFound) continue;  // removed meanwhile
      return st.status();
    }
    ++u.objects;
    u.total_bytes += st->size;
    if (auto d = ChunkIdOfObject(n)) {
      ++u.chunks;
      u.chunk_bytes += st->size;
      chunks[*d] = Chunk{st->size, st->mtime_ns};
    } else if (auto b = BadChunkIdOfObject(n)) {
      u.chunk_bytes += st->size;
      bad.emplace_back(*b, st->size);
    } else if (n.starts_with("snapshots/ct/")) {
      snapshot_objects[n] = *st;
    }
  }

  // Every snapshot's indexes (as gc's mark phase).
  ASSIGN_OR_RETURN(std::vector<SnapshotInfo> infos, ds.ListSnapshots(std::nullopt, observer));
  std::map<std::string, int32_t> container_ids;
  std::vector<ContainerUsage> containers;
  std::vector<SnapshotUsage> snaps;
  std::set<std::string> with_manifest;
  std::unordered_set<Digest, crypt::DigestHash> missing;
  // The containers of each chunk that several containers reference.
  std::unordered_map<Digest, std::vector<int32_t>, crypt::DigestHash> shared;
  for (const auto& info : infos) {
    RETURN_IF_ERROR(sys::CheckInterrupted());
    std::vector<Digest> refs;
    Status read = ForEachReference(ds, info.volname, info.manifest_read ? &info.manifest : nullptr,
                                   [&](const IndexEntry& e) { refs.push_back(e.digest); });
    if (!read.ok()) {
      // Deleted meanwhile, or damaged (listed; gc removes nothing then).
      if (read.code() != Code::kNotFound ||
          ds.backend().Stat(SnapshotPrefix(info.volname) + kManifestName).ok()) {
        with_manifest.insert(info.volname);
        u.unreadable_snapshots.push_back(info.volname);
        if (observer)
          observer->Log(LogLevel::kWarn,
                        fmt::format("cannot read backup '{}': {}", info.volname, read.message()));
      }
      continue;
    }
    with_manifest.insert(info.volname);
    std::sort(refs.begin(), refs.end());
    refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
    auto [it, fresh] = container_ids.emplace(info.name.vmid, int32_t(containers.size()));
    if (fresh) {
      containers.push_back(ContainerUsage{info.name.vmid});
    }
    const int32_t c = it->second;
    const int32_t s = int32_t(snaps.size());
    SnapshotUsage su;
    su.volname = info.volname;
    su.vmid = info.name.vmid;
    su.time = info.name.time;
    su.logical = info.manifest_read ? info.manifest.Stat("bytes") : 0;
    su.chunks = refs.size();
    for (const Digest& d : refs) {
      auto ch = chunks.find(d);
      if (ch == chunks.end()) {
        ++su.missing_chunks;
        missing.insert(d);
        continue;
      }
      su.stored += ch->second.size;
      Refer(ch->second.snapshot, s);
      int32_t& who = ch->second.container;
      if (who >= 0 && who != c) {
        shared[d] = {who, c};
      } else if (who == kSeveral) {
        auto& list = shared[d];
        if (std::find(list.begin(), list.end(), c) == list.end()) list.push_back(c);
      }
      Refer(who, c);
    }
    containers[c].backups++;
    containers[c].logical += su.logical;
    u.logical_bytes += su.logical;
    snaps.push_back(std::move(su));
  }
  u.missing_chunks = missing.size();
  // Manifests ListSnapshots skipped (damaged; or published since it read):
  // their chunks stay referenced; gc removes nothing while one cannot be
  // decoded (it cannot tell what that backup needs), so neither is anything
  // reclaimable then.
  const std::string manifest_suffix = std::string("/") + kManifestName;
  for (const auto& [n, st] : snapshot_objects) {
    if (!n.ends_with(manifest_suffix)) continue;
    std::string volname = SnapshotOfObject(n);
    if (!with_manifest.insert(volname).second) continue;
    auto m = ds.ReadManifestPublic(volname);
    if (!m.ok() && !IsKeyError(m.status()) &&
        (m.status().code() != Code::kNotFound || ds.backend().Stat(n).ok())) {
      u.unreadable_snapshots.push_back(volname);
      if (observer)
        observer->Log(LogLevel::kWarn,
                      fmt::format("cannot read backup '{}': {}", volname, m.status().message()));
    }
    Status read = ForEachReference(ds, volname, nullptr, [&](const IndexEntry& e) {
      auto ch = chunks.find(e.digest);
      if (ch == chunks.end()) return;
      // Referenced, but by no backup listed: unique to none.
      Refer(ch->second.snapshot, kSeveral);
      Refer(ch->second.container, kSeveral);
    });
    if (!read.ok() && (read.code() != Code::kNotFound || ds.backend().Stat(n).ok()) &&
        (u.unreadable_snapshots.empty() || u.unreadable_snapshots.back() != volname))
      u.unreadable_snapshots.push_back(volname);
  }

  for (auto& [d, ch] : chunks) {
    if (ch.snapshot == kNone) {
      if (GcRemovesUnreferencedChunk(horizon, ch.mtime_ns)) {
        u.reclaimable_bytes += ch.size;
        ++u.reclaimable_chunks;
      } else {
        u.unreferenced_recent_bytes += ch.size;
      }
      continue;
    }
    u.referenced_bytes += ch.size;
    ++u.referenced_chunks;
    if (ch.snapshot >= 0) snaps[ch.snapshot].unique += ch.size;
    if (ch.container >= 0) {
      containers[ch.container].unique += ch.size;
      containers[ch.container].stored += ch.size;
    } else {
      for (int32_t c : shared[d]) containers[c].stored += ch.size;
    }
  }
  // "<chunk>.bad" copies (a referenced chunk not stored is in `missing`).
  for (const auto& [d, size] : bad) {
    const bool stored = chunks.count(d) > 0;
    const bool referenced = missing.count(d) || (stored && chunks[d].snapshot != kNone);
    if (GcRemovesBadCopy(referenced, stored)) u.reclaimable_bytes += size;
  }
  // Leftovers of killed backups.
  for (const auto& [n, st] : snapshot_objects) {
    std::string volname = SnapshotOfObject(n);
    if (with_manifest.count(volname) || !GcRemovesLeftover(horizon, volname, st.mtime_ns)) continue;
    u.leftover_bytes += st.size;
    u.reclaimable_bytes += st.size;
  }

  if (!u.unreadable_snapshots.empty()) {  // gc would remove nothing
    u.reclaimable_bytes = u.reclaimable_chunks = u.leftover_bytes = 0;
  }
  for (auto& s : snaps)
    if (!vmid || s.vmid == *vmid) u.snapshots.push_back(std::move(s));
  std::sort(containers.begin(), containers.end(),
            [](const ContainerUsage& a, const ContainerUsage& b) { return a.vmid < b.vmid; });
  for (auto& c : containers)
    if (!vmid || c.vmid == *vmid) u.containers.push_back(std::move(c));
  return u;
}

std::string DescribeUnreferenced(const StoreUsage& after, const std::string& storage) {
  if (!after.unreadable_snapshots.empty())
    return fmt::format(
        "a gc would remove nothing while backup '{}' cannot be read: run 'ctdump "
        "verify {}'",
        after.unreadable_snapshots.front(), storage);
  const uint64_t unreferenced = after.reclaimable_bytes + after.unreferenced_recent_bytes;
  if (unreferenced == 0)
    return "every chunk is still referenced by another backup: a gc would free nothing";
  std::string text =
      fmt::format("{} no longer referenced by any backup; run 'ctdump gc {}' to free it",
                  HumanBytes(unreferenced), storage);
  if (after.unreferenced_recent_bytes > 0)
    text += fmt::format(
        " ({} of it is too recent for a gc now: written within the last second "
        "or after a running backup started)",
        HumanBytes(after.unreferenced_recent_bytes));
  return text;
}

}  // namespace ctdump::datastore
