// The RADOS backend against a real Ceph cluster: the fixture "ceph"
// (scripts/ceph-cluster.sh) runs one in $CTDUMP_TEST_CEPH_DIR with its
// ceph.conf there and the pool "ctdump". Without it every test fails.
//
// Each store is a fresh namespace of the pool, so the cases never see each
// other's objects.
#include "objstore/rados_backend.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <rados/librados.hpp>
#include <random>
#include <thread>

#include "objstore/backend_conformance.h"
#include "objstore/fault_backend.h"

namespace ctdump::objstore {
namespace {

using std::chrono::steady_clock;

constexpr char kPool[] = "ctdump";

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The fixture's cluster directory; fails the test (not skips) if unset.
std::string CephDir() {
  const char* dir = std::getenv("CTDUMP_TEST_CEPH_DIR");
  if (dir == nullptr || *dir == '\0') {
    ADD_FAILURE() << "CTDUMP_TEST_CEPH_DIR is not set: run through ctest (fixture \"ceph\")";
    return "/nonexistent";
  }
  return dir;
}

std::string CephConf() { return CephDir() + "/ceph.conf"; }

// A namespace no other test uses.
std::string FreshNamespace() {
  static std::atomic<int> counter{0};
  static const uint64_t run = std::random_device{}();
  return fmt::format("t{:x}-{}-{}", run & 0xffffff, getpid(), counter++);
}

RadosOptions Options(std::string ns) {
  RadosOptions o;
  o.pool = kPool;
  o.ceph_conf = CephConf();
  o.ns = std::move(ns);
  return o;
}

std::unique_ptr<ObjectBackend> Open(const RadosOptions& o) {
  auto b = OpenRadosBackend(o);
  if (!b.ok()) {
    ADD_FAILURE() << "cannot open " << o.pool << "/" << o.ns << ": " << b.status().ToString();
    return nullptr;
  }
  return std::move(*b);
}

std::unique_ptr<ObjectBackend> OpenFresh() { return Open(Options(FreshNamespace())); }

// librados beside the backend, for what the backend must not do itself:
// simulate a crash between the index and the object, write behind its back.
class Raw {
 public:
  explicit Raw(const std::string& ns) {
    ok_ = rados_.init2("client.admin", "ceph", 0) == 0 &&
          rados_.conf_read_file(CephConf().c_str()) == 0 && rados_.connect() == 0 &&
          rados_.ioctx_create(kPool, io_) == 0;
    io_.set_namespace(ns);
  }
  ~Raw() {
    io_.close();
    rados_.shutdown();
  }
  bool ok() const { return ok_; }
  librados::IoCtx& io() { return io_; }

 private:
  librados::Rados rados_;
  librados::IoCtx io_;
  bool ok_ = false;
};

librados::bufferlist Bytes(std::string_view s) {
  librados::bufferlist bl;
  bl.append(s.data(), static_cast<unsigned>(s.size()));
  return bl;
}

class RadosConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(RadosConformance, Case) { RunBackendConformanceCase(GetParam(), OpenFresh); }

INSTANTIATE_TEST_SUITE_P(Rados, RadosConformance, ::testing::ValuesIn(BackendConformanceCases()),
                         [](const auto& info) { return info.param; });

// The same suite through the fault decorator (no faults): what the
// datastore's fault tests wrap behaves as the plain backend.
class RadosFaultConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(RadosFaultConformance, Case) {
  RunBackendConformanceCase(GetParam(), []() -> std::unique_ptr<ObjectBackend> {
    auto inner = OpenFresh();
    if (!inner) return nullptr;
    return std::make_unique<FaultBackend>(std::move(inner), std::make_shared<FaultPlan>());
  });
}

INSTANTIATE_TEST_SUITE_P(RadosFault, RadosFaultConformance,
                         ::testing::ValuesIn(BackendConformanceCases()),
                         [](const auto& info) { return info.param; });

TEST(RadosBackendTest, DescribeAndKnobs) {
  RadosOptions o = Options(FreshNamespace());
  o.queue_depth = 24;
  o.max_clock_skew_s = 7;
  auto b = Open(o);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->Describe(), "rados:ctdump/" + o.ns);
  EXPECT_EQ(b->IoDepth(), 24);
  EXPECT_EQ(b->ClockSkewNs(), int64_t{7} * 1000000000);
  EXPECT_TRUE(b->HasLeases());
  o.ns = "";
  auto plain = Open(o);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->Describe(), "rados:ctdump");
  FaultBackend wrapped(std::move(b), std::make_shared<FaultPlan>());
  EXPECT_EQ(wrapped.IoDepth(), 24);
  EXPECT_EQ(wrapped.ClockSkewNs(), int64_t{7} * 1000000000);
  EXPECT_TRUE(wrapped.HasLeases());
}

