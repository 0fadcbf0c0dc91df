#include "objstore/fault_backend.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "objstore/backend_conformance.h"
#include "objstore/memory_backend.h"

namespace ctdump::objstore {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A fault-injecting backend over a memory store the test can look at directly.
struct Fixture {
  Fixture() {
    MemoryBackendOptions o;
    o.label = "fault-test";
    auto memory = std::make_unique<MemoryBackend>(o);
    store = memory->Share("direct");
    backend = std::make_unique<FaultBackend>(std::move(memory), plan);
  }
  std::shared_ptr<FaultPlan> plan = std::make_shared<FaultPlan>();
  std::unique_ptr<MemoryBackend> store;  // the same objects, no faults
  std::unique_ptr<FaultBackend> backend;
};

Fault FailOn(std::vector<BackendOp> ops, uint64_t nth, Status error = StoreFullError()) {
  Fault f;
  f.ops = std::move(ops);
  f.nth = nth;
  f.error = std::move(error);
  return f;
}

class FaultBackendConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(FaultBackendConformance, NoFaults) {
  RunBackendConformanceCase(GetParam(), [] {
    return std::make_unique<FaultBackend>(std::make_unique<MemoryBackend>(),
                                          std::make_shared<FaultPlan>());
  });
}

// Latency on every call, jittered so that racing threads finish in another
// order: the results stay those of the backend.
TEST_P(FaultBackendConformance, WithLatency) {
  RunBackendConformanceCase(GetParam(), [] {
    auto plan = std::make_shared<FaultPlan>();
    for (size_t op = 0; op < kBackendOpCount; ++op)
      plan->SetLatency(static_cast<BackendOp>(op), microseconds(0), microseconds(300), op + 1);
    return std::make_unique<FaultBackend>(std::make_unique<MemoryBackend>(), plan);
  });
}

INSTANTIATE_TEST_SUITE_P(OverMemory, FaultBackendConformance,
                         ::testing::ValuesIn(BackendConformanceCases()),
                         [](const auto& info) { return info.param; });

TEST(FaultBackendTest, StoreFullAtTheNthPutOnlyOnce) {
  Fixture f;
  f.plan->AddFault(FailOn({BackendOp::kPutIfAbsent}, 3));
  EXPECT_TRUE(f.backend->PutIfAbsent("o/1", "1").ok());
  EXPECT_TRUE(f.backend->PutIfAbsent("o/2", "2").ok());
  auto third = f.backend->PutIfAbsent("o/3", "3");
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), Code::kIOError);
  const std::string& m = third.status().message();
  EXPECT_TRUE(Contains(m, "put-if-absent \"o/3\" in memory:fault-test")) << m;
  EXPECT_TRUE(Contains(m, "No space left on device")) << m;
  // Failed before the backend: nothing written.
  EXPECT_EQ(f.store->Get("o/3").status().code(), Code::kNotFound);
  EXPECT_TRUE(f.backend->PutIfAbsent("o/3", "3").ok());
  EXPECT_TRUE(f.backend->PutIfAbsent("o/4", "4").ok());
  EXPECT_EQ(f.plan->Calls(BackendOp::kPutIfAbsent), 5u);
  ASSERT_EQ(f.plan->Injected().size(), 1u);
  EXPECT_TRUE(Contains(f.plan->Injected()[0], "put-if-absent o/3")) << f.plan->Injected()[0];
}

TEST(FaultBackendTest, FullFromTheNthOnUntilCleared) {
  Fixture f;
  Fault full = FailOn({BackendOp::kPutIfAbsent, BackendOp::kPut}, 2);
  full.times = kEveryTime;
  f.plan->AddFault(full);
  EXPECT_TRUE(f.backend->Put("a", "x").ok());
  EXPECT_FALSE(f.backend->PutIfAbsent("b", "x").ok());
  EXPECT_FALSE(f.backend->Put("c", "x").ok());
  EXPECT_FALSE(f.backend->Put("a", "replaced").ok());
  EXPECT_EQ(*f.store->Get("a"), "x");
  // Other methods are untouched.
  EXPECT_TRUE(f.backend->Get("a").ok());
  EXPECT_TRUE(f.backend->Delete("a").ok());
  EXPECT_EQ(f.plan->Injected().size(), 3u);
  f.plan->Clear();
  EXPECT_TRUE(f.backend->PutIfAbsent("b", "x").ok());
  EXPECT_EQ(*f.store->List(""), std::vector<std::string>{"b"});
}

