#include "objstore/backend_conformance.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <latch>
#include <thread>

#include "base/test_util.h"

namespace ctdump::objstore {
namespace {

const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}

#define EXPECT_OK(expr)                                              \
  do {                                                               \
    const auto& ok_result_ = (expr);                                 \
    EXPECT_TRUE(ok_result_.ok()) << StatusOf(ok_result_).ToString(); \
  } while (0)

#define ASSERT_OK(expr)                                              \
  do {                                                               \
    const auto& ok_result_ = (expr);                                 \
    ASSERT_TRUE(ok_result_.ok()) << StatusOf(ok_result_).ToString(); \
  } while (0)

// Expects `result` to fail with `code` and a message naming `name`.
template <typename R>
void ExpectError(const R& result, Code code, const std::string& name) {
  const Status& s = StatusOf(result);
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_NE(s.message().find("\"" + name + "\""), std::string::npos) << s.ToString();
}

void ExpectContent(ObjectBackend& b, const std::string& name, const std::string& want) {
  auto got = b.Get(name);
  ASSERT_OK(got);
  EXPECT_EQ(got->size(), want.size()) << name;
  EXPECT_TRUE(*got == want) << name << ": content differs";
}

void RoundTrip(ObjectBackend& b) {
  EXPECT_FALSE(b.Describe().empty());
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes += static_cast<char>(i);
  const std::vector<std::pair<std::string, std::string>> objects = {
      {"small", "hello"},
      {"empty", ""},
      {"binary", all_bytes + std::string("\0\0\n\r", 4)},
      {"deep/a/b/c/d", "nested"},
      {"big/8MiB", ::ctdump::testing::PatternBytes(8 << 20, 1)},
      {std::string(kMaxObjectNameComponentLength, 'x'), "longest component"},
      {".hidden/_-.x", "odd but valid characters"},
  };
  for (const auto& [name, data] : objects) {
    auto put = b.PutIfAbsent(name, data);
    ASSERT_OK(put);
    EXPECT_TRUE(*put) << name;
    ExpectContent(b, name, data);
  }
  ASSERT_OK(b.Put("put/created", "by Put"));
  ExpectContent(b, "put/created", "by Put");
}

void PutIfAbsentIsIdempotent(ObjectBackend& b) {
  auto first = b.PutIfAbsent("chunks/ab/abcd", "first");
  ASSERT_OK(first);
  EXPECT_TRUE(*first);
  auto second = b.PutIfAbsent("chunks/ab/abcd", "second, longer content");
  ASSERT_OK(second);
  EXPECT_FALSE(*second);
  ExpectContent(b, "chunks/ab/abcd", "first");

  ASSERT_OK(b.Put("mutable", "v1"));
  auto over_put = b.PutIfAbsent("mutable", "v2");
  ASSERT_OK(over_put);
  EXPECT_FALSE(*over_put);
  ExpectContent(b, "mutable", "v1");
}

void PutReplaces(ObjectBackend& b) {
  ASSERT_OK(b.Put("locks/exclusive", "version one"));
  ASSERT_OK(b.Put("locks/exclusive", "version two, longer"));
  ExpectContent(b, "locks/exclusive", "version two, longer");
  ASSERT_OK(b.Put("locks/exclusive", "3"));  // shorter: no stale tail
  ExpectContent(b, "locks/exclusive", "3");
  ASSERT_OK(b.Put("locks/exclusive", ""));
  ExpectContent(b, "locks/exclusive", "");
}

void StatReportsSizeAndMtime(ObjectBackend& b) {
  ASSERT_OK(b.PutIfAbsent("s/empty", ""));
  ASSERT_OK(b.PutIfAbsent("s/k", std::string(1000, 'k')));
  auto empty = b.Stat("s/empty");
  ASSERT_OK(empty);
  EXPECT_EQ(empty->size, 0u);
  auto k = b.Stat("s/k");
  ASSERT_OK(k);
  EXPECT_EQ(k->size, 1000u);
  // Backends keep mtime at different precisions (RADOS: seconds); it only has
  // to be the time of the write, which GC compares against a cutoff.
  int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  constexpr int64_t kHourNs = 3600LL * 1'000'000'000;
  EXPECT_LT(std::abs(k->mtime_ns - now_ns), kHourNs);
  ASSERT_OK(b.Put("s/k", "now 12 bytes"));
  auto replaced = b.Stat("s/k");
  ASSERT_OK(replaced);
  EXPECT_EQ(replaced->size, 12u);
}

void ListByPrefix(ObjectBackend& b) {
  // '-' < '/' < '0' bytewise: a per-directory walk would get this order wrong.
  for (const char* name : {"d/a0", "d/a/c/d", "d/b", "e", "d/a-b", "dx/y", "d/a/b"}) {
    ASSERT_OK(b.PutIfAbsent(name, name));
  }
  using Names = std::vector<std::string>;
  const std::vector<std::pair<std::string, Names>> cases = {
      {"d/", {"d/a-b", "d/a/b", "d/a/c/d", "d/a0", "d/b"}},
      {"d/a", {"d/a-b", "d/a/b", "d/a/c/d", "d/a0"}},
      {"d/a/", {"d/a/b", "d/a/c/d"}},
      {"d", {"d/a-b", "d/a/b", "d/a/c/d", "d/a0", "d/b", "dx/y"}},
      {"", {"d/a-b", "d/a/b", "d/a/c/d", "d/a0", "d/b", "dx/y", "e"}},
      {"e", {"e"}},
      {"d/b/", {}},
      {"nothing/", {}},
      {"nothing", {}},
  };
  for (const auto& [prefix, want] : cases) {
    auto got = b.List(prefix);
    ASSERT_OK(got);
    EXPECT_EQ(*got, want) << "prefix \"" << prefix << "\"";
  }
  for (const char* bad : {"../", "/d", "d//", "d/../", "d/a b", "~"}) {
    EXPECT_EQ(b.List(bad).status().code(), Code::kInvalidArgument) << bad;
  }
}

void DeleteAndNotFound(ObjectBackend& b) {
  ASSERT_OK(b.PutIfAbsent("dir/obj", "x"));
  ASSERT_OK(b.Delete("dir/obj"));
  ExpectError(b.Get("dir/obj"), Code::kNotFound, "dir/obj");
  ExpectError(b.Stat("dir/obj"), Code::kNotFound, "dir/obj");
  ExpectError(b.Delete("dir/obj"), Code::kNotFound, "dir/obj");
  auto listed = b.List("dir/");
  ASSERT_OK(listed);
  EXPECT_TRUE(listed->empty());
  auto again = b.PutIfAbsent("dir/obj", "y");
  ASSERT_OK(again);
  EXPECT_TRUE(*again);
  ExpectContent(b, "dir/obj", "y");

  ExpectError(b.Get("never/was"), Code::kNotFound, "never/was");
  ExpectError(b.Stat("never"), Code::kNotFound, "never");
  ExpectError(b.Delete("never/was"), Code::kNotFound, "never/was");
  // A "directory" of other objects is not an object.
  ExpectError(b.Get("dir"), Code::kNotFound, "dir");
  ExpectError(b.Stat("dir"), Code::kNotFound, "dir");
  ExpectError(b.Delete("dir"), Code::kNotFound, "dir");
  ExpectContent(b, "dir/obj", "y");
}

void InvalidNamesAreRejected(ObjectBackend& b) {
  const std::vector<std::string> bad = {
      "",
      "/abs",
      "trailing/",
      "a//b",
      ".",
      "..",
      "../escape",
      "a/../b",
      "./a",
      "a/./b",
      "sp ace",
      "back\\slash",
      std::string("nul\0byte", 8),
      "\xc3\xa4",
      "x~tmp.abcdef",
      "colon:x",
      "star*",
      "new\nline",
      std::string(kMaxObjectNameComponentLength + 1, 'c'),
      std::string(kMaxObjectNameLength - 1, 'l') + "/x",
  };
  for (const std::string& name : bad) {
    SCOPED_TRACE(::testing::Message() << "name of " << name.size() << " bytes");
    EXPECT_EQ(ValidateObjectName(name).code(), Code::kInvalidArgument);
    EXPECT_EQ(b.PutIfAbsent(name, "x").status().code(), Code::kInvalidArgument);
    EXPECT_EQ(b.Put(name, "x").code(), Code::kInvalidArgument);
    EXPECT_EQ(b.Get(name).status().code(), Code::kInvalidArgument);
    EXPECT_EQ(b.Stat(name).status().code(), Code::kInvalidArgument);
    EXPECT_EQ(b.Delete(name).code(), Code::kInvalidArgument);
  }
  Status s = ValidateObjectName("a//b");
  EXPECT_NE(s.message().find("\"a//b\""), std::string::npos) << s.ToString();
  auto all = b.List("");
  ASSERT_OK(all);
  EXPECT_TRUE(all->empty());

  std::string longest;
  while (longest.size() + kMaxObjectNameComponentLength + 1 <= kMaxObjectNameLength) {
    longest += std::string(kMaxObjectNameComponentLength, 'n') + "/";
  }
  longest += std::string(kMaxObjectNameLength - longest.size(), 'z');
  ASSERT_EQ(longest.size(), kMaxObjectNameLength);
  EXPECT_OK(ValidateObjectName(longest));
  EXPECT_OK(b.PutIfAbsent(longest, "fits"));
  ExpectContent(b, longest, "fits");
}

// Exactly one of several racing writers wins, and the object holds exactly the
// winner's bytes.
void ConcurrentPutIfAbsent(ObjectBackend& b) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 16;
  std::vector<std::vector<int>> won(kRounds, std::vector<int>(kThreads, 0));
  std::vector<std::string> errors(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int r = 0; r < kRounds; ++r) {
        auto put = b.PutIfAbsent("race/" + std::to_string(r),
                                 ::ctdump::testing::PatternBytes(64 << 10, t + 1));
        if (!put.ok()) errors[t] = put.status().ToString();
        won[r][t] = put.ok() && *put;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], "") << "thread " << t;
  for (int r = 0; r < kRounds; ++r) {
    int winners = 0, winner = -1;
    for (int t = 0; t < kThreads; ++t) {
      if (won[r][t]) ++winners, winner = t;
    }
    ASSERT_EQ(winners, 1) << "round " << r;
    ExpectContent(b, "race/" + std::to_string(r),
                  ::ctdump::testing::PatternBytes(64 << 10, winner + 1));
  }
}