TEST(RadosBackendTest, NamespacesAreIsolated) {
  auto one = OpenFresh();
  auto two = OpenFresh();
  ASSERT_TRUE(one && two);
  ASSERT_TRUE(one->PutIfAbsent("chunks/abcd/ab", "one").ok());
  ASSERT_TRUE(one->Put("snapshots/ct/100/x", "manifest").ok());
  EXPECT_TRUE(*two->IsEmpty());
  EXPECT_FALSE(*one->IsEmpty());
  EXPECT_TRUE(two->List("")->empty());
  EXPECT_EQ(two->Get("chunks/abcd/ab").status().code(), Code::kNotFound);
  auto put = two->PutIfAbsent("chunks/abcd/ab", "two");
  ASSERT_TRUE(put.ok());
  EXPECT_TRUE(*put);
  EXPECT_EQ(*one->Get("chunks/abcd/ab"), "one");
  EXPECT_EQ(*two->Get("chunks/abcd/ab"), "two");
  EXPECT_EQ(*one->List(""), (std::vector<std::string>{"chunks/abcd/ab", "snapshots/ct/100/x"}));
  // Leases too live in the namespace.
  EXPECT_TRUE(*one->AcquireLease("gc", "a", 30, false));
  EXPECT_FALSE(*two->LeaseHeld("gc"));
  EXPECT_TRUE(*two->AcquireLease("gc", "b", 30, false));
  EXPECT_TRUE(one->ReleaseLease("gc", "a").ok());
  EXPECT_TRUE(two->ReleaseLease("gc", "b").ok());
}

TEST(RadosBackendTest, ListMergesIndexAndChunks) {
  auto b = OpenFresh();
  ASSERT_TRUE(b);
  for (const char* name : {"chunks/0001/aa", "chunks/ff00/bb", "chunksx", "config", "locks/gc",
                           "snapshots/ct/100/2026-01-01T00.00.00Z/index.didx", "c"}) {
    ASSERT_TRUE(b->Put(name, name).ok()) << name;
  }
  EXPECT_EQ(*b->List(""), (std::vector<std::string>{
                              "c", "chunks/0001/aa", "chunks/ff00/bb", "chunksx", "config",
                              "locks/gc", "snapshots/ct/100/2026-01-01T00.00.00Z/index.didx"}));
  EXPECT_EQ(*b->List("chunks/"), (std::vector<std::string>{"chunks/0001/aa", "chunks/ff00/bb"}));
  EXPECT_EQ(*b->List("chunks/f"), (std::vector<std::string>{"chunks/ff00/bb"}));
  EXPECT_EQ(*b->List("chunks"),
            (std::vector<std::string>{"chunks/0001/aa", "chunks/ff00/bb", "chunksx"}));
  EXPECT_EQ(*b->List("c"), (std::vector<std::string>{"c", "chunks/0001/aa", "chunks/ff00/bb",
                                                     "chunksx", "config"}));
  EXPECT_EQ(*b->List("snapshots/ct/"),
            (std::vector<std::string>{"snapshots/ct/100/2026-01-01T00.00.00Z/index.didx"}));
  // The private objects (index, leases) are never listed and never make a
  // store non-empty.
  ASSERT_TRUE(*b->AcquireLease("gc", "me", 30, false));
  for (const char* name : {"chunks/0001/aa", "chunks/ff00/bb", "chunksx", "config", "locks/gc",
                           "snapshots/ct/100/2026-01-01T00.00.00Z/index.didx", "c"}) {
    ASSERT_TRUE(b->Delete(name).ok()) << name;
  }
  EXPECT_TRUE(b->List("")->empty());
  EXPECT_TRUE(*b->IsEmpty());
  EXPECT_TRUE(b->ReleaseLease("gc", "me").ok());
}

