#include "objstore/rados_backend.h"

#include <fmt/format.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <rados/librados.hpp>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "objstore/names.h"

namespace ctdump::objstore {
namespace {

// Every call of librados below returns an error code; none of those used
// throws (the NObjectIterator API would: object_list is used instead).

constexpr size_t kScanPage = 10000;  // objects per object_list call
constexpr char kTouchXattr[] = "ctdump.touch";
// Reads of at most this much ask for max_size + 1 bytes; a larger bound is
// "the whole object" (no object is that large: osd_max_object_size).
constexpr uint64_t kBoundedReadLimit = uint64_t{1} << 32;

int64_t RealtimeNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// (No std::string_view::starts_with: under clang this file is C++17, see
// CMakeLists.txt.)
bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}
bool Indexed(std::string_view name) { return !StartsWith(name, kRadosUnindexedPrefix); }
bool Private(std::string_view oid) { return StartsWith(oid, "#"); }

// A bufferlist over `data` without copying; `data` must outlive the op.
librados::bufferlist View(std::string_view data) {
  librados::bufferlist bl;
  if (!data.empty())
    bl.push_back(ceph::buffer::create_static(static_cast<unsigned>(data.size()),
                                             const_cast<char*>(data.data())));
  return bl;
}

librados::bufferlist Copy(std::string_view data) {
  librados::bufferlist bl;
  bl.append(data.data(), static_cast<unsigned>(data.size()));
  return bl;
}

// "<ns since epoch> <random>": when the index entry was written, unique per
// write so a conditional removal (omap_cmp) notices a rewrite.
std::string IndexValue() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{} {:016x}", RealtimeNs(), rng());
}

int64_t IndexTime(const librados::bufferlist& value) {
  std::string s = value.to_str();
  int64_t t = 0;
  for (char c : s) {
    if (c < '0' || c > '9') break;
    t = t * 10 + (c - '0');
  }
  return t;
}

// The error of a failed RADOS call on object `name`: NotFound for -ENOENT,
// the code errno gives otherwise, with the storage-level meaning where
// there is one.
Status OpError(int r, std::string_view what, std::string_view name, const std::string& describe) {
  int err = -r;
  std::string where =
      name.empty() ? describe : fmt::format("{} in {}", QuoteObjectName(name), describe);
  switch (err) {
    case ENOENT:
      return NotFoundError(
          fmt::format("Object {} not found in {}", QuoteObjectName(name), describe));
    case ENOSPC:
    case EDQUOT:
      return IOError(
          fmt::format("{} {}: the pool is full ({}; ceph df)", what, where, std::strerror(err)));
    case EACCES:
    case EPERM:
      return PermissionDeniedError(
          fmt::format("{} {}: {} (the cephx user lacks the OSD caps for the pool: ceph auth get)",
                      what, where, std::strerror(err)));
    default:
      return ErrnoError(err, fmt::format("{} {}", what, where));
  }
}

class RadosBackend final : public ObjectBackend {
 public:
  explicit RadosBackend(RadosOptions options) : o_(std::move(options)) {}
  ~RadosBackend() override {
    io_.close();
    if (connected_) rados_.shutdown();
  }

  Status Connect();

  std::string Describe() const override {
    return o_.ns.empty() ? "rados:" + o_.pool : "rados:" + o_.pool + "/" + o_.ns;
  }
  Result<bool> PutIfAbsent(const std::string& name, std::string_view data,
                           Durability durability) override;
  Status Sync() override { return Status::OK(); }
  Status Touch(const std::string& name) override;
  Status Put(const std::string& name, std::string_view data) override;
  Result<std::string> Get(const std::string& name, uint64_t max_size) override;
  Result<ObjectStat> Stat(const std::string& name) override;
  Result<std::vector<std::string>> List(const std::string& prefix) override;
  Status Delete(const std::string& name) override;
  Result<bool> IsEmpty() override;
  Result<LeftoverCount> RemoveLeftovers(const std::string& prefix, int64_t temps_older_than_ns,
                                        bool empty_dirs) override;
  int IoDepth() const override { return o_.queue_depth; }
  int64_t ClockSkewNs() const override { return int64_t{o_.max_clock_skew_s} * 1000000000; }
  bool HasLeases() const override { return true; }
  Result<bool> AcquireLease(const std::string& name, const std::string& cookie, int duration_s,
                            bool renew) override;
  Status ReleaseLease(const std::string& name, const std::string& cookie) override;
  Result<bool> LeaseHeld(const std::string& name) override;

