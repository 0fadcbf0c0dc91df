#include "datastore/datastore.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>

#include "datastore/lease_keeper.h"
#include "datastore/manifest.h"
#include "datastore/manifest_format.h"
#include "sys/subprocess.h"
#include "sys/thread_pool.h"

namespace ctdump::datastore {
namespace {

using json = nlohmann::json;

constexpr char kConfigName[] = "config";
constexpr uint64_t kMaxConfigSize = 64 << 10;
constexpr uint64_t kMaxLockSize = 64 << 10;
constexpr char kStoreFormat[] = "ctdump-datastore";

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

Result<LockInfo> ParseLock(const std::string& object, const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return DataLossError(fmt::format("lock '{}' is not valid JSON", object));
  LockInfo l;
  l.object = object;
  l.host = j.value("host", "");
  l.pid = j.value("pid", int64_t{0});
  if (j.contains("parent") && j["parent"].is_string()) l.parent = j["parent"].get<std::string>();
  if (j.contains("cookie") && j["cookie"].is_string()) l.cookie = j["cookie"].get<std::string>();
  return l;
}

// A lease cookie unique to one holder: host, pid and 64 random bits (a pid
// is reused, and two hosts may share a name).
std::string NewCookie() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard<std::mutex> l(mu);
  return fmt::format("{}.{}.{:016x}", HostName(), ::getpid(), rng());
}

}  // namespace