TEST(RadosBackendTest, IndexLeftoversOfACrashAreReconciled) {
  std::string ns = FreshNamespace();
  auto b = Open(Options(ns));
  Raw raw(ns);
  ASSERT_TRUE(b && raw.ok());
  ASSERT_TRUE(b->Put("snapshots/ct/100/t/manifest", "kept").ok());
  // A put that died after writing its index entry, an hour ago: listed, not
  // readable.
  int64_t hour_ago =
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch() - std::chrono::hours(1))
          .count();
  librados::ObjectWriteOperation crash;
  crash.omap_set({{"snapshots/ct/100/t/index.didx", Bytes(fmt::format("{} 0", hour_ago))}});
  ASSERT_EQ(raw.io().operate(std::string(kRadosIndexObject), &crash), 0);
  EXPECT_EQ(*b->List("snapshots/"), (std::vector<std::string>{"snapshots/ct/100/t/index.didx",
                                                              "snapshots/ct/100/t/manifest"}));
  EXPECT_EQ(b->Get("snapshots/ct/100/t/index.didx").status().code(), Code::kNotFound);
  EXPECT_EQ(b->Stat("snapshots/ct/100/t/index.didx").status().code(), Code::kNotFound);
  // An object written behind the index's back (a put that lost a race with
  // a delete of the same name): not listed until reconciled.
  librados::bufferlist lock = Bytes("lock");
  ASSERT_EQ(raw.io().write_full("locks/orphan", lock), 0);
  EXPECT_TRUE(b->List("locks/")->empty());

  // A cutoff before the crash removes nothing from the index...
  auto none = b->RemoveLeftovers("", hour_ago - 1000000000, true);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->temps, 0u);
  EXPECT_EQ(b->List("snapshots/")->size(), 2u);
  // ...but the unindexed object is indexed again (it is an object: never
  // removed for lack of an entry).
  EXPECT_EQ(*b->List("locks/"), (std::vector<std::string>{"locks/orphan"}));
  // A cutoff after it removes the dead entry only; a prefix limits it.
  auto other = b->RemoveLeftovers("locks/", hour_ago + 1000000000, true);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->temps, 0u);
  auto removed = b->RemoveLeftovers("snapshots/", hour_ago + 1000000000, true);
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(removed->temps, 1u);
  EXPECT_EQ(*b->List(""),
            (std::vector<std::string>{"locks/orphan", "snapshots/ct/100/t/manifest"}));
  EXPECT_EQ(*b->Get("snapshots/ct/100/t/manifest"), "kept");
  EXPECT_EQ(*b->Get("locks/orphan"), "lock");
  // A fresh entry (a put in progress) is left alone at any cutoff before it.
  auto fresh = b->RemoveLeftovers("", hour_ago, true);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->temps, 0u);
  EXPECT_EQ(b->RemoveLeftovers("bad", 0, true).status().code(), Code::kInvalidArgument);
}