 private:
  Status Error(int r, std::string_view what, std::string_view name) const {
    if (r == -ETIMEDOUT)
      return DeadlineExceededError(fmt::format(
          "{} {}: no answer from the Ceph cluster within {} s (are the OSDs of the pool up? "
          "ceph -s)",
          what,
          name.empty() ? Describe() : fmt::format("{} in {}", QuoteObjectName(name), Describe()),
          op_timeout_s_));
    return OpError(r, what, name, Describe());
  }
  // Adds `name` to the index (before the object is written).
  Status IndexAdd(const std::string& name);
  // Removes `name` from the index (after the object is removed).
  Status IndexRemove(const std::string& name);
  // The index entries starting with `prefix`, sorted, with their values.
  Status IndexList(const std::string& prefix, std::map<std::string, librados::bufferlist>* out);
  // Calls `f(oid)` for each object of the namespace (private ones included),
  // in no order; stops when f returns false.
  template <typename F>
  Status Scan(F&& f);

  RadosOptions o_;
  librados::Rados rados_;
  bool connected_ = false;
  int op_timeout_s_ = 0;  // rados_osd_op_timeout
  librados::IoCtx io_;
};

Status RadosBackend::Connect() {
  const std::string& conf = o_.ceph_conf;
  if (access(conf.c_str(), R_OK) != 0) {
    int err = errno;
    if (err == ENOENT)
      return NotFoundError(fmt::format(
          "Ceph config {} does not exist: set 'ceph-conf' of the storage to the cluster's "
          "ceph.conf (or copy it to /etc/ceph/ceph.conf)",
          QuoteObjectName(conf)));
    return ErrnoError(err, fmt::format("Cannot read the Ceph config {}", QuoteObjectName(conf)));
  }
  if (!o_.keyring.empty() && access(o_.keyring.c_str(), R_OK) != 0) {
    int err = errno;
    return ErrnoError(err, fmt::format("Cannot read the keyring {} of client.{}",
                                       QuoteObjectName(o_.keyring), o_.username));
  }
  std::string entity = "client." + o_.username;
  int r = rados_.init2(entity.c_str(), "ceph", 0);
  if (r < 0) return ErrnoError(-r, fmt::format("librados: cannot create a handle for {}", entity));
  connected_ = true;  // shutdown() is needed from here on
  r = rados_.conf_read_file(conf.c_str());
  if (r < 0)
    return InvalidArgumentError(fmt::format("Cannot parse the Ceph config {}: {}",
                                            QuoteObjectName(conf), std::strerror(-r)));
  std::string timeout = std::to_string(o_.timeout_s);
  // An OSD op outlives the mark-down of an OSD that died silently (its peers
  // report it after osd_heartbeat_grace, 20 s by default; then its PGs
  // peer): a replicated pool that lost one OSD delays a backup, never fails
  // it. A cluster that is gone still gives an error, not a hang.
  std::string grace;
  int grace_s = 20;
  if (rados_.conf_get("osd_heartbeat_grace", grace) == 0 && std::atoi(grace.c_str()) > 0)
    grace_s = std::atoi(grace.c_str());
  op_timeout_s_ = std::max(o_.timeout_s, 3 * grace_s);
  std::vector<std::pair<const char*, std::string>> settings = {
      {"client_mount_timeout", timeout},
      {"rados_mon_op_timeout", timeout},
      {"rados_osd_op_timeout", std::to_string(op_timeout_s_)},
      // librados's own log lines would interleave with ctdump's output; the
      // errors below say what went wrong.
      {"log_to_stderr", "false"},
      {"err_to_stderr", "false"},
      // Several clients of one process or host would fight over one admin
      // socket path ($name.asok).
      {"admin_socket", ""},
  };
  if (!o_.keyring.empty()) settings.emplace_back("keyring", o_.keyring);
  for (const auto& [key, value] : settings) {
    r = rados_.conf_set(key, value.c_str());
    if (r < 0)
      return InternalError(
          fmt::format("librados: cannot set {}={}: {}", key, value, std::strerror(-r)));
  }
  r = rados_.connect();
  if (r < 0) {
    std::string keyring = o_.keyring.empty() ? "the keyring ceph.conf names"
                                             : "keyring " + QuoteObjectName(o_.keyring);
    switch (-r) {
      case EACCES:
      case EPERM:
        return PermissionDeniedError(fmt::format(
            "The Ceph cluster of {} refused the credentials of {} ({}): check 'username' and "
            "that {} holds its key (ceph auth get {})",
            QuoteObjectName(conf), entity, std::strerror(-r), keyring, entity));
      case ENOENT:
        return NotFoundError(fmt::format(
            "No key for {} in {} (Ceph config {}): set 'keyring' of the storage or add the key",
            entity, keyring, QuoteObjectName(conf)));
      case ETIMEDOUT:
      case ENOTCONN:
      case ECONNREFUSED:
        return UnavailableError(fmt::format(
            "Cannot reach the Ceph cluster of {} within {} s: are its monitors (mon_host) up and "
            "reachable? ({})",
            QuoteObjectName(conf), o_.timeout_s, std::strerror(-r)));
      default:
        return ErrnoError(-r, fmt::format("Cannot connect to the Ceph cluster of {} as {}",
                                          QuoteObjectName(conf), entity));
    }
  }
  r = rados_.ioctx_create(o_.pool.c_str(), io_);
  if (r == -ENOENT)
    return NotFoundError(fmt::format(
        "Ceph pool '{}' does not exist in the cluster of {} (create it: ceph osd pool create {})",
        o_.pool, QuoteObjectName(conf), o_.pool));
  if (r < 0)
    return ErrnoError(
        -r, fmt::format("Cannot open the Ceph pool '{}' of {}", o_.pool, QuoteObjectName(conf)));
  io_.set_namespace(o_.ns);
  return Status::OK();
}

