#include "providers/datastore_provider.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <span>
#include <thread>

#include "crypt/crypt.h"
#include "crypt/master_key.h"
#include "ctdump/units.h"
#include "datastore/manifest_format.h"
#include "datastore/reader.h"
#include "datastore/tar_export.h"
#include "objstore/local_backend.h"
#include "objstore/rados_backend.h"
#include "providers/datastore_worker.h"
#include "providers/storage_path.h"
#include "sys/file.h"
#include "userns/userns.h"
#include "userns/worker_relay.h"

namespace ctdump::providers {
namespace {

using json = nlohmann::json;
using datastore::Datastore;

// Feeds the parent's metadata stream to the worker's stdin, then closes it.
void FeedParent(Datastore* ds, const datastore::ParentSnapshot* parent, sys::UniqueFd fd) {
  if (!parent) return;
  datastore::StreamReader meta(*ds, parent->meta_index, "parent metadata", 4);
  Status s = meta.Read(0, meta.size(), [&fd](const char* d, size_t n) {
    return sys::WriteAll(fd.get(), std::string_view(d, n), "the worker's stdin");
  });
  // An error ends the feed early: the worker then sees a cut-off stream and
  // fails, or (EPIPE) has already stopped for its own reason.
  s.IgnoreError();
}

// The worker's messages in suspend mode's two passes. Live pass: what it
// warns about (a file that shrank or could not be read while the container
// ran) the frozen pass reads again and warns about if it still holds, so
// there it is only information. Frozen pass: progress as phase
// "backup-final" (docs/json-events.md), after the first pass's "backup".
class PassLog : public Observer {
 public:
  PassLog(Observer* out, bool live) : out_(out), live_(live) {}
  void Log(LogLevel level, std::string_view message) noexcept override {
    if (live_ && level == LogLevel::kWarn)
      out_->Log(LogLevel::kInfo, fmt::format("first pass: {}", message));
    else
      out_->Log(level, message);
  }
  void OnProgress(const Progress& p) noexcept override {
    if (live_) return out_->OnProgress(p);
    try {
      Progress q = p;
      q.phase = "backup-final";
      out_->OnProgress(q);
    } catch (...) {  // out of memory copying a path: progress is not worth failing for
    }
  }

 private:
  Observer* out_;
  bool live_;
};

}  // namespace

std::vector<std::string> SplitKeyPaths(const std::string& value) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == std::string::npos) comma = value.size();
    std::string p = value.substr(start, comma - start);
    while (!p.empty() && std::isspace(static_cast<unsigned char>(p.front()))) p.erase(0, 1);
    while (!p.empty() && std::isspace(static_cast<unsigned char>(p.back()))) p.pop_back();
    if (!p.empty()) out.push_back(std::move(p));
    start = comma + 1;
  }
  return out;
}

datastore::KeyRing StorageKeyRing(const Section& section, bool may_prompt) {
  const std::string id = section.id;
  std::optional<std::string> current;
  if (auto k = section.Get("encryption-key")) current = *k;
  std::vector<std::string> old;
  if (auto k = section.Get("encryption-key-old")) old = SplitKeyPaths(*k);
  auto loader = [id, allowed = may_prompt](const std::string& path,
                                           bool may_prompt) -> Result<crypt::Key> {
    auto context = [&](const Status& s) {
      return s.WithContext(fmt::format("storage '{}': encryption-key", id));
    };
    if (!may_prompt || !allowed) {
      // A listing asks for no passphrase: only a key file without one loads.
      auto info = crypt::Key::ReadFileInfo(path);
      if (!info.ok()) return context(info.status());
      if (info->kdf != crypt::Kdf::kNone)
        return FailedPreconditionError(fmt::format("key file '{}' needs its passphrase", path));
    }
    auto key = crypt::Key::LoadFile(path);
    if (!key.ok()) return context(key.status());
    return key;
  };
  auto prober = [](const std::string& path) -> Result<crypt::Fingerprint> {
    ASSIGN_OR_RETURN(crypt::KeyFileInfo info, crypt::Key::ReadFileInfo(path));
    return info.fingerprint;
  };
  return datastore::KeyRing(std::move(current), std::move(old), loader, prober);
}