TEST(RadosBackendTest, TouchUpdatesMtimeAndNeverCreates) {
  std::string ns = FreshNamespace();
  auto b = Open(Options(ns));
  Raw raw(ns);
  ASSERT_TRUE(b && raw.ok());
  // An object last written a day ago (the stamp a client sets).
  librados::ObjectWriteOperation old;
  old.write_full(Bytes("content"));
  timespec day_ago{time(nullptr) - 86400, 0};
  old.mtime2(&day_ago);
  ASSERT_EQ(raw.io().operate("chunks/0000/old", &old), 0);
  auto before = b->Stat("chunks/0000/old");
  ASSERT_TRUE(before.ok());
  // librados stamps writes with the client's clock: the OSD keeps it.
  EXPECT_EQ(before->mtime_ns, int64_t{day_ago.tv_sec} * 1000000000);
  int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  ASSERT_TRUE(b->Touch("chunks/0000/old").ok());
  auto after = b->Stat("chunks/0000/old");
  ASSERT_TRUE(after.ok());
  EXPECT_GE(after->mtime_ns, now_ns - 1000000000);
  EXPECT_EQ(after->size, 7u);
  EXPECT_EQ(*b->Get("chunks/0000/old"), "content");
  Status missing = b->Touch("chunks/0000/missing");
  EXPECT_EQ(missing.code(), Code::kNotFound) << missing.ToString();
  EXPECT_TRUE(Contains(missing.message(), "chunks/0000/missing")) << missing.ToString();
  EXPECT_EQ(b->Stat("chunks/0000/missing").status().code(), Code::kNotFound);
}

TEST(RadosBackendTest, GetRefusesObjectsBeyondTheLimit) {
  auto b = OpenFresh();
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->Put("m", std::string(100, 'm')).ok());
  EXPECT_EQ(b->Get("m", 100)->size(), 100u);
  auto big = b->Get("m", 99);
  EXPECT_EQ(big.status().code(), Code::kDataLoss) << big.status().ToString();
  EXPECT_TRUE(Contains(big.status().message(), "\"m\"")) << big.status().ToString();
  EXPECT_TRUE(Contains(big.status().message(), "99")) << big.status().ToString();
  EXPECT_EQ(b->Get("m", 0).status().code(), Code::kDataLoss);
}

TEST(RadosBackendTest, LeasesExpireOnTheOsdClock) {
  std::string ns = FreshNamespace();
  auto a = Open(Options(ns));
  auto b = Open(Options(ns));  // another client (host)
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(*a->LeaseHeld("gc"));
  auto got = a->AcquireLease("gc", "host-a", 2, false);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got);
  EXPECT_TRUE(*a->LeaseHeld("gc"));
  EXPECT_TRUE(*b->LeaseHeld("gc"));
  EXPECT_FALSE(*b->AcquireLease("gc", "host-b", 2, false));
  EXPECT_FALSE(*a->AcquireLease("gc", "other-cookie", 2, false));
  EXPECT_FALSE(*b->AcquireLease("gc", "host-b", 2, true));  // b holds nothing to renew
  // Taking it again and renewing extend it.
  EXPECT_TRUE(*a->AcquireLease("gc", "host-a", 2, false));
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  auto renewed = a->AcquireLease("gc", "host-a", 2, true);
  ASSERT_TRUE(renewed.ok()) << renewed.status().ToString();
  EXPECT_TRUE(*renewed);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_TRUE(*b->LeaseHeld("gc"));  // 2.4 s after taking, 1.2 s after renewing
  EXPECT_FALSE(*b->AcquireLease("gc", "host-b", 2, false));
  // Host a dies: its lease expires, and nobody holds it any more.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_FALSE(*b->LeaseHeld("gc"));
  EXPECT_FALSE(*a->LeaseHeld("gc"));
  EXPECT_FALSE(*a->AcquireLease("gc", "host-a", 2, true));  // expired: no renewal
  EXPECT_TRUE(*b->AcquireLease("gc", "host-b", 30, false));
  EXPECT_FALSE(*a->AcquireLease("gc", "host-a", 2, false));
  // Release: only the holder's counts; releasing what one does not hold is OK.
  EXPECT_TRUE(a->ReleaseLease("gc", "host-a").ok());
  EXPECT_TRUE(*a->LeaseHeld("gc"));
  EXPECT_TRUE(b->ReleaseLease("gc", "host-b").ok());
  EXPECT_FALSE(*a->LeaseHeld("gc"));
  EXPECT_TRUE(*a->AcquireLease("gc", "host-a", 30, false));
  // Leases of other names are independent and never listed.
  EXPECT_TRUE(*b->AcquireLease("backup-100", "host-b", 30, false));
  EXPECT_TRUE(a->List("")->empty());
  EXPECT_TRUE(*a->IsEmpty());
  EXPECT_TRUE(a->ReleaseLease("gc", "host-a").ok());
  EXPECT_TRUE(b->ReleaseLease("backup-100", "host-b").ok());
  EXPECT_EQ(a->AcquireLease("../x", "c", 2, false).status().code(), Code::kInvalidArgument);
}