Status RadosBackend::IndexAdd(const std::string& name) {
  librados::ObjectWriteOperation op;
  op.omap_set({{name, Copy(IndexValue())}});
  int r = io_.operate(std::string(kRadosIndexObject), &op);
  if (r < 0) return Error(r, "add to the index", name);
  return Status::OK();
}

Status RadosBackend::IndexRemove(const std::string& name) {
  librados::ObjectWriteOperation op;
  op.omap_rm_keys({name});
  int r = io_.operate(std::string(kRadosIndexObject), &op);
  if (r < 0 && r != -ENOENT) return Error(r, "remove from the index", name);
  return Status::OK();
}

Status RadosBackend::IndexList(const std::string& prefix,
                               std::map<std::string, librados::bufferlist>* out) {
  std::string after;
  for (;;) {
    librados::ObjectReadOperation op;
    std::map<std::string, librados::bufferlist> page;
    bool more = false;
    int rv = 0;
    op.omap_get_vals2(after, prefix, kRadosIndexPage, &page, &more, &rv);
    int r = io_.operate(std::string(kRadosIndexObject), &op, nullptr);
    if (r == -ENOENT) return Status::OK();  // nothing indexed yet
    if (r < 0) return Error(r, "list the index at", prefix);
    if (page.empty()) return Status::OK();
    after = page.rbegin()->first;
    out->merge(page);
    if (!more) return Status::OK();
  }
}