// Readers racing a replacing writer see one whole version or the other.
void PutIsAtomicForReaders(ObjectBackend& b) {
  const std::string versions[2] = {::ctdump::testing::PatternBytes(256 << 10, 7),
                                   ::ctdump::testing::PatternBytes(200 << 10, 8)};
  ASSERT_OK(b.Put("index", versions[0]));
  constexpr int kReaders = 3;
  std::latch start(kReaders + 1);
  std::atomic<bool> done{false};
  std::vector<int> torn(kReaders, 0);
  std::vector<std::thread> readers;
  for (int i = 0; i < kReaders; ++i) {
    readers.emplace_back([&, i] {
      start.arrive_and_wait();
      while (!done.load()) {
        auto got = b.Get("index");
        if (!got.ok() || (*got != versions[0] && *got != versions[1])) ++torn[i];
      }
    });
  }
  start.arrive_and_wait();
  for (int w = 0; w < 40; ++w) EXPECT_OK(b.Put("index", versions[w % 2]));
  done = true;
  for (auto& reader : readers) reader.join();
  for (int i = 0; i < kReaders; ++i) EXPECT_EQ(torn[i], 0) << "reader " << i;
}

void DeferredPutsAndSync(ObjectBackend& b) {
  auto first = b.PutIfAbsent("d/a", "deferred", Durability::kDeferred);
  ASSERT_OK(first);
  EXPECT_TRUE(*first);
  // Visible at once, before the sync.
  ExpectContent(b, "d/a", "deferred");
  auto again = b.PutIfAbsent("d/a", "other", Durability::kDeferred);
  ASSERT_OK(again);
  EXPECT_FALSE(*again);
  ExpectContent(b, "d/a", "deferred");
  EXPECT_OK(b.Sync());
  ExpectContent(b, "d/a", "deferred");
}