TEST(RadosBackendTest, ConcurrentClientsPutOneObject) {
  std::string ns = FreshNamespace();
  constexpr int kClients = 4;
  std::vector<std::unique_ptr<ObjectBackend>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(Open(Options(ns)));
  for (auto& c : clients) ASSERT_TRUE(c);
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      auto put = clients[i]->PutIfAbsent("snapshots/ct/1/t/manifest", "by " + std::to_string(i));
      if (put.ok() && *put) ++winners;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
  EXPECT_EQ(clients[0]->List("snapshots/")->size(), 1u);
}

// The fixture's least-privilege user (client.ctdump: mon 'allow r', osd caps
// on the pool only) can do everything the datastore does, leases included
// (cls_lock is an object class call).
TEST(RadosBackendTest, LeastPrivilegeUserSuffices) {
  RadosOptions o = Options(FreshNamespace());
  o.username = "ctdump";
  auto b = Open(o);
  ASSERT_TRUE(b);
  auto put = b->PutIfAbsent("chunks/0000/x", "x");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  ASSERT_TRUE(b->Put("locks/gc", "gc").ok());
  EXPECT_EQ(*b->List(""), (std::vector<std::string>{"chunks/0000/x", "locks/gc"}));
  ASSERT_TRUE(b->Touch("chunks/0000/x").ok());
  auto lease = b->AcquireLease("gc", "me", 30, false);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_TRUE(*lease);
  auto held = b->LeaseHeld("gc");
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  EXPECT_TRUE(*held);
  EXPECT_TRUE(b->ReleaseLease("gc", "me").ok());
  auto left = b->RemoveLeftovers("", 0, false);
  EXPECT_TRUE(left.ok()) << left.status().ToString();
  EXPECT_TRUE(b->Delete("locks/gc").ok());
  EXPECT_TRUE(b->Delete("chunks/0000/x").ok());
  EXPECT_TRUE(*b->IsEmpty());
}

// --- Errors at open: each names the problem and the fix ---

TEST(RadosBackendTest, MissingPoolIsNamed) {
  RadosOptions o = Options("");
  o.pool = "no-such-pool";
  auto b = OpenRadosBackend(o);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Code::kNotFound);
  EXPECT_TRUE(Contains(b.status().message(), "'no-such-pool' does not exist"))
      << b.status().ToString();
  EXPECT_TRUE(Contains(b.status().message(), "ceph osd pool create no-such-pool"))
      << b.status().ToString();
  std::cout << b.status().ToString() << "\n";
}

TEST(RadosBackendTest, MissingConfIsNamed) {
  RadosOptions o = Options("");
  o.ceph_conf = CephDir() + "/no-such.conf";
  auto b = OpenRadosBackend(o);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Code::kNotFound);
  EXPECT_TRUE(Contains(b.status().message(), o.ceph_conf)) << b.status().ToString();
  EXPECT_TRUE(Contains(b.status().message(), "ceph-conf")) << b.status().ToString();
  std::cout << b.status().ToString() << "\n";
}