std::string FormatVolume(const std::string& vmid, int64_t time) {
  std::time_t t = static_cast<std::time_t>(time);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("ct/{}/{:04}-{:02}-{:02}T{:02}_{:02}_{:02}Z", vmid, tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

Result<VolumeName> ParseVolume(const std::string& volname) {
  auto bad = [&volname](std::string_view why) {
    return InvalidArgumentError(
        fmt::format("'{}' is not a datastore volume ({}; expected "
                    "ct/<container>/YYYY-MM-DDTHH_MM_SSZ)",
                    volname, why));
  };
  if (!volname.starts_with("ct/")) return bad("no ct/ prefix");
  size_t slash = volname.find('/', 3);
  if (slash == std::string::npos || slash == 3) return bad("no container");
  VolumeName v;
  v.vmid = volname.substr(3, slash - 3);
  std::string t = volname.substr(slash + 1);
  if (!ValidateObjectName(v.vmid).ok() || v.vmid.find('/') != std::string::npos)
    return bad("container name");
  std::tm tm{};
  int n = 0;
  if (t.size() != 20 ||
      std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d_%2d_%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
      n != 20)
    return bad("time");
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  v.time = static_cast<int64_t>(::timegm(&tm));
  if (FormatVolume(v.vmid, v.time) != volname) return bad("time");
  return v;
}

std::string ChunkObjectName(const Digest& d) {
  std::string hex = d.Hex();
  return "chunks/" + hex.substr(0, 4) + "/" + hex;
}

std::string BadChunkObjectName(const Digest& d) { return ChunkObjectName(d) + kBadChunkSuffix; }

std::string SnapshotPrefix(const std::string& volname) { return "snapshots/" + volname + "/"; }

std::string BackupLockName(const std::string& vmid) { return "locks/backup." + vmid; }

Result<std::unique_ptr<Datastore>> Datastore::Open(std::unique_ptr<ObjectBackend> backend,
                                                   KeyRing keys, std::string name,
                                                   bool create_if_empty) {
  std::unique_ptr<Datastore> ds(new Datastore());
  ds->backend_ = std::move(backend);
  ds->keys_ = std::move(keys);
  ds->name_ = std::move(name);
  auto text = ds->Fetch(kConfigName, kMaxConfigSize);
  if (!text.ok() && text.status().code() == Code::kNotFound) {
    if (create_if_empty) {
      RETURN_IF_ERROR(ds->EnsureCreated());
      return ds;
    }
    Status empty = ds->CheckEmpty();
    if (empty.ok()) return ds;  // empty: no snapshots, nothing written until EnsureCreated
    // A first backup elsewhere may have published the config since we looked.
    text = ds->Fetch(kConfigName, kMaxConfigSize);
    if (!text.ok() && text.status().code() == Code::kNotFound) return empty;
  }
  if (!text.ok()) return text.status();
  RETURN_IF_ERROR(ds->LoadConfig(*text));
  return ds;
}

Result<std::unique_ptr<Datastore>> Datastore::Create(std::unique_ptr<ObjectBackend> backend,
                                                     std::string name) {
  std::unique_ptr<Datastore> ds(new Datastore());
  ds->backend_ = std::move(backend);
  ds->name_ = std::move(name);
  auto text = ds->Fetch(kConfigName, kMaxConfigSize);
  if (text.ok())
    return AlreadyExistsError(
        fmt::format("{} is a datastore already: nothing to create", ds->backend_->Describe()));
  if (text.status().code() != Code::kNotFound) return text.status();
  RETURN_IF_ERROR(ds->EnsureCreated());
  return ds;
}

Status Datastore::CheckEmpty() {
  ASSIGN_OR_RETURN(bool empty, backend_->IsEmpty());
  if (empty) return Status::OK();
  return FailedPreconditionError(fmt::format(
      "{}: {} is not empty and holds no datastore config, so it is no datastore; ctdump writes "
      "none into it. Point the storage's path at a datastore, or at an empty or missing directory "
      "and run 'ctdump datastore create <path>'",
      name_, backend_->Describe()));
}

Status Datastore::EnsureCreated() {
  if (exists_) return Status::OK();
  auto text = Fetch(kConfigName, kMaxConfigSize);
  if (!text.ok() && text.status().code() == Code::kNotFound) {
    Status empty = CheckEmpty();
    if (!empty.ok()) {
      // Another process may have created the store since we looked.
      text = Fetch(kConfigName, kMaxConfigSize);
      if (!text.ok() && text.status().code() == Code::kNotFound) return empty;
    } else {
      json j = {
          {"format", kStoreFormat},
          {"version", 1},
          {"created", static_cast<int64_t>(std::time(nullptr))},
          {"chunker",
           {{"min", chunker_.min_size}, {"avg", chunker_.avg_size}, {"max", chunker_.max_size}}}};
      RETURN_IF_ERROR(backend_->PutIfAbsent(kConfigName, j.dump(1, '\t') + "\n").status());
      text = Fetch(kConfigName, kMaxConfigSize);
    }
  }
  if (!text.ok()) return text.status();
  return LoadConfig(*text);
}

Status Datastore::LoadConfig(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != kStoreFormat)
    return DataLossError(fmt::format("{}: '{}' is not a ctdump datastore config", name_,
                                     backend_->Describe() + "/" + kConfigName));
  // Integers only: a float converted to an integer type is undefined.
  auto uint_at = [](const json& o, const char* k) -> std::optional<uint64_t> {
    auto it = o.find(k);
    if (it == o.end() || !it->is_number_unsigned()) return std::nullopt;
    return it->get<uint64_t>();
  };
  auto version = uint_at(j, "version");
  if (version != uint64_t{1})
    return FailedPreconditionError(
        fmt::format("{}: unsupported datastore version {}", name_,
                    j.contains("version") ? j["version"].dump() : "none"));
  const json& c = j.contains("chunker") ? j["chunker"] : json::object();
  auto mn = uint_at(c, "min"), avg = uint_at(c, "avg"), mx = uint_at(c, "max");
  if (!c.is_object() || !mn || !avg || !mx || *mx > UINT32_MAX)
    return DataLossError(fmt::format("{}: bad chunker parameters in its config", name_));
  ChunkerParams p;
  p.min_size = static_cast<uint32_t>(*mn);
  p.avg_size = static_cast<uint32_t>(*avg);
  p.max_size = static_cast<uint32_t>(*mx);
  RETURN_IF_ERROR(Chunker::Validate(p));
  chunker_ = p;
  exists_ = true;
  return Status::OK();
}

std::optional<crypt::Fingerprint> ParseFingerprint(std::string_view text) {
  crypt::Fingerprint fp;
  if (text.size() != fp.size() * 3 - 1) return std::nullopt;
  for (size_t i = 0; i < fp.size(); ++i) {
    if (i > 0 && text[3 * i - 1] != ':') return std::nullopt;
    unsigned v = 0;
    for (char c : text.substr(3 * i, 2)) {
      int n = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
              : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
              : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                          : -1;
      if (n < 0) return std::nullopt;
      v = v * 16 + static_cast<unsigned>(n);
    }
    fp[i] = static_cast<uint8_t>(v);
  }
  return fp;
}

Result<std::string> Datastore::Decode(std::string_view blob, BlobType type, const Digest* expected,
                                      const std::string& what, bool may_prompt) {
  ASSIGN_OR_RETURN(BlobInfo info, ParseBlobHeader(blob, what));
  const crypt::Key* key = nullptr;
  if (info.fingerprint) {
    auto k = keys_.Require(*info.fingerprint, what, "encrypted", may_prompt);
    if (!k.ok()) {
      // Damage (a changed fingerprint too, with a CRC) is damage, not a key question.
      RETURN_IF_ERROR(CheckBlobWithoutKey(blob, type, expected, what).status());
      return k.status();
    }
    key = *k;
  }
  return DecodeBlob(blob, type, key, expected, what);
}

Result<Manifest> Datastore::ReadManifest(const std::string& volname) {
  return ReadManifest(volname, true, true);
}

Result<Manifest> Datastore::ReadManifestPublic(const std::string& volname) {
  return ReadManifest(volname, false, true);
}

Result<Manifest> Datastore::ReadManifest(const std::string& volname, bool whole, bool may_prompt) {
  ASSIGN_OR_RETURN(VolumeName v, ParseVolume(volname));
  std::string object = SnapshotPrefix(volname) + kManifestName;
  auto blob = Fetch(object);
  if (!blob.ok()) {
    if (blob.status().code() == Code::kNotFound)
      return NotFoundError(fmt::format("backup '{}' does not exist on {}", volname, name_));
    return blob.status();
  }
  const std::string what = fmt::format("manifest '{}'", object);
  ASSIGN_OR_RETURN(std::string text, Decode(*blob, BlobType::kManifest, nullptr, what, may_prompt));
  ASSIGN_OR_RETURN(Manifest m, ParseManifest(text, what));
  const bool encrypted = ParseBlobHeader(*blob, what)->fingerprint.has_value();
  if (encrypted && m.version != 1)
    return DataLossError(
        fmt::format("{} is damaged: an encrypted manifest of version {}", what, m.version));
  if (!encrypted && keys_.has_current()) {
    // Whoever can write the store could have written it: refused, as PBS.
    if (m.version == 1)
      return PermissionDeniedError(
          fmt::format("{} is not encrypted, but the storage has an encryption key", what));
    if (!m.signature)
      return PermissionDeniedError(
          fmt::format("{} is not signed, but the storage has an encryption key", what));
  }
  if (m.signature) {
    auto fp = ParseFingerprint(*m.key_fingerprint);
    if (!fp) return DataLossError(fmt::format("{} is damaged: bad key fingerprint", what));
    if (whole) {
      ASSIGN_OR_RETURN(const crypt::Key* key, keys_.Require(*fp, what));
      RETURN_IF_ERROR(UnsealManifest(text, *key, &m, what));
    }
  }
  if (m.vmid != v.vmid || m.backup_time != v.time)
    return DataLossError(fmt::format("manifest '{}' describes another backup ({} at {})", object,
                                     m.vmid, m.backup_time));
  return m;
}

Result<std::vector<IndexEntry>> Datastore::ReadIndex(const std::string& volname, const Manifest& m,
                                                     const std::string& file) {
  const ManifestFile* f = m.File(file);
  std::string object = SnapshotPrefix(volname) + file;
  if (!f) return DataLossError(fmt::format("manifest of '{}' lists no {}", volname, file));
  ASSIGN_OR_RETURN(std::string blob, Fetch(object));
  std::string what = fmt::format("index '{}'", object);
  ASSIGN_OR_RETURN(std::string plain, Decode(blob, BlobType::kIndex, &f->digest, what));
  if (plain.size() != f->size)
    return DataLossError(what + " has another size than its manifest says");
  return ParseIndex(plain, what);
}

Result<std::vector<IndexEntry>> Datastore::ReadIndexUnpinned(const std::string& volname,
                                                             const std::string& file) {
  std::string object = SnapshotPrefix(volname) + file;
  ASSIGN_OR_RETURN(std::string blob, Fetch(object));
  std::string what = fmt::format("index '{}'", object);
  ASSIGN_OR_RETURN(std::string plain, DecodeBlob(blob, BlobType::kIndex, nullptr, nullptr, what));
  return ParseIndex(plain, what);
}

bool IsKeyError(const Status& s) {
  return s.code() == Code::kFailedPrecondition || s.code() == Code::kPermissionDenied;
}

Result<std::string> Datastore::ReadChunk(const Digest& d) {
  std::string object = ChunkObjectName(d);
  auto blob = Fetch(object);
  if (!blob.ok() && blob.status().code() == Code::kNotFound &&
      backend_->Stat(BadChunkObjectName(d)).ok()) {
    // Verify moved it aside just now, or earlier; a backup may have stored
    // it again meanwhile.
    blob = Fetch(object);
    if (!blob.ok() && blob.status().code() == Code::kNotFound)
      return DataLossError(fmt::format(
          "chunk '{}' is damaged: verify moved it to '{}'; the next backup of a container that "
          "still has this data stores it again",
          object, BadChunkObjectName(d)));
  }
  if (!blob.ok()) return blob.status();
  return Decode(*blob, BlobType::kChunk, &d, fmt::format("chunk '{}'", object));
}

Result<bool> Datastore::QuarantineChunk(const Digest& d, const std::string& damaged) {
  const std::string object = ChunkObjectName(d);
  const std::string bad = BadChunkObjectName(d);
  // Put, not PutIfAbsent: an older .bad of the same chunk is replaced by the
  // latest damaged copy.
  RETURN_IF_ERROR(backend_->Put(bad, damaged));
  auto now = Fetch(object);
  if (!now.ok()) {
    if (now.status().code() == Code::kNotFound) return true;
    return now.status();
  }
  if (*now != damaged) return false;  // stored anew meanwhile, or the first read was damaged
  Status s = backend_->Delete(object);
  if (!s.ok() && s.code() != Code::kNotFound) return s;
  return true;
}

Result<std::vector<SnapshotInfo>> Datastore::ListSnapshots(const std::optional<std::string>& vmid,
                                                           Observer* observer) {
  std::string prefix = vmid ? "snapshots/ct/" + *vmid + "/" : std::string("snapshots/ct/");
  if (vmid && !ValidateObjectName(*vmid).ok()) return std::vector<SnapshotInfo>{};
  ASSIGN_OR_RETURN(std::vector<std::string> names, backend_->List(prefix));
  std::vector<SnapshotInfo> out;
  const std::string suffix = std::string("/") + kManifestName;
  for (const auto& n : names) {
    if (!n.ends_with(suffix)) continue;
    std::string volname = n.substr(10, n.size() - 10 - suffix.size());
    auto v = ParseVolume(volname);
    if (!v.ok()) continue;
    auto m = ReadManifest(volname, /*whole=*/false, /*may_prompt=*/false);
    SnapshotInfo info;
    info.volname = volname;
    info.name = *v;
    if (!m.ok()) {
      // Listed, then gone: deleted meanwhile, or (RADOS) an index entry whose
      // object a killed writer never wrote.
      if (m.status().code() == Code::kNotFound) continue;
      if (IsKeyError(m.status())) {
        info.unreadable = m.status().message();
        out.push_back(std::move(info));
        continue;
      }
      if (observer)
        observer->Log(LogLevel::kWarn,
                      fmt::format("skipping backup '{}': {}", volname, m.status().message()));
      continue;
    }
    info.manifest = std::move(*m);
    info.manifest_read = true;
    if (info.manifest.key_fingerprint) {
      auto fp = ParseFingerprint(*info.manifest.key_fingerprint);
      if (fp && keys_.Knows(*fp) == false)
        info.unreadable =
            keys_.empty() ? fmt::format(
                                "backup '{}' is encrypted with key {}, and no "
                                "encryption key is configured",
                                volname, *info.manifest.key_fingerprint)
                          : fmt::format(
                                "backup '{}' is encrypted with key {}, not with the "
                                "configured key {}",
                                volname, *info.manifest.key_fingerprint, keys_.KnownFingerprints());
    }
    // Notes only with a key at hand: a listing never asks for a passphrase.
    auto notes = GetText(SnapshotPrefix(volname) + kNotesName, /*may_prompt=*/false);
    if (notes.ok()) info.notes = *notes;
    auto prot = IsProtected(volname);
    info.is_protected = prot.ok() && *prot;
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const SnapshotInfo& a, const SnapshotInfo& b) {
    return a.name.time != b.name.time ? a.name.time < b.name.time : a.volname < b.volname;
  });
  return out;
}