void TouchUpdatesMtimeOnly(ObjectBackend& b) {
  ASSERT_OK(b.PutIfAbsent("t/x", "content"));
  auto before = b.Stat("t/x");
  ASSERT_OK(before);
  // Backends with second precision (RADOS) need the clock to move on.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_OK(b.Touch("t/x"));
  auto after = b.Stat("t/x");
  ASSERT_OK(after);
  EXPECT_GT(after->mtime_ns, before->mtime_ns);
  EXPECT_EQ(after->size, before->size);
  ExpectContent(b, "t/x", "content");
  ExpectError(b.Touch("t/missing"), Code::kNotFound, "t/missing");
  EXPECT_EQ(b.Touch("../x").code(), Code::kInvalidArgument);
}

using CaseFn = void (*)(ObjectBackend&);
const std::vector<std::pair<std::string, CaseFn>>& Cases() {
  static const std::vector<std::pair<std::string, CaseFn>> kCases = {
      {"RoundTrip", RoundTrip},
      {"PutIfAbsentIsIdempotent", PutIfAbsentIsIdempotent},
      {"PutReplaces", PutReplaces},
      {"StatReportsSizeAndMtime", StatReportsSizeAndMtime},
      {"ListByPrefix", ListByPrefix},
      {"DeleteAndNotFound", DeleteAndNotFound},
      {"InvalidNamesAreRejected", InvalidNamesAreRejected},
      {"ConcurrentPutIfAbsent", ConcurrentPutIfAbsent},
      {"PutIsAtomicForReaders", PutIsAtomicForReaders},
      {"DeferredPutsAndSync", DeferredPutsAndSync},
      {"TouchUpdatesMtimeOnly", TouchUpdatesMtimeOnly},
  };
  return kCases;
}

}  // namespace

std::vector<std::string> BackendConformanceCases() {
  std::vector<std::string> names;
  for (const auto& [name, fn] : Cases()) names.push_back(name);
  return names;
}

void RunBackendConformanceCase(std::string_view name, const BackendFactory& make) {
  for (const auto& [case_name, fn] : Cases()) {
    if (case_name != name) continue;
    SCOPED_TRACE("backend conformance case " + case_name);
    std::unique_ptr<ObjectBackend> backend = make();
    ASSERT_NE(backend, nullptr);
    fn(*backend);
    return;
  }
  ADD_FAILURE() << "no backend conformance case \"" << name << "\"";
}

void RunBackendConformance(BackendFactory make) {
  for (const std::string& name : BackendConformanceCases()) RunBackendConformanceCase(name, make);
}

}  // namespace ctdump::objstore