TEST(RadosBackendTest, OptionsAreChecked) {
  RadosOptions o = Options("");
  o.pool = "";
  EXPECT_EQ(OpenRadosBackend(o).status().code(), Code::kInvalidArgument);
  o = Options("bad/ns");
  EXPECT_EQ(OpenRadosBackend(o).status().code(), Code::kInvalidArgument);
  o = Options("");
  o.queue_depth = 0;
  EXPECT_EQ(OpenRadosBackend(o).status().code(), Code::kInvalidArgument);
}

// A cephx key of the right form with a random secret.
std::string RandomKey() {
  std::string raw = {1, 0};  // type AES
  uint32_t created = static_cast<uint32_t>(time(nullptr));
  for (int i = 0; i < 4; ++i) raw += static_cast<char>((created >> (8 * i)) & 0xff);
  raw += std::string(4, '\0');  // nsec
  raw += std::string("\x10\x00", 2);
  std::mt19937 rng{std::random_device{}()};
  for (int i = 0; i < 16; ++i) raw += static_cast<char>(rng() & 0xff);
  static const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < raw.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(raw[i]) << 16;
    if (i + 1 < raw.size()) v |= static_cast<uint8_t>(raw[i + 1]) << 8;
    if (i + 2 < raw.size()) v |= static_cast<uint8_t>(raw[i + 2]);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < raw.size() ? kB64[(v >> 6) & 63] : '=';
    out += i + 2 < raw.size() ? kB64[v & 63] : '=';
  }
  return out;
}

TEST(RadosBackendTest, WrongCredentialsAreNamed) {
  std::string keyring = fmt::format("/tmp/ctdump-rados-test-{}.keyring", getpid());
  {
    std::ofstream f(keyring);
    f << "[client.admin]\n\tkey = " << RandomKey() << "\n";
  }
  RadosOptions o = Options("");
  o.keyring = keyring;
  o.timeout_s = 10;
  auto start = steady_clock::now();
  auto b = OpenRadosBackend(o);
  auto took = steady_clock::now() - start;
  unlink(keyring.c_str());
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Code::kPermissionDenied) << b.status().ToString();
  EXPECT_TRUE(Contains(b.status().message(), "client.admin")) << b.status().ToString();
  EXPECT_TRUE(Contains(b.status().message(), keyring)) << b.status().ToString();
  EXPECT_LT(took, std::chrono::seconds(10));
  std::cout << b.status().ToString() << "\n";
  // A user the cluster does not know.
  o = Options("");
  o.username = "nobody";
  o.keyring = "";
  b = OpenRadosBackend(o);
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(Contains(b.status().message(), "client.nobody")) << b.status().ToString();
  std::cout << b.status().ToString() << "\n";
}

TEST(RadosBackendTest, UnreachableClusterFailsWithinTheTimeout) {
  // A copy of the conf whose monitor is a port nobody listens on.
  std::string conf = fmt::format("/tmp/ctdump-rados-test-{}.conf", getpid());
  {
    std::ifstream in(CephConf());
    ASSERT_TRUE(in.good()) << CephConf();
    std::ofstream out(conf);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find("mon host") != std::string::npos || line.find("mon_host") != std::string::npos)
        line = "mon host = v2:127.0.0.1:9";  // discard: closed
      out << line << "\n";
    }
  }
  RadosOptions o = Options("");
  o.ceph_conf = conf;
  o.timeout_s = 3;
  auto start = steady_clock::now();
  auto b = OpenRadosBackend(o);
  auto took = steady_clock::now() - start;
  unlink(conf.c_str());
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Code::kUnavailable) << b.status().ToString();
  EXPECT_TRUE(Contains(b.status().message(), "Cannot reach the Ceph cluster"))
      << b.status().ToString();
  EXPECT_TRUE(Contains(b.status().message(), "within 3 s")) << b.status().ToString();
  EXPECT_LT(took, std::chrono::seconds(6));
  std::cout << b.status().ToString() << "\n";
  std::cout << "unreachable cluster: error after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
}