namespace {

// The keys of a `datastore` section; those of one backend only are refused
// on the other.
constexpr std::string_view kCommonKeys[] = {
    "backend",       "encryption-key", "encryption-key-old",
    "master-pubkey", "prune-backups",  "max-protected-backups",
    "content",       "nodes",          "disable",
    "lock-lease",    "compression",    "compact-level"};
constexpr std::string_view kLocalKeys[] = {"path"};
constexpr std::string_view kRadosKeys[] = {"pool",          "ceph-conf",     "username",
                                           "keyring",       "namespace",     "queue-depth",
                                           "rados-timeout", "max-clock-skew"};

bool In(std::span<const std::string_view> keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// Key `key` of `section` as a whole number in [min, max] (`unit` for the
// message), `fallback` when absent.
Result<int> IntKey(const Section& section, std::string_view key, int fallback, int min, int max,
                   std::string_view unit) {
  auto v = section.Get(key);
  if (!v) return fallback;
  int n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (v->empty() || ec != std::errc() || end != v->data() + v->size() || n < min || n > max)
    return InvalidArgumentError(
        fmt::format("storage '{}': {} '{}' is not a whole number of {} "
                    "from {} to {}",
                    section.id, key, *v, unit, min, max));
  return n;
}

// The RADOS backend's options from a `backend rados` section.
Result<objstore::RadosOptions> RadosOptionsOf(const Section& section, int lock_lease_s) {
  const std::string& id = section.id;
  objstore::RadosOptions o;
  auto pool = section.Get("pool");
  if (!pool || pool->empty())
    return InvalidArgumentError(fmt::format(
        "storage '{}': backend rados needs 'pool' (the Ceph pool that holds the datastore)", id));
  o.pool = *pool;
  if (auto v = section.Get("ceph-conf")) {
    if (v->empty() || (*v)[0] != '/')
      return InvalidArgumentError(
          fmt::format("storage '{}': ceph-conf \"{}\" must be an absolute path", id, *v));
    o.ceph_conf = *v;
  }
  if (auto v = section.Get("username")) {
    if (v->empty() || v->starts_with("client."))
      return InvalidArgumentError(fmt::format(
          "storage '{}': username '{}' must be the cephx user without 'client.' (e.g. admin)", id,
          *v));
    o.username = *v;
  }
  if (auto v = section.Get("keyring")) {
    if (v->empty() || (*v)[0] != '/')
      return InvalidArgumentError(
          fmt::format("storage '{}': keyring \"{}\" must be an absolute path", id, *v));
    o.keyring = *v;
  }
  if (auto v = section.Get("namespace")) {
    if (v->empty())
      return InvalidArgumentError(fmt::format(
          "storage '{}': namespace is empty (leave the key out for the default one)", id));
    o.ns = *v;
  }
  ASSIGN_OR_RETURN(o.queue_depth,
                   IntKey(section, "queue-depth", o.queue_depth, 1, 256, "operations"));
  ASSIGN_OR_RETURN(o.timeout_s, IntKey(section, "rados-timeout", o.timeout_s, 1, 3600, "seconds"));
  ASSIGN_OR_RETURN(o.max_clock_skew_s,
                   IntKey(section, "max-clock-skew", o.max_clock_skew_s, 0, 3600, "seconds"));
  // A renewal that times out must leave time for another before the holder
  // gives the lock up (at two thirds of the lease).
  if (o.timeout_s * 2 > lock_lease_s)
    return InvalidArgumentError(fmt::format(
        "storage '{}': lock-lease {} s must be at least twice rados-timeout ({} s), so that a "
        "lease renewal that times out can be retried before the lease runs out",
        id, lock_lease_s, o.timeout_s));
  return o;
}

}  // namespace

Result<std::unique_ptr<Datastore>> OpenDatastore(const Section& section, bool may_prompt) {
  const std::string& id = section.id;
  const std::string kind = section.Get("backend").value_or("local");
  if (kind != "local" && kind != "rados")
    return InvalidArgumentError(fmt::format(
        "storage '{}': backend '{}' is not one of: local (a directory, 'path'), rados (a Ceph "
        "pool, 'pool')",
        id, kind));
  const bool rados = kind == "rados";
  for (const auto& [k, v] : section.options) {
    using Keys = std::span<const std::string_view>;
    const Keys own = rados ? Keys(kRadosKeys) : Keys(kLocalKeys);
    const Keys other = rados ? Keys(kLocalKeys) : Keys(kRadosKeys);
    if (In(kCommonKeys, k) || In(own, k)) continue;
    if (In(other, k))
      return InvalidArgumentError(
          fmt::format("storage '{}': '{}' is a key of backend {}, and the "
                      "storage has backend {}",
                      id, k, rados ? "local" : "rados", kind));
    return InvalidArgumentError(fmt::format("storage '{}': unknown key '{}'", id, k));
  }
  if (auto k = section.Get("encryption-key-old"); k && SplitKeyPaths(*k).empty())
    return InvalidArgumentError(fmt::format(
        "storage '{}': encryption-key-old names no key file (a comma-separated list of paths)",
        id));
  ASSIGN_OR_RETURN(const int lock_lease_s,
                   IntKey(section, "lock-lease", datastore::kDefaultLockLeaseS,
                          datastore::kMinLockLeaseS, 86400, "seconds"));
  std::unique_ptr<ObjectBackend> backend;
  if (rados) {
    ASSIGN_OR_RETURN(objstore::RadosOptions ro, RadosOptionsOf(section, lock_lease_s));
    auto b = objstore::OpenRadosBackend(ro);
    if (!b.ok()) return b.status().WithContext(fmt::format("storage '{}'", id));
    backend = std::move(*b);
  } else {
    ASSIGN_OR_RETURN(std::string path, StoragePath(section));
    objstore::LocalBackendOptions bo;
    bo.file_mode = 0600;  // other containers' data: root only
    bo.dir_mode = 0700;
    ASSIGN_OR_RETURN(backend, objstore::OpenLocalBackend(path, bo));
  }
  // Keys load when a read or write needs them: list, gc, df, prune, delete
  // and protect never do. Never creates: the first backup does (BackupInit),
  // in an empty store only.
  ASSIGN_OR_RETURN(auto ds, Datastore::Open(std::move(backend), StorageKeyRing(section, may_prompt),
                                            fmt::format("datastore '{}'", id),
                                            /*create_if_empty=*/false));
  ds->set_lock_lease_s(lock_lease_s);
  if (auto v = section.Get("compression")) {
    auto c = datastore::ParseCompression(*v);
    if (!c.ok()) return c.status().WithContext(fmt::format("storage '{}'", id));
    ds->set_backup_compression(*c);
  }
  ASSIGN_OR_RETURN(
      const int compact_level,
      IntKey(section, "compact-level", datastore::kDefaultCompactLevel, 1, 19, "zstd levels"));
  ds->set_compact_level(compact_level);
  return ds;
}

Result<std::unique_ptr<DatastoreProvider>> DatastoreProvider::Create(const Section& section,
                                                                     Observer* observer) {
  std::unique_ptr<DatastoreProvider> p(new DatastoreProvider());
  p->storage_id_ = section.id;
  p->observer_ = observer;
  ASSIGN_OR_RETURN(p->ds_, OpenDatastore(section));
  if (auto k = section.Get("master-pubkey")) p->master_pubkey_ = *k;
  return p;
}

bool DatastoreProvider::HasFeature(std::string_view feature) const {
  return feature == "list_backups" || feature == "delete_backup" || feature == "update_attribute";
}

Result<std::string> DatastoreProvider::BackupInit(const std::string& vmid, int64_t start_time) {
  if (!ValidateObjectName(vmid).ok() || vmid.find('/') != std::string::npos)
    return InvalidArgumentError(fmt::format(
        "container name '{}' cannot be stored in a datastore (allowed: A-Z a-z 0-9 . _ -)", vmid));
  // A backup writes the config of a new store, in an empty directory only.
  RETURN_IF_ERROR(ds_->EnsureCreated().WithContext(fmt::format("storage '{}'", storage_id_)));
  std::string volname = datastore::FormatVolume(vmid, start_time);
  auto exists = ds_->backend().Stat(datastore::SnapshotPrefix(volname) + datastore::kManifestName);
  if (exists.ok())
    return AlreadyExistsError(
        fmt::format("backup '{}' exists already on storage '{}'", volname, storage_id_));
  Current cur;
  cur.volname = volname;
  cur.start_time = start_time;
  current_[vmid] = std::move(cur);
  return volname;
}

bool DatastoreProvider::HasBackups(const std::string& vmid) {
  auto names = ds_->backend().List("snapshots/ct/" + vmid + "/");
  if (!names.ok()) return false;
  const std::string suffix = std::string("/") + datastore::kManifestName;
  // A listed manifest whose object is gone (deleted meanwhile, or on RADOS
  // an index entry a killed writer left) is no backup.
  for (const auto& n : *names)
    if (n.ends_with(suffix) && ds_->backend().Stat(n).ok()) return true;
  return false;
}

Status DatastoreProvider::WrapForMaster(datastore::WriterOptions* wo) {
  if (!master_pubkey_) return Status::OK();
  ASSIGN_OR_RETURN(const crypt::Key* key, ds_->CurrentKey());
  if (!key) {
    if (observer_)
      observer_->Log(LogLevel::kWarn,
                     fmt::format("storage '{}': master-pubkey has no effect without an "
                                 "encryption-key (the backup is not encrypted)",
                                 storage_id_));
    return Status::OK();
  }
  if (!wrapped_) {
    auto master = crypt::MasterPublicKey::LoadPem(*master_pubkey_);
    if (!master.ok())
      return master.status().WithContext(fmt::format("storage '{}': master-pubkey", storage_id_));
    ASSIGN_OR_RETURN(std::string wrapped, master->Wrap(*key));
    wrapped_ = std::move(wrapped);
    master_fingerprint_ = master->FingerprintString();
  }
  wo->wrapped_key = wrapped_;
  wo->master_fingerprint = master_fingerprint_;
  return Status::OK();
}

Status DatastoreProvider::BackupContainerLivePass(const IdMap& map,
                                                  const BackupContainerRequest& req) {
  return BackupPass(map, req, true);
}

Status DatastoreProvider::BackupContainer(const IdMap& map, const BackupContainerRequest& req) {
  return BackupPass(map, req, false);
}

Status DatastoreProvider::BackupPass(const IdMap& map, const BackupContainerRequest& req,
                                     bool live) {
  auto it = current_.find(req.vmid);
  if (it == current_.end())
    return FailedPreconditionError(
        fmt::format("backup_container for '{}' without backup_init", req.vmid));
  Current& cur = it->second;
  // The frozen pass after a live pass: its parent is that pass, in memory,
  // under the lock it took.
  const bool after_live = !live && cur.live_parent;
  std::shared_ptr<const datastore::ParentSnapshot> parent;
  std::optional<int64_t> racy_after_ns;
  if (after_live) {
    if (!cur.lock)
      return InternalError(fmt::format("the first pass of '{}' left no backup lock", req.vmid));
    parent = std::move(cur.live_parent);
    // Files the container touched since a second before the live pass
    // began are read again (datastore_worker.h).
    racy_after_ns = cur.live_start_ns - 1'000'000'000;
    observer_->Log(LogLevel::kInfo,
                   "second pass (container frozen): files unchanged since the first pass are "
                   "taken from it");
  } else {
    if (cur.lock)
      return FailedPreconditionError(
          fmt::format("a backup pass of '{}' is running already", req.vmid));
    if (!force_full_) parent = datastore::LoadParent(*ds_, req.vmid, observer_);
    std::optional<std::string> parent_name;
    if (parent) parent_name = parent->volname;
    ASSIGN_OR_RETURN(datastore::LockInfo lock,
                     ds_->TakeLock(datastore::BackupLockName(req.vmid), parent_name, observer_));
    cur.lock = std::make_shared<HeldLock>(ds_.get(), lock.object);
    // Deleted between listing and locking: back up in full.
    if (parent && !ds_->ReadManifest(parent->volname).ok()) parent.reset();
    const char* pass = live ? "first pass (container running): " : "";
    if (parent)
      observer_->Log(LogLevel::kInfo,
                     fmt::format("{}incremental backup: unchanged files are taken from '{}'", pass,
                                 parent->volname));
    else
      observer_->Log(LogLevel::kInfo,
                     fmt::format("{}{}", pass,
                                 force_full_ ? "full backup (--force-full)"
                                 : HasBackups(req.vmid)
                                     ? "full backup (no previous backup of this container is "
                                       "usable for change detection: made with another key, "
                                       "or see the warnings above)"
                                     : "full backup (no previous backup of this container)"));
  }
  // The lock is released when the backup is published or fails (the live
  // pass keeps it for the frozen one).
  std::shared_ptr<HeldLock> lock = cur.lock;
  struct Release {
    Current& cur;
    bool keep = false;
    ~Release() {
      if (!keep) cur.lock.reset();
    }
  } release{cur};

  datastore::WriterOptions wo;
  wo.volname = cur.volname;
  wo.vmid = req.vmid;
  wo.backup_time = cur.start_time;
  wo.guest_config = req.guest_config;
  if (!req.info.firewall_config.empty()) wo.firewall_config = req.info.firewall_config;
  wo.unprivileged = !map.empty();
  wo.lock = lock->name;
  wo.compression = ds_->backup_compression();
  RETURN_IF_ERROR(WrapForMaster(&wo));
  ASSIGN_OR_RETURN(auto writer, datastore::SnapshotWriter::Create(*ds_, wo, parent, observer_));

  DatastoreWorkerConfig wc;
  wc.directory = req.info.directory;
  wc.sources = req.info.sources;
  wc.exclude_patterns = req.exclude_patterns;
  wc.skip_lost_and_found = !map.empty();  // vzdump: unprivileged containers
  wc.bwlimit = req.info.bandwidth_limit;
  wc.has_parent = parent != nullptr;
  wc.tree_is_copy = req.tree_is_copy;
  wc.racy_after_ns = racy_after_ns;
  sys::SpawnOptions so;
  so.argv = {"ctdump datastore worker"};
  so.pipe_stdin = parent != nullptr;
  so.pipe_stdout = so.pipe_stderr = true;
  so.new_session = true;
  so.cwd = "/";
  struct timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  const int64_t pass_start_ns = int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
  auto worker = userns::ForkAsContainerRoot(map, so, [&wc] { return RunDatastoreWorker(wc); });
  if (!worker.ok()) return worker.status();
  std::thread feeder;
  if (parent)
    feeder = std::thread(FeedParent, ds_.get(), parent.get(), std::move(worker->stdin_fd()));
  auto start = std::chrono::steady_clock::now();
  PassLog pass_log(observer_, live);
  Status s =
      userns::RelayWorker(*worker, "backup worker", live || after_live ? &pass_log : observer_,
                          [&writer](const char* d, size_t n) { return writer->Feed(d, n); });
  if (feeder.joinable()) feeder.join();
  if (live) {
    auto p = s.ok() ? writer->FinishAsParent()
                    : Result<std::shared_ptr<const datastore::ParentSnapshot>>(s);
    if (!p.ok()) {
      writer->Abort();
      return p.status();
    }
    cur.live_parent = std::move(*p);
    cur.live_start_ns = pass_start_ns;
    release.keep = true;
  } else {
    Result<datastore::Manifest> m = s.ok() ? writer->Finish() : Result<datastore::Manifest>(s);
    if (!m.ok()) {
      writer->Abort();
      return m.status();
    }
    cur.manifest = std::move(*m);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto& st = writer->stats();
  observer_->Log(LogLevel::kInfo,
                 fmt::format("{} entries, {} in files: read {}, {} of {} unchanged files taken "
                             "from the {}",
                             st.entries, HumanBytes(st.file_bytes), HumanBytes(st.read_bytes),
                             HumanBytes(st.reused_bytes), st.reused_files,
                             after_live ? "first pass" : "previous backup"));
  observer_->Log(LogLevel::kInfo,
                 fmt::format("{} chunks hashed, {} new ({} of data, {} stored), {} already in the "
                             "store; {:.1f} s ({:.0f} MiB/s)",
                             st.chunks, st.new_chunks, HumanBytes(st.new_bytes),
                             HumanBytes(st.stored_bytes), st.dedup_chunks, secs,
                             secs > 0 ? static_cast<double>(st.file_bytes) / secs / 1048576 : 0.0));
  return Status::OK();
}

Result<std::optional<uint64_t>> DatastoreProvider::BackupCleanup(const std::string& vmid,
                                                                 bool vmtype_known, bool success,
                                                                 const std::string& error) {
  auto it = current_.find(vmid);
  if (it == current_.end()) {
    if (!success) return std::optional<uint64_t>();
    return FailedPreconditionError(fmt::format("no backup of '{}' in progress", vmid));
  }
  std::optional<uint64_t> size;
  if (it->second.manifest) {
    size = it->second.manifest->Stat("bytes");
    if (!success && observer_)
      observer_->Log(LogLevel::kWarn,
                     fmt::format("keeping the complete backup '{}' of a job that failed afterwards",
                                 it->second.volname));
  }
  // A published backup stays known until BackupHandleLogFile, which the job
  // calls after the cleanup, has attached its task log.
  if (!it->second.manifest) current_.erase(it);
  return size;
}

Status DatastoreProvider::BackupHandleLogFile(const std::string& vmid,
                                              const std::string& filename) {
  auto it = current_.find(vmid);
  std::string volname;
  if (it != current_.end()) {
    volname = it->second.volname;
    current_.erase(it);
  }
  if (volname.empty() ||
      !ds_->backend().Stat(datastore::SnapshotPrefix(volname) + datastore::kManifestName).ok())
    return Status::OK();  // no backup to attach it to
  ASSIGN_OR_RETURN(std::string log, sys::ReadFile(filename));
  ASSIGN_OR_RETURN(const crypt::Key* key, ds_->CurrentKey());
  datastore::BlobOptions o;
  o.type = datastore::BlobType::kText;
  o.key = key;
  ASSIGN_OR_RETURN(std::string blob,
                   datastore::EncodeBlob(log, datastore::ComputeDigest(key, log), o));
  return ds_->backend().Put(datastore::SnapshotPrefix(volname) + datastore::kLogName, blob);
}

Result<datastore::Manifest> DatastoreProvider::Manifest(const std::string& volname) {
  return ds_->ReadManifest(volname);
}

Result<RestoreMechanism> DatastoreProvider::RestoreGetMechanism(const std::string& volname) {
  // Manifest and indexes now: an error of StreamRestore before its first
  // byte would be reported as the extraction's "Unrecognized archive format".
  RETURN_IF_ERROR(datastore::SnapshotReader::Open(*ds_, volname).status());
  return RestoreMechanism::kTar;
}

Result<std::string> DatastoreProvider::ArchiveGetGuestConfig(const std::string& volname) {
  ASSIGN_OR_RETURN(auto m, Manifest(volname));
  return m.guest_config;
}

Result<std::optional<std::string>> DatastoreProvider::ArchiveGetFirewallConfig(
    const std::string& volname) {
  ASSIGN_OR_RETURN(auto m, Manifest(volname));
  return m.firewall_config;
}

Result<std::string> DatastoreProvider::RestoreContainerInit(const std::string& volname,
                                                            RestoreMechanism mechanism) {
  return FailedPreconditionError(
      fmt::format("backup '{}' is restored as a stream, not from a file", volname));
}

Status DatastoreProvider::StreamRestore(const std::string& volname, const TarWriteFn& write,
                                        const std::function<bool()>& closed) {
  ASSIGN_OR_RETURN(auto reader, datastore::SnapshotReader::Open(*ds_, volname));
  return datastore::ExportTar(*reader, {}, write, closed, observer_).status();
}

Result<std::vector<BackupEntry>> DatastoreProvider::ListBackups(
    const std::optional<std::string>& vmid) {
  ASSIGN_OR_RETURN(auto snaps, ds_->ListSnapshots(vmid, observer_));
  std::vector<BackupEntry> out;
  for (auto& s : snaps) {
    BackupEntry e;
    e.volname = s.volname;
    e.vmid = s.name.vmid;
    e.ctime = s.name.time;
    if (s.manifest_read) e.size = s.manifest.Stat("bytes");  // the public part: no key
    if (s.unreadable) {
      e.notes = "(unreadable: " + *s.unreadable + ")";
      if (observer_)
        observer_->Log(LogLevel::kWarn, fmt::format("backup '{}': {}", s.volname, *s.unreadable));
    } else if (s.notes) {
      e.notes = s.notes->substr(0, s.notes->find('\n'));
    }
    e.is_protected = s.is_protected;
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const BackupEntry& a, const BackupEntry& b) {
    return std::tie(a.vmid, a.ctime, a.volname) < std::tie(b.vmid, b.ctime, b.volname);
  });
  return out;
}

Result<std::optional<std::string>> DatastoreProvider::ReadNotes(const std::string& volname) {
  // The manifest first: a backup that does not exist is NotFound naming it.
  RETURN_IF_ERROR(ds_->ReadManifestPublic(volname).status());
  return ds_->ReadNotes(volname);  // encrypted notes load the key (and may ask its passphrase)
}

Status DatastoreProvider::DeleteBackup(const std::string& volname) {
  return ds_->DeleteSnapshot(volname);
}

Status DatastoreProvider::UpdateAttribute(const std::string& volname, const std::string& name,
                                          const json& value) {
  // The public part: protecting a backup needs no key (notes do, to encrypt).
  RETURN_IF_ERROR(ds_->ReadManifestPublic(volname).status());
  if (name == "notes") {
    if (!value.is_null() && !value.is_string())
      return InvalidArgumentError("attribute 'notes' must be a string");
    return ds_->WriteNotes(volname, value.is_string() ? value.get<std::string>() : "");
  }
  if (name == "protected") {
    bool on = value.is_boolean()  ? value.get<bool>()
              : value.is_number() ? value.get<double>() != 0
                                  : !value.is_null();
    return ds_->SetProtected(volname, on);
  }
  return InvalidArgumentError(
      fmt::format("attribute '{}' is not supported for storage type 'datastore'", name));
}

}  // namespace ctdump::providers