template <typename F>
Status RadosBackend::Scan(F&& f) {
  librados::ObjectCursor cursor = io_.object_list_begin();
  librados::ObjectCursor end = io_.object_list_end();
  std::vector<librados::ObjectItem> items;
  while (!io_.object_list_is_end(cursor)) {
    items.clear();
    librados::ObjectCursor next;
    int r = io_.object_list(cursor, end, kScanPage, {}, &items, &next);
    if (r < 0) return Error(r, "list the objects of", "");
    for (const auto& item : items) {
      if (!f(item.oid)) return Status::OK();
    }
    cursor = next;
  }
  return Status::OK();
}

Result<bool> RadosBackend::PutIfAbsent(const std::string& name, std::string_view data, Durability) {
  RETURN_IF_ERROR(ValidateObjectName(name));
  if (Indexed(name)) RETURN_IF_ERROR(IndexAdd(name));
  librados::ObjectWriteOperation op;
  op.create(true);
  op.write_full(View(data));
  int r = io_.operate(name, &op);
  if (r == -EEXIST) return false;
  if (r < 0) return Error(r, "put", name);
  return true;
}

Status RadosBackend::Put(const std::string& name, std::string_view data) {
  RETURN_IF_ERROR(ValidateObjectName(name));
  if (Indexed(name)) RETURN_IF_ERROR(IndexAdd(name));
  librados::ObjectWriteOperation op;
  op.write_full(View(data));
  int r = io_.operate(name, &op);
  if (r < 0) return Error(r, "put", name);
  return Status::OK();
}

Status RadosBackend::Touch(const std::string& name) {
  RETURN_IF_ERROR(ValidateObjectName(name));
  // Any write op sets the object's mtime (to the client's clock); setxattr
  // is one that changes no byte of the content. assert_exists: never create
  // the object.
  librados::ObjectWriteOperation op;
  op.assert_exists();
  op.setxattr(kTouchXattr, librados::bufferlist());
  int r = io_.operate(name, &op);
  if (r < 0) return Error(r, "touch", name);
  return Status::OK();
}

Result<std::string> RadosBackend::Get(const std::string& name, uint64_t max_size) {
  RETURN_IF_ERROR(ValidateObjectName(name));
  librados::ObjectReadOperation op;
  uint64_t size = 0;
  timespec mtime{};
  int stat_rv = 0;
  int read_rv = 0;
  librados::bufferlist bl;
  op.stat2(&size, &mtime, &stat_rv);
  op.read(0, max_size < kBoundedReadLimit ? max_size + 1 : 0, &bl, &read_rv);
  int r = io_.operate(name, &op, nullptr);
  if (r < 0) return Error(r, "get", name);
  if (size > max_size || bl.length() > max_size)
    return DataLossError(fmt::format("Object {} in {} is {} bytes, more than the limit of {}",
                                     QuoteObjectName(name), Describe(),
                                     std::max<uint64_t>(size, bl.length()), max_size));
  if (bl.length() != size)
    return DataLossError(fmt::format("Object {} in {}: read {} of its {} bytes",
                                     QuoteObjectName(name), Describe(), bl.length(), size));
  return bl.to_str();
}

Result<ObjectStat> RadosBackend::Stat(const std::string& name) {
  RETURN_IF_ERROR(ValidateObjectName(name));
  uint64_t size = 0;
  timespec mtime{};
  int r = io_.stat2(name, &size, &mtime);
  if (r < 0) return Error(r, "stat", name);
  return ObjectStat{size, int64_t{mtime.tv_sec} * 1000000000 + mtime.tv_nsec};
}