// A private cluster (scripts/ceph-cluster.sh, one memstore OSD) this test
// may break; always stopped.
class PrivateCluster {
 public:
  PrivateCluster() : dir_(fmt::format("/tmp/ctdump-rados-test-{}-cluster", getpid())) {
    started_ = Run("start") == 0;
  }
  ~PrivateCluster() {
    Signal("osd.0", SIGCONT);
    if (Run("stop") != 0) ADD_FAILURE() << "cannot stop the cluster in " << dir_;
  }
  bool started() const { return started_; }
  std::string conf() const { return dir_ + "/ceph.conf"; }
  // The daemon's own pid file (run/<name>.pid may name a setsid that
  // forked it).
  void Signal(const std::string& daemon, int sig) const {
    std::ifstream f(dir_ + "/run/" + daemon + ".daemonpid");
    pid_t pid = 0;
    if (f >> pid && pid > 1) {
      kill(pid, sig);
    } else {
      ADD_FAILURE() << "no pid file of " << daemon << " in " << dir_;
    }
  }

 private:
  int Run(const std::string& command) const {
    std::string cmd = fmt::format("CEPH_DIR='{}' OSD_STORE=memstore bash '{}' {} >'{}.log' 2>&1",
                                  dir_, CTDUMP_CEPH_CLUSTER_SCRIPT, command, dir_);
    int rc = std::system(cmd.c_str());
    if (rc != 0) {
      std::ifstream log(dir_ + ".log");
      std::stringstream text;
      text << log.rdbuf();
      ADD_FAILURE() << "ceph-cluster.sh " << command << " failed:\n" << text.str();
    } else {
      unlink((dir_ + ".log").c_str());
    }
    return rc;
  }

  std::string dir_;
  bool started_ = false;
};

// An OSD that stops answering (SIGSTOP: its sockets stay open, as after a
// power loss) fails ops after the op timeout instead of hanging them, and
// the backend works again once it answers.
TEST(RadosBackendTest, HungOsdFailsOpsAfterTheTimeout) {
  PrivateCluster cluster;
  ASSERT_TRUE(cluster.started());
  // The OSD op timeout is max(timeout_s, 3 x osd_heartbeat_grace) as the
  // client reads it: a grace of 1 s here makes it 3 s.
  std::string conf = cluster.conf() + ".client";
  {
    std::ifstream in(cluster.conf());
    std::ofstream out(conf);
    out << in.rdbuf() << "\n[client]\nosd heartbeat grace = 1\n";
  }
  RadosOptions o = Options(FreshNamespace());
  o.ceph_conf = conf;
  o.timeout_s = 3;
  auto b = Open(o);
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->Put("chunks/0000/before", "x").ok());
  cluster.Signal("osd.0", SIGSTOP);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto start = steady_clock::now();
  auto put = b->PutIfAbsent("chunks/0000/during", "y");
  auto took = steady_clock::now() - start;
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), Code::kDeadlineExceeded) << put.status().ToString();
  EXPECT_TRUE(Contains(put.status().message(), "chunks/0000/during")) << put.status().ToString();
  EXPECT_GE(took, std::chrono::milliseconds(2500));
  EXPECT_LT(took, std::chrono::seconds(8));
  std::cout << put.status().ToString() << " (after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms)\n";
  cluster.Signal("osd.0", SIGCONT);
  auto again = b->Get("chunks/0000/before");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, "x");
  unlink(conf.c_str());
}

}  // namespace
}  // namespace ctdump::objstore
