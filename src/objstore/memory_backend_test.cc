#include "objstore/memory_backend.h"

#include <gtest/gtest.h>

#include <atomic>

#include "objstore/backend_conformance.h"

namespace ctdump::objstore {
namespace {

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

MemoryBackendOptions Labelled(std::string label) {
  MemoryBackendOptions o;
  o.label = std::move(label);
  return o;
}

MemoryBackendOptions Clocked(std::function<int64_t()> clock) {
  MemoryBackendOptions o;
  o.clock_ns = std::move(clock);
  return o;
}

class MemoryBackendConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(MemoryBackendConformance, Case) {
  RunBackendConformanceCase(GetParam(), [] { return std::make_unique<MemoryBackend>(); });
}

INSTANTIATE_TEST_SUITE_P(Memory, MemoryBackendConformance,
                         ::testing::ValuesIn(BackendConformanceCases()),
                         [](const auto& info) { return info.param; });

TEST(MemoryBackendTest, DescribeNamesTheLabel) {
  MemoryBackend b(Labelled("unit"));
  EXPECT_EQ(b.Describe(), "memory:unit");
  EXPECT_EQ(b.Share("other")->Describe(), "memory:other");
  auto missing = b.Get("x");
  EXPECT_TRUE(Contains(missing.status().message(), "memory:unit")) << missing.status().ToString();
}

TEST(MemoryBackendTest, SharedBackendsSeeTheSameObjects) {
  auto first = std::make_unique<MemoryBackend>();
  std::unique_ptr<MemoryBackend> second = first->Share("second");
  ASSERT_TRUE(first->PutIfAbsent("a/b", "one").ok());
  auto got = second->Get("a/b");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "one");
  auto again = second->PutIfAbsent("a/b", "two");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  first.reset();  // the store lives on in the other backend
  ASSERT_TRUE(second->Delete("a/b").ok());
  EXPECT_TRUE(*second->IsEmpty());
}

TEST(MemoryBackendTest, DeferredPutsAreLostByACrashUntilSynced) {
  MemoryBackend b;
  ASSERT_TRUE(b.PutIfAbsent("chunks/1", "c1", Durability::kDeferred).ok());
  ASSERT_TRUE(b.PutIfAbsent("chunks/2", "c2", Durability::kDeferred).ok());
  ASSERT_TRUE(b.PutIfAbsent("sync/put", "s").ok());
  ASSERT_TRUE(b.Put("mutable", "m").ok());
  EXPECT_EQ(b.Unsynced(), (std::vector<std::string>{"chunks/1", "chunks/2"}));
  // A kSync put-if-absent that finds a deferred object makes it durable:
  // "already existed" must be as durable as "written".
  auto existed = b.PutIfAbsent("chunks/2", "c2");
  ASSERT_TRUE(existed.ok());
  EXPECT_FALSE(*existed);
  EXPECT_EQ(b.DropUnsynced(), std::vector<std::string>{"chunks/1"});
  EXPECT_EQ(b.Get("chunks/1").status().code(), Code::kNotFound);
  EXPECT_TRUE(b.Get("chunks/2").ok());
  EXPECT_EQ(b.ObjectCount(), 3u);

  ASSERT_TRUE(b.PutIfAbsent("chunks/3", "c3", Durability::kDeferred).ok());
  ASSERT_TRUE(b.Sync().ok());
  EXPECT_TRUE(b.Unsynced().empty());
  EXPECT_TRUE(b.DropUnsynced().empty());
  EXPECT_TRUE(b.Get("chunks/3").ok());
  // A deleted deferred object is not "lost" by a later crash.
  ASSERT_TRUE(b.PutIfAbsent("chunks/4", "c4", Durability::kDeferred).ok());
  ASSERT_TRUE(b.Delete("chunks/4").ok());
  EXPECT_TRUE(b.Unsynced().empty());
}

TEST(MemoryBackendTest, MtimesComeFromTheClock) {
  std::atomic<int64_t> now{1'000};
  MemoryBackend b(Clocked([&now] { return now.load(); }));
  ASSERT_TRUE(b.PutIfAbsent("x", "data").ok());
  EXPECT_EQ(b.Stat("x")->mtime_ns, 1'000);
  now = 2'000;
  ASSERT_TRUE(b.Touch("x").ok());
  EXPECT_EQ(b.Stat("x")->mtime_ns, 2'000);
  now = 3'000;
  ASSERT_TRUE(b.Put("x", "new").ok());
  EXPECT_EQ(b.Stat("x")->mtime_ns, 3'000);
  now = 4'000;
  ASSERT_TRUE(b.PutIfAbsent("x", "other").ok());  // exists: no write, no new mtime
  EXPECT_EQ(b.Stat("x")->mtime_ns, 3'000);
  ASSERT_TRUE(b.SetMtime("x", 5).ok());
  EXPECT_EQ(b.Stat("x")->mtime_ns, 5);
  EXPECT_EQ(b.SetMtime("missing", 5).code(), Code::kNotFound);
  // Shared backends use the same clock.
  ASSERT_TRUE(b.Share("s")->PutIfAbsent("y", "").ok());
  EXPECT_EQ(b.Stat("y")->mtime_ns, 4'000);
}

TEST(MemoryBackendTest, OverwriteDamagesWithoutAWrite) {
  MemoryBackend b(Clocked([] { return int64_t{77}; }));
  ASSERT_TRUE(b.PutIfAbsent("x", "good").ok());
  ASSERT_TRUE(b.SetMtime("x", 5).ok());
  ASSERT_TRUE(b.Overwrite("x", "bad!!").ok());
  EXPECT_EQ(*b.Get("x"), "bad!!");
  EXPECT_EQ(b.Stat("x")->mtime_ns, 5);
  EXPECT_EQ(b.Stat("x")->size, 5u);
  EXPECT_EQ(b.Overwrite("y", "").code(), Code::kNotFound);
  EXPECT_EQ(b.TotalBytes(), 5u);
}

TEST(MemoryBackendTest, ObjectAndDirectoryOfOthersConflict) {
  MemoryBackend b;
  ASSERT_TRUE(b.PutIfAbsent("a/b/c", "x").ok());
  for (const char* name : {"a", "a/b"}) {
    auto p = b.PutIfAbsent(name, "y");
    EXPECT_EQ(p.status().code(), Code::kFailedPrecondition) << name;
    EXPECT_TRUE(Contains(p.status().message(), std::string("\"") + name + "\""))
        << p.status().ToString();
    EXPECT_EQ(b.Put(name, "y").code(), Code::kFailedPrecondition) << name;
  }
  EXPECT_EQ(b.PutIfAbsent("a/b/c/d", "z").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(b.Put("a/b/c/d", "z").code(), Code::kFailedPrecondition);
  EXPECT_EQ(*b.List(""), std::vector<std::string>{"a/b/c"});
  // Names that only share a prefix do not conflict.
  EXPECT_TRUE(b.PutIfAbsent("a/b-c", "ok").ok());
  EXPECT_TRUE(b.PutIfAbsent("a/bc", "ok").ok());
  // No directories: once the objects below are gone, the name is free.
  ASSERT_TRUE(b.Delete("a/b/c").ok());
  EXPECT_TRUE(b.PutIfAbsent("a/b", "now an object").ok());
}

TEST(MemoryBackendTest, GetIsBoundedByMaxSize) {
  MemoryBackend b;
  ASSERT_TRUE(b.Put("obj", std::string(100, 'x')).ok());
  EXPECT_TRUE(b.Get("obj", 100).ok());
  auto big = b.Get("obj", 99);
  EXPECT_EQ(big.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(big.status().message(), "\"obj\"")) << big.status().ToString();
  EXPECT_TRUE(Contains(big.status().message(), "99")) << big.status().ToString();
}

TEST(MemoryBackendTest, NoLeftoversAndEmptinessIsNoObject) {
  MemoryBackend b;
  EXPECT_TRUE(*b.IsEmpty());
  ASSERT_TRUE(b.PutIfAbsent("snapshots/x", "x").ok());
  EXPECT_FALSE(*b.IsEmpty());
  for (const char* prefix : {"", "snapshots/"}) {
    auto r = b.RemoveLeftovers(prefix, INT64_MAX, true);
    ASSERT_TRUE(r.ok()) << prefix;
    EXPECT_EQ(r->temps, 0u);
    EXPECT_EQ(r->dirs, 0u);
  }
  for (const char* bad : {"snapshots", "../", "a//"}) {
    EXPECT_EQ(b.RemoveLeftovers(bad, 0, true).status().code(), Code::kInvalidArgument) << bad;
  }
  ASSERT_TRUE(b.Delete("snapshots/x").ok());
  EXPECT_TRUE(*b.IsEmpty());
}

TEST(MemoryBackendTest, WithoutLeasesAsALocalDirectory) {
  MemoryBackend b;
  EXPECT_FALSE(b.HasLeases());
  EXPECT_EQ(b.IoDepth(), 0);
  EXPECT_EQ(b.ClockSkewNs(), 0);
  EXPECT_EQ(b.AcquireLease("locks/gc", "me", 10, false).status().code(), Code::kUnavailable);
  EXPECT_EQ(b.ReleaseLease("locks/gc", "me").code(), Code::kUnavailable);
  EXPECT_EQ(b.LeaseHeld("locks/gc").status().code(), Code::kUnavailable);
}

MemoryBackendOptions Leased(std::atomic<int64_t>* now) {
  MemoryBackendOptions o;
  o.clock_ns = [now] { return now->load(); };
  o.leases = true;
  o.io_depth = 16;
  o.clock_skew_ns = 7'000'000'000;
  return o;
}

constexpr int64_t kSecond = 1'000'000'000;

TEST(MemoryBackendTest, LeasesAreExclusiveUntilTheyExpire) {
  std::atomic<int64_t> now{100 * kSecond};
  MemoryBackend a(Leased(&now));
  std::unique_ptr<MemoryBackend> b = a.Share("other host");
  EXPECT_TRUE(a.HasLeases());
  EXPECT_TRUE(b->HasLeases());
  EXPECT_EQ(b->IoDepth(), 16);
  EXPECT_EQ(b->ClockSkewNs(), 7 * kSecond);
  EXPECT_FALSE(*a.LeaseHeld("locks/gc"));
  EXPECT_TRUE(*a.AcquireLease("locks/gc", "host-a", 10, false));
  EXPECT_TRUE(*b->LeaseHeld("locks/gc"));
  EXPECT_EQ(b->LeaseHolder("locks/gc"), "host-a");
  EXPECT_FALSE(*b->AcquireLease("locks/gc", "host-b", 10, false));
  EXPECT_FALSE(*b->AcquireLease("locks/gc", "host-b", 10, true));  // not b's to renew
  // A lease is no object.
  EXPECT_TRUE(a.List("")->empty());
  EXPECT_TRUE(*a.IsEmpty());
  // Renewed before it expires: held on past the first expiry.
  now += 9 * kSecond;
  EXPECT_TRUE(*a.AcquireLease("locks/gc", "host-a", 10, true));
  now += 9 * kSecond;
  EXPECT_TRUE(*b->LeaseHeld("locks/gc"));
  EXPECT_FALSE(*b->AcquireLease("locks/gc", "host-b", 10, false));
  // Not renewed: expired at exactly its end, free for another cookie, and
  // the old holder's renewal fails even before anyone took it.
  now += 1 * kSecond;
  EXPECT_FALSE(*a.LeaseHeld("locks/gc"));
  EXPECT_EQ(a.LeaseHolder("locks/gc"), "");
  EXPECT_FALSE(*a.AcquireLease("locks/gc", "host-a", 10, true));
  EXPECT_TRUE(*b->AcquireLease("locks/gc", "host-b", 10, false));
  EXPECT_FALSE(*a.AcquireLease("locks/gc", "host-a", 10, false));
  // Release: only the holder's; releasing what one does not hold is OK.
  EXPECT_TRUE(a.ReleaseLease("locks/gc", "host-a").ok());
  EXPECT_TRUE(*a.LeaseHeld("locks/gc"));
  EXPECT_TRUE(b->ReleaseLease("locks/gc", "host-b").ok());
  EXPECT_FALSE(*a.LeaseHeld("locks/gc"));
  EXPECT_TRUE(b->ReleaseLease("locks/gc", "host-b").ok());
}

TEST(MemoryBackendTest, BrokenLeaseCannotBeRenewed) {
  std::atomic<int64_t> now{kSecond};
  MemoryBackend b(Leased(&now));
  ASSERT_TRUE(*b.AcquireLease("locks/backup.100", "c1", 60, false));
  const uint64_t acquired = b.LeaseAcquisitions();
  EXPECT_TRUE(b.BreakLease("locks/backup.100"));
  EXPECT_FALSE(b.BreakLease("locks/backup.100"));
  EXPECT_FALSE(*b.AcquireLease("locks/backup.100", "c1", 60, true));
  EXPECT_EQ(b.LeaseAcquisitions(), acquired);
  // Re-acquiring (not renewing) one's own live lease extends it.
  ASSERT_TRUE(*b.AcquireLease("locks/backup.100", "c1", 60, false));
  now += 50 * kSecond;
  ASSERT_TRUE(*b.AcquireLease("locks/backup.100", "c1", 60, false));
  now += 50 * kSecond;
  EXPECT_TRUE(*b.LeaseHeld("locks/backup.100"));
}

TEST(MemoryBackendTest, LeaseArgumentsAreChecked) {
  std::atomic<int64_t> now{kSecond};
  MemoryBackend b(Leased(&now));
  EXPECT_EQ(b.AcquireLease("../x", "c", 10, false).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(b.AcquireLease("x", "", 10, false).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(b.AcquireLease("x", "c", 0, false).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(b.LeaseHeld("a//b").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(b.ReleaseLease("", "c").code(), Code::kInvalidArgument);
}

class LeasedMemoryBackendConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(LeasedMemoryBackendConformance, Case) {
  RunBackendConformanceCase(GetParam(), [] {
    MemoryBackendOptions o;
    o.leases = true;
    o.io_depth = 8;
    return std::make_unique<MemoryBackend>(std::move(o));
  });
}

INSTANTIATE_TEST_SUITE_P(MemoryWithLeases, LeasedMemoryBackendConformance,
                         ::testing::ValuesIn(BackendConformanceCases()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ctdump::objstore