Result<std::vector<std::string>> RadosBackend::List(const std::string& prefix) {
  RETURN_IF_ERROR(ValidateListPrefix(prefix));
  std::vector<std::string> out;
  // Names below "chunks/" come from a namespace scan, all others from the
  // index; a prefix can reach both ("", "c", "chunks").
  bool chunks =
      StartsWith(prefix, kRadosUnindexedPrefix) || StartsWith(kRadosUnindexedPrefix, prefix);
  bool others = !StartsWith(prefix, kRadosUnindexedPrefix);
  if (others) {
    std::map<std::string, librados::bufferlist> index;
    RETURN_IF_ERROR(IndexList(prefix, &index));
    out.reserve(index.size());
    for (auto& entry : index) out.push_back(entry.first);
  }
  if (chunks) {
    size_t indexed = out.size();
    RETURN_IF_ERROR(Scan([&](const std::string& oid) {
      if (StartsWith(oid, prefix) && !Indexed(oid)) out.push_back(oid);
      return true;
    }));
    std::sort(out.begin() + static_cast<std::ptrdiff_t>(indexed), out.end());
    std::inplace_merge(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(indexed), out.end());
  }
  return out;
}

Status RadosBackend::Delete(const std::string& name) {
  RETURN_IF_ERROR(ValidateObjectName(name));
  int r = io_.remove(name);
  if (r < 0) return Error(r, "delete", name);
  if (!Indexed(name)) return Status::OK();
  RETURN_IF_ERROR(IndexRemove(name));
  // A put of the same name between the remove and now wrote its index entry
  // before we removed it: index it again (RemoveLeftovers repairs the rest).
  uint64_t size = 0;
  timespec mtime{};
  if (io_.stat2(name, &size, &mtime) == 0) RETURN_IF_ERROR(IndexAdd(name));
  return Status::OK();
}

Result<bool> RadosBackend::IsEmpty() {
  // Any object at all: the listing stops at the first one, but walks every
  // PG of the pool to find none (a new datastore's check, once).
  bool empty = true;
  RETURN_IF_ERROR(Scan([&](const std::string& oid) {
    if (Private(oid)) return true;
    empty = false;
    return false;
  }));
  return empty;
}

Result<LeftoverCount> RadosBackend::RemoveLeftovers(const std::string& prefix,
                                                    int64_t temps_older_than_ns, bool) {
  if (!prefix.empty() &&
      (prefix.back() != '/' || !ValidateObjectName(prefix.substr(0, prefix.size() - 1)).ok()))
    return InvalidArgumentError(fmt::format(
        "Invalid leftover prefix {}: not a name followed by '/'", QuoteObjectName(prefix)));
  LeftoverCount count;
  if (StartsWith(prefix, kRadosUnindexedPrefix)) return count;  // chunks are never indexed
  std::map<std::string, librados::bufferlist> index;
  RETURN_IF_ERROR(IndexList(prefix, &index));
  // Objects the index does not name (a put racing a delete of the same name
  // lost its entry): index them again. Read the index first: an object put
  // after that was indexed before it was written and is indexed again
  // harmlessly.
  // That repair walks the whole pool, so only the call for the whole store
  // ("", gc's first) does it.
  std::vector<std::string> unindexed;
  if (prefix.empty()) {
    RETURN_IF_ERROR(Scan([&](const std::string& oid) {
      if (!Private(oid) && Indexed(oid) && index.count(oid) == 0) unindexed.push_back(oid);
      return true;
    }));
  }
  for (const std::string& name : unindexed) RETURN_IF_ERROR(IndexAdd(name));
  // Entries without an object, older than the cutoff: a put that died before
  // writing its object, or a delete before removing its entry. Removed only
  // if nobody rewrote the entry meanwhile (omap_cmp on its value).
  for (const auto& [name, value] : index) {
    if (IndexTime(value) >= temps_older_than_ns) continue;
    uint64_t size = 0;
    timespec mtime{};
    int r = io_.stat2(name, &size, &mtime);
    if (r == 0) continue;
    if (r != -ENOENT) return Error(r, "stat", name);
    librados::ObjectWriteOperation op;
    int cmp_rv = 0;
    op.omap_cmp({{name, {value, LIBRADOS_CMPXATTR_OP_EQ}}}, &cmp_rv);
    op.omap_rm_keys({name});
    r = io_.operate(std::string(kRadosIndexObject), &op);
    if (r == -ECANCELED) continue;  // rewritten by a put meanwhile
    if (r < 0) return Error(r, "remove from the index", name);
    ++count.temps;
  }
  return count;
}