TEST(FaultBackendTest, TimesBoundsTheFailures) {
  Fixture f;
  Fault twice = FailOn({BackendOp::kStat}, 2, DataLossError("flaky"));
  twice.times = 2;
  f.plan->AddFault(twice);
  ASSERT_TRUE(f.store->Put("x", "x").ok());
  std::vector<bool> ok;
  for (int i = 0; i < 5; ++i) ok.push_back(f.backend->Stat("x").ok());
  EXPECT_EQ(ok, (std::vector<bool>{true, false, false, true, true}));
}

TEST(FaultBackendTest, PrefixSelectsAndCountsOnlyMatchingNames) {
  Fixture f;
  Fault chunks = FailOn({BackendOp::kPutIfAbsent}, 2);
  chunks.prefix = "chunks/";
  f.plan->AddFault(chunks);
  EXPECT_TRUE(f.backend->PutIfAbsent("chunks/1", "").ok());
  EXPECT_TRUE(f.backend->PutIfAbsent("index", "").ok());  // not counted
  EXPECT_TRUE(f.backend->PutIfAbsent("chunksx", "").ok());
  EXPECT_FALSE(f.backend->PutIfAbsent("chunks/2", "").ok());
  EXPECT_TRUE(f.backend->PutIfAbsent("chunks/3", "").ok());
}

TEST(FaultBackendTest, EveryMethodCanFail) {
  Fixture f;
  ASSERT_TRUE(f.store->Put("x", "x").ok());
  for (size_t i = 0; i < kBackendOpCount; ++i) {
    BackendOp op = static_cast<BackendOp>(i);
    SCOPED_TRACE(std::string(BackendOpName(op)));
    f.plan->AddFault(FailOn({op}, 1, UnavailableError("down")));
    Status s;
    switch (op) {
      case BackendOp::kPutIfAbsent:
        s = f.backend->PutIfAbsent("y", "y").status();
        break;
      case BackendOp::kPut:
        s = f.backend->Put("y", "y");
        break;
      case BackendOp::kSync:
        s = f.backend->Sync();
        break;
      case BackendOp::kTouch:
        s = f.backend->Touch("x");
        break;
      case BackendOp::kGet:
        s = f.backend->Get("x").status();
        break;
      case BackendOp::kStat:
        s = f.backend->Stat("x").status();
        break;
      case BackendOp::kList:
        s = f.backend->List("").status();
        break;
      case BackendOp::kDelete:
        s = f.backend->Delete("x");
        break;
      case BackendOp::kIsEmpty:
        s = f.backend->IsEmpty().status();
        break;
      case BackendOp::kRemoveLeftovers:
        s = f.backend->RemoveLeftovers("", 0, true).status();
        break;
      case BackendOp::kAcquireLease:
        s = f.backend->AcquireLease("x", "cookie", 30, false).status();
        break;
      case BackendOp::kReleaseLease:
        s = f.backend->ReleaseLease("x", "cookie");
        break;
      case BackendOp::kLeaseHeld:
        s = f.backend->LeaseHeld("x").status();
        break;
    }
    EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
    EXPECT_TRUE(Contains(s.message(), std::string(BackendOpName(op)))) << s.message();
    EXPECT_TRUE(Contains(s.message(), "memory:fault-test: down")) << s.message();
    EXPECT_EQ(f.plan->Calls(op), 1u);
  }
  // Nothing reached the store.
  EXPECT_EQ(*f.store->List(""), std::vector<std::string>{"x"});
  EXPECT_EQ(f.plan->Injected().size(), kBackendOpCount);
}

TEST(FaultBackendTest, AfterCallTheEffectHappensButTheCallerSeesAnError) {
  Fixture f;
  ASSERT_TRUE(f.store->Put("gone", "x").ok());
  Fault lost = FailOn({BackendOp::kDelete, BackendOp::kPut}, 1, DeadlineExceededError("timeout"));
  lost.times = 2;
  lost.after_call = true;
  f.plan->AddFault(lost);
  EXPECT_EQ(f.backend->Delete("gone").code(), Code::kDeadlineExceeded);
  EXPECT_EQ(f.store->Stat("gone").status().code(), Code::kNotFound);
  EXPECT_EQ(f.backend->Put("written", "w").code(), Code::kDeadlineExceeded);
  EXPECT_EQ(*f.store->Get("written"), "w");
}