Result<std::string> Datastore::GetText(const std::string& object, bool may_prompt) {
  ASSIGN_OR_RETURN(std::string blob, Fetch(object));
  return Decode(blob, BlobType::kText, nullptr, fmt::format("'{}'", object), may_prompt);
}

Result<std::optional<std::string>> Datastore::ReadNotes(const std::string& volname) {
  auto text = GetText(SnapshotPrefix(volname) + kNotesName);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return std::optional<std::string>();
    return text.status();
  }
  return std::optional<std::string>(std::move(*text));
}

Status Datastore::WriteNotes(const std::string& volname, const std::string& notes) {
  if (!exists_)
    return NotFoundError(fmt::format("backup '{}' does not exist on {}", volname, name_));
  std::string object = SnapshotPrefix(volname) + kNotesName;
  if (notes.empty()) {
    Status s = backend_->Delete(object);
    return s.code() == Code::kNotFound ? Status::OK() : s;
  }
  ASSIGN_OR_RETURN(const crypt::Key* key, CurrentKey());
  BlobOptions o;
  o.type = BlobType::kText;
  o.key = key;
  ASSIGN_OR_RETURN(std::string blob, EncodeBlob(notes, ComputeDigest(key, notes), o));
  return backend_->Put(object, blob);
}

Result<bool> Datastore::IsProtected(const std::string& volname) {
  auto st = backend_->Stat(SnapshotPrefix(volname) + kProtectedName);
  if (st.ok()) return true;
  if (st.status().code() == Code::kNotFound) return false;
  return st.status();
}

