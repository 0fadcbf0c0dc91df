// A `backend rados` datastore section opened against a real cluster (the
// fixture "ceph": scripts/ceph-cluster.sh in $CTDUMP_TEST_CEPH_DIR, pool
// "ctdump", users admin and ctdump); without it every test fails. Checks that
// the storage.cfg keys reach the backend (namespace, user, keyring, queue
// depth, clock skew, lock lease) and that a wrong pool or user is a clear
// error naming the storage.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "providers/datastore_provider.h"

namespace ctdump::providers {
namespace {

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string CephDir() {
  const char* dir = std::getenv("CTDUMP_TEST_CEPH_DIR");
  if (dir == nullptr || *dir == '\0') {
    ADD_FAILURE() << "CTDUMP_TEST_CEPH_DIR is not set: run through ctest (fixture \"ceph\")";
    return "/nonexistent";
  }
  return dir;
}

Section Shared(std::vector<std::pair<std::string, std::string>> extra) {
  static const uint64_t run = std::random_device{}();
  Section s{"datastore",
            "shared",
            {{"backend", "rados"},
             {"pool", "ctdump"},
             {"ceph-conf", CephDir() + "/ceph.conf"},
             {"namespace", fmt::format("cfg{:x}-{}", run & 0xffffff, ::getpid())},
             {"rados-timeout", "10"}}};
  for (auto& [key, value] : extra) {
    auto it = std::find_if(s.options.begin(), s.options.end(),
                           [&key](const auto& kv) { return kv.first == key; });
    if (it != s.options.end())
      it->second = value;
    else
      s.options.emplace_back(key, value);
  }
  return s;
}

TEST(DatastoreRadosConfigTest, KeysReachTheBackend) {
  auto ds = OpenDatastore(Shared({{"queue-depth", "24"},
                                  {"max-clock-skew", "90"},
                                  {"lock-lease", "45"},
                                  {"username", "admin"},
                                  {"keyring", CephDir() + "/ceph.client.admin.keyring"}}));
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  ObjectBackend& b = (*ds)->backend();
  EXPECT_TRUE(b.HasLeases());
  EXPECT_EQ(b.IoDepth(), 24);
  EXPECT_EQ(b.ClockSkewNs(), int64_t{90} * 1'000'000'000);
  EXPECT_EQ((*ds)->lock_lease_s(), 45);
  EXPECT_TRUE(Contains(b.Describe(), "ctdump")) << b.Describe();
  // Opening wrote nothing; the first write creates the store, in this
  // namespace only.
  EXPECT_FALSE((*ds)->exists());
  EXPECT_TRUE(*b.IsEmpty());
  ASSERT_TRUE((*ds)->EnsureCreated().ok());
  auto lock = (*ds)->TakeLock(datastore::BackupLockName("1"), std::nullopt, nullptr);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_TRUE((*ds)->RenewLock(lock->object).ok());
  EXPECT_TRUE((*ds)->ReleaseLock(lock->object).ok());
  auto other = OpenDatastore(Shared({{"namespace", "some-other-namespace-of-the-test"}}));
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_FALSE((*other)->exists());
}

TEST(DatastoreRadosConfigTest, WrongPoolAndUserAreClearErrors) {
  auto pool = OpenDatastore(Shared({{"pool", "no-such-pool"}}));
  ASSERT_FALSE(pool.ok());
  EXPECT_TRUE(Contains(pool.status().message(), "storage 'shared'")) << pool.status().ToString();
  EXPECT_TRUE(Contains(pool.status().message(), "no-such-pool")) << pool.status().ToString();
  auto user = OpenDatastore(Shared({{"username", "nobody"}}));
  ASSERT_FALSE(user.ok());
  EXPECT_TRUE(Contains(user.status().message(), "storage 'shared'")) << user.status().ToString();
  EXPECT_TRUE(Contains(user.status().message(), "nobody")) << user.status().ToString();
}

}  // namespace
}  // namespace ctdump::providers