TEST(FaultBackendTest, GetDamageTruncatesOrFlipsWhatIsReturned) {
  Fixture f;
  ASSERT_TRUE(f.store->Put("chunks/a", "0123456789").ok());
  ASSERT_TRUE(f.store->Put("other", "0123456789").ok());
  GetDamage cut;
  cut.prefix = "chunks/";
  cut.damage = ReadDamage::kTruncate;
  cut.at = 4;
  cut.nth = 2;
  f.plan->AddGetDamage(cut);
  EXPECT_EQ(*f.backend->Get("chunks/a"), "0123456789");
  EXPECT_EQ(*f.backend->Get("other"), "0123456789");  // not counted
  EXPECT_EQ(*f.backend->Get("chunks/a"), "0123");
  EXPECT_EQ(*f.backend->Get("chunks/a"), "0123456789");

  GetDamage flip;
  flip.damage = ReadDamage::kFlipByte;
  flip.at = 3;
  f.plan->AddGetDamage(flip);
  EXPECT_EQ(*f.backend->Get("other"),
            std::string("012") + static_cast<char>('3' ^ 0x40) + "456789");
  flip.at = 1000;  // beyond the end: the last byte
  f.plan->AddGetDamage(flip);
  EXPECT_EQ(*f.backend->Get("other"), std::string("012345678") + static_cast<char>('9' ^ 0x40));
  // The stored objects are intact; a failed Get is not damaged (nor counted).
  EXPECT_EQ(*f.store->Get("chunks/a"), "0123456789");
  f.plan->AddGetDamage(flip);
  EXPECT_EQ(f.backend->Get("missing").status().code(), Code::kNotFound);
  EXPECT_EQ(*f.backend->Get("other"), std::string("012345678") + static_cast<char>('9' ^ 0x40));
  EXPECT_EQ(f.plan->Injected().size(), 4u);
}

TEST(FaultBackendTest, LatencyDelaysOnlyItsMethod) {
  Fixture f;
  ASSERT_TRUE(f.store->Put("x", "x").ok());
  f.plan->SetLatency(BackendOp::kGet, std::chrono::duration_cast<microseconds>(milliseconds(30)));
  auto timed = [](auto&& fn) {
    auto start = std::chrono::steady_clock::now();
    fn();
    return std::chrono::steady_clock::now() - start;
  };
  EXPECT_GE(timed([&] { EXPECT_TRUE(f.backend->Get("x").ok()); }), milliseconds(30));
  EXPECT_LT(timed([&] { EXPECT_TRUE(f.backend->Stat("x").ok()); }), milliseconds(30));
  f.plan->Clear();
  EXPECT_LT(timed([&] { EXPECT_TRUE(f.backend->Get("x").ok()); }), milliseconds(30));
}

TEST(FaultBackendTest, CountsEveryCallUntilReset) {
  Fixture f;
  EXPECT_TRUE(f.backend->PutIfAbsent("x", "x").ok());
  EXPECT_TRUE(f.backend->Get("x").ok());
  EXPECT_FALSE(f.backend->Get("y").ok());
  EXPECT_TRUE(f.backend->Sync().ok());
  EXPECT_EQ(f.plan->Calls(BackendOp::kPutIfAbsent), 1u);
  EXPECT_EQ(f.plan->Calls(BackendOp::kGet), 2u);
  EXPECT_EQ(f.plan->Calls(BackendOp::kSync), 1u);
  EXPECT_EQ(f.plan->Calls(BackendOp::kDelete), 0u);
  f.plan->ResetCounts();
  EXPECT_EQ(f.plan->Calls(BackendOp::kGet), 0u);
  EXPECT_EQ(f.backend->Describe(), "memory:fault-test");
}

TEST(FaultBackendTest, ExactlyTheNthOfConcurrentCallsFails) {
  Fixture f;
  f.plan->AddFault(FailOn({BackendOp::kPutIfAbsent}, 50));
  constexpr int kThreads = 8, kPuts = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPuts; ++i) {
        if (!f.backend->PutIfAbsent(std::to_string(t) + "/" + std::to_string(i), "x").ok())
          ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 1);
  EXPECT_EQ(f.store->ObjectCount(), static_cast<uint64_t>(kThreads * kPuts - 1));
}

}  // namespace
}  // namespace ctdump::objstore