Status Datastore::SetProtected(const std::string& volname, bool on) {
  if (!exists_)
    return NotFoundError(fmt::format("backup '{}' does not exist on {}", volname, name_));
  std::string object = SnapshotPrefix(volname) + kProtectedName;
  if (on) return backend_->Put(object, "");
  Status s = backend_->Delete(object);
  return s.code() == Code::kNotFound ? Status::OK() : s;
}

Status Datastore::DeleteSnapshot(const std::string& volname) {
  ASSIGN_OR_RETURN(VolumeName v, ParseVolume(volname));
  ASSIGN_OR_RETURN(bool prot, IsProtected(volname));
  if (prot)
    return FailedPreconditionError(
        fmt::format("backup '{}' is protected; remove the protection first", volname));
  ASSIGN_OR_RETURN(std::vector<LockInfo> locks, ListLocks(BackupLockName(v.vmid)));
  for (const auto& l : locks) {
    if (l.parent && *l.parent == volname)
      return FailedPreconditionError(
          fmt::format("backup '{}' is the base of a running backup (pid {} on {}); try again later",
                      volname, l.pid, l.host));
  }
  const std::string prefix = SnapshotPrefix(volname);
  Status s = backend_->Delete(prefix + kManifestName);
  if (s.code() == Code::kNotFound)
    return NotFoundError(fmt::format("backup '{}' does not exist on {}", volname, name_));
  RETURN_IF_ERROR(s);
  ASSIGN_OR_RETURN(std::vector<std::string> rest, backend_->List(prefix));
  for (const auto& n : rest) {
    Status d = backend_->Delete(n);
    if (!d.ok() && d.code() != Code::kNotFound) return d;
  }
  return Status::OK();
}