Result<bool> RadosBackend::AcquireLease(const std::string& name, const std::string& cookie,
                                        int duration_s, bool renew) {
  RETURN_IF_ERROR(ValidateObjectName(name));
  timeval duration{duration_s, 0};
  // MAY_RENEW: taking a lease this cookie already holds extends it;
  // MUST_RENEW: a renewal fails (-ENOENT) once the lease is gone.
  uint8_t flags = renew ? LIBRADOS_LOCK_FLAG_MUST_RENEW : LIBRADOS_LOCK_FLAG_MAY_RENEW;
  int r = io_.lock_exclusive(std::string(kRadosLeaseObject), name, cookie, "ctdump lease",
                             &duration, flags);
  if (r == 0) return true;
  if (r == -EBUSY || r == -EEXIST || (renew && r == -ENOENT)) return false;
  if (r == -EPERM || r == -EACCES)
    return PermissionDeniedError(fmt::format(
        "take the lease {} in {}: {}: leases are cls_lock calls, which need the 'x' OSD cap "
        "(ceph auth caps client.{} mon 'allow r' osd 'allow rwx pool={}')",
        QuoteObjectName(name), Describe(), std::strerror(-r), o_.username, o_.pool));
  return Error(r, "take the lease", name);
}

Status RadosBackend::ReleaseLease(const std::string& name, const std::string& cookie) {
  RETURN_IF_ERROR(ValidateObjectName(name));
  int r = io_.unlock(std::string(kRadosLeaseObject), name, cookie);
  if (r < 0 && r != -ENOENT) return Error(r, "release the lease", name);
  return Status::OK();
}

Result<bool> RadosBackend::LeaseHeld(const std::string& name) {
  RETURN_IF_ERROR(ValidateObjectName(name));
  int exclusive = 0;
  std::string tag;
  std::list<librados::locker_t> lockers;
  // cls_lock leaves out lockers whose expiration has passed (OSD clock).
  int r = io_.list_lockers(std::string(kRadosLeaseObject), name, &exclusive, &tag, &lockers);
  if (r == -ENOENT) return false;
  if (r < 0) return Error(r, "look up the lease", name);
  return !lockers.empty();
}

}  // namespace

Result<std::unique_ptr<ObjectBackend>> OpenRadosBackend(const RadosOptions& o) {
  if (o.pool.empty())
    return InvalidArgumentError("RADOS storage without a pool: set 'pool' of the storage");
  if (o.username.empty())
    return InvalidArgumentError("RADOS storage without a user: set 'username' (e.g. admin)");
  if (!o.ns.empty() && (!ValidateObjectName(o.ns).ok() || o.ns.find('/') != std::string::npos))
    return InvalidArgumentError(
        fmt::format("Invalid RADOS namespace {}: use letters, digits, '.', '_' and '-'",
                    QuoteObjectName(o.ns)));
  if (o.queue_depth < 1 || o.timeout_s < 1 || o.max_clock_skew_s < 0)
    return InvalidArgumentError(fmt::format(
        "Invalid RADOS options for pool '{}': queue depth {} and timeout {} s must be at least 1, "
        "max clock skew {} s not negative",
        o.pool, o.queue_depth, o.timeout_s, o.max_clock_skew_s));
  auto backend = std::make_unique<RadosBackend>(o);
  RETURN_IF_ERROR(backend->Connect());
  return std::unique_ptr<ObjectBackend>(std::move(backend));
}

}  // namespace ctdump::objstore