Result<std::string> Datastore::Fetch(const std::string& name, uint64_t max_size) {
  auto data = backend_->Get(name, max_size);
  // Something else than an object in an object's place is damage, not a
  // precondition (which would read as a key error).
  if (!data.ok() && data.status().code() == Code::kFailedPrecondition)
    return DataLossError(fmt::format("{}: {}", name_, data.status().message()));
  return data;
}

Datastore::~Datastore() = default;

int Datastore::IoThreads(int requested) const {
  if (requested > 0) return requested;
  return std::max(sys::ThreadPool::ResolveThreads(0), backend_->IoDepth());
}

LeaseKeeper& Datastore::keeper() {
  std::lock_guard<std::mutex> l(keeper_mu_);
  if (!keeper_) keeper_ = std::make_unique<LeaseKeeper>(*backend_, name_);
  return *keeper_;
}

uint64_t Datastore::lease_renewals() {
  std::lock_guard<std::mutex> l(keeper_mu_);
  return keeper_ ? keeper_->renewals() : 0;
}

Result<LockInfo> Datastore::TakeLock(const std::string& object,
                                     const std::optional<std::string>& parent, Observer* observer) {
  RETURN_IF_ERROR(EnsureCreated());  // a lock first would make the store "not empty"
  json j = {{"host", HostName()}, {"pid", static_cast<int64_t>(::getpid())}};
  if (parent) j["parent"] = *parent;
  if (backend_->HasLeases()) {
    const std::string cookie = NewCookie();
    j["cookie"] = cookie;
    j["lease"] = lock_lease_s_;
    return TakeLeasedLock(object, j.dump() + "\n", cookie, observer);
  }
  const std::string text = j.dump() + "\n";
  for (int attempt = 0; attempt < 3; ++attempt) {
    ASSIGN_OR_RETURN(bool created, backend_->PutIfAbsent(object, text));
    if (created) {
      ASSIGN_OR_RETURN(ObjectStat st, backend_->Stat(object));
      ASSIGN_OR_RETURN(LockInfo l, ParseLock(object, text));
      l.mtime_ns = st.mtime_ns;
      return l;
    }
    auto held = Fetch(object, kMaxLockSize);
    if (!held.ok()) {
      if (held.status().code() == Code::kNotFound) continue;  // released meanwhile
      return held.status();
    }
    auto l = ParseLock(object, *held);
    bool stale = l.ok() && l->host == HostName() && !sys::ProcessAlive(static_cast<pid_t>(l->pid));
    if (!stale) {
      if (!l.ok()) return l.status();
      return UnavailableError(
          fmt::format("{}: '{}' is held by pid {} on {}", name_, object, l->pid, l->host));
    }
    if (observer)
      observer->Log(LogLevel::kWarn, fmt::format("{}: removing stale lock '{}' of dead process {}",
                                                 name_, object, l->pid));
    Status d = backend_->Delete(object);
    if (!d.ok() && d.code() != Code::kNotFound) return d;
  }
  return UnavailableError(fmt::format("{}: could not take '{}'", name_, object));
}

Result<LockInfo> Datastore::TakeLeasedLock(const std::string& object, const std::string& text,
                                           const std::string& cookie, Observer* observer) {
  const auto sent = LeaseKeeper::Clock::now();
  ASSIGN_OR_RETURN(bool got, backend_->AcquireLease(object, cookie, lock_lease_s_, false));
  if (!got) {
    auto held = Fetch(object, kMaxLockSize);
    if (held.ok()) {
      auto l = ParseLock(object, *held);
      if (l.ok())
        return UnavailableError(
            fmt::format("{}: '{}' is held by pid {} on {}", name_, object, l->pid, l->host));
    } else if (held.status().code() != Code::kNotFound) {
      return held.status();
    }
    // Between a holder's lease and its object (taking or releasing it).
    return UnavailableError(fmt::format(
        "{}: '{}' is held by another process (its lease is held; the holder is taking or "
        "releasing it)",
        name_, object));
  }
  // The lease is ours: an object there is a dead holder's (its lease expired).
  auto release = [&](Status s) {
    backend_->ReleaseLease(object, cookie).IgnoreError();
    return s;
  };
  auto old = Fetch(object, kMaxLockSize);
  if (old.ok()) {
    auto l = ParseLock(object, *old);
    if (observer && l.ok())
      observer->Log(LogLevel::kWarn,
                    fmt::format("{}: taking over lock '{}' of pid {} on {}: its lease expired "
                                "(the process or its host died, or lost the cluster)",
                                name_, object, l->pid, l->host));
  } else if (old.status().code() != Code::kNotFound) {
    return release(old.status());
  }
  Status put = backend_->Put(object, text);
  if (!put.ok()) return release(put);
  auto st = backend_->Stat(object);
  if (!st.ok()) return release(st.status());
  auto l = ParseLock(object, text);
  if (!l.ok()) return release(l.status());
  l->mtime_ns = st->mtime_ns;
  keeper().Keep(object, cookie, lock_lease_s_, sent);
  return l;
}

Status Datastore::ReleaseLock(const std::string& object) {
  if (!backend_->HasLeases()) {
    Status s = backend_->Delete(object);
    return s.code() == Code::kNotFound ? Status::OK() : s;
  }
  std::optional<LeaseKeeper::Forgotten> f;
  {
    std::lock_guard<std::mutex> l(keeper_mu_);
    if (keeper_) f = keeper_->Forget(object);
  }
  if (!f) return Status::OK();  // not ours
  if (!f->held) {
    // Lost: someone may hold it now. Delete the object only under the lease,
    // if nobody took it meanwhile.
    auto again = backend_->AcquireLease(object, f->cookie, lock_lease_s_, false);
    if (!again.ok() || !*again) return Status::OK();
  }
  Status s = backend_->Delete(object);
  Status r = backend_->ReleaseLease(object, f->cookie);
  if (!s.ok() && s.code() != Code::kNotFound) return s;
  return r;
}

Status Datastore::CheckLock(const std::string& object) {
  if (!backend_->HasLeases()) return Status::OK();
  return keeper().Check(object);
}

Status Datastore::RenewLock(const std::string& object) {
  if (!backend_->HasLeases()) return Status::OK();
  return keeper().Renew(object);
}

Result<bool> Datastore::LockHeld(const std::string& object) {
  if (backend_->HasLeases()) return backend_->LeaseHeld(object);
  auto st = backend_->Stat(object);
  if (st.ok()) return true;
  if (st.status().code() == Code::kNotFound) return false;
  return st.status();
}

Result<bool> Datastore::RemoveLapsedLock(const std::string& object, int64_t older_than_ns) {
  if (!backend_->HasLeases()) return false;
  const std::string cookie = NewCookie();
  ASSIGN_OR_RETURN(bool got, backend_->AcquireLease(object, cookie, lock_lease_s_, false));
  if (!got) return false;  // held: not lapsed (any more)
  bool removed = false;
  Status s;
  auto st = backend_->Stat(object);
  if (st.ok() && st->mtime_ns < older_than_ns) {
    s = backend_->Delete(object);
    removed = s.ok();
    if (s.code() == Code::kNotFound) s = Status::OK();
  } else if (!st.ok() && st.status().code() != Code::kNotFound) {
    s = st.status();
  }
  Status r = backend_->ReleaseLease(object, cookie);
  RETURN_IF_ERROR(s);
  RETURN_IF_ERROR(r);
  return removed;
}

Result<std::vector<LockInfo>> Datastore::ListLocks(const std::string& prefix,
                                                   std::vector<LockInfo>* lapsed) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, backend_->List(prefix));
  std::vector<LockInfo> out;
  for (const auto& n : names) {
    auto text = Fetch(n, kMaxLockSize);
    if (!text.ok() && text.status().code() == Code::kNotFound) continue;  // released meanwhile
    RETURN_IF_ERROR(text.status());
    auto st = backend_->Stat(n);
    if (!st.ok() && st.status().code() == Code::kNotFound) continue;
    RETURN_IF_ERROR(st.status());
    auto l = ParseLock(n, *text);
    if (!l.ok()) continue;
    l->mtime_ns = st->mtime_ns;
    if (backend_->HasLeases()) {
      ASSIGN_OR_RETURN(bool held, backend_->LeaseHeld(n));
      if (!held) {
        if (lapsed) lapsed->push_back(std::move(*l));
        continue;
      }
    }
    out.push_back(std::move(*l));
  }
  return out;
}

}  // namespace ctdump::datastore
