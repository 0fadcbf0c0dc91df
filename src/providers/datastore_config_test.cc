// storage.cfg keys of a `datastore` section (OpenDatastore): backend local
// and rados, and the errors for unknown keys, keys of the other backend and
// bad values. RADOS sections here never reach a cluster: they fail on their
// keys first, or on a ceph.conf that does not exist.
#include <gtest/gtest.h>

#include <optional>

#include "providers/datastore_provider.h"
#include "sys/file.h"

namespace ctdump::providers {
namespace {

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class DatastoreConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = sys::MakeTempDir("/tmp/ctdump-datastore-config.");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
  }
  void TearDown() override { EXPECT_TRUE(sys::RemoveTree(dir_).ok()); }

  Section Local(std::vector<std::pair<std::string, std::string>> extra = {}) {
    Section s{"datastore", "store", {{"path", dir_}}};
    for (auto& kv : extra) s.options.push_back(std::move(kv));
    return s;
  }
  static Section Rados(std::vector<std::pair<std::string, std::string>> extra) {
    Section s{"datastore", "shared", {{"backend", "rados"}}};
    for (auto& kv : extra) s.options.push_back(std::move(kv));
    return s;
  }

  std::string dir_;
};

TEST_F(DatastoreConfigTest, LocalIsTheDefaultAndTakesLockLease) {
  auto ds = OpenDatastore(Local());
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_EQ((*ds)->lock_lease_s(), datastore::kDefaultLockLeaseS);
  EXPECT_FALSE((*ds)->backend().HasLeases());
  ds = OpenDatastore(Local({{"backend", "local"}, {"lock-lease", "5"}}));
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_EQ((*ds)->lock_lease_s(), 5);
}

struct BadCase {
  Section section;
  std::optional<Code> code;  // nullopt: whatever the backend says
  std::vector<std::string> says;
};

TEST_F(DatastoreConfigTest, BadKeysAndValuesNameStorageKeyAndWhatIsAllowed) {
  const std::string conf = dir_ + "/no-such-ceph.conf";
  const std::vector<BadCase> cases = {
      {Local({{"backend", "s3"}}),
       Code::kInvalidArgument,
       {"storage 'store'", "'s3'", "local", "rados"}},
      {Local({{"pool", "p"}}),
       Code::kInvalidArgument,
       {"storage 'store'", "'pool'", "backend rados"}},
      {Local({{"bogus", "1"}}), Code::kInvalidArgument, {"storage 'store': unknown key 'bogus'"}},
      {Local({{"lock-lease", "4"}}), Code::kInvalidArgument, {"lock-lease '4'", "from 5"}},
      {Local({{"lock-lease", "1m"}}), Code::kInvalidArgument, {"lock-lease '1m'", "seconds"}},
      {Section{"datastore", "nopath", {}},
       Code::kInvalidArgument,
       {"storage 'nopath' has no 'path'"}},
      {Rados({}), Code::kInvalidArgument, {"storage 'shared'", "needs 'pool'"}},
      {Rados({{"pool", "p"}, {"path", "/x"}}),
       Code::kInvalidArgument,
       {"storage 'shared'", "'path'", "backend local", "backend rados"}},
      {Rados({{"pool", "p"}, {"ceph-conf", "ceph.conf"}}),
       Code::kInvalidArgument,
       {"ceph-conf \"ceph.conf\"", "absolute"}},
      {Rados({{"pool", "p"}, {"username", "client.admin"}}),
       Code::kInvalidArgument,
       {"username 'client.admin'", "without 'client.'"}},
      {Rados({{"pool", "p"}, {"keyring", "k"}}), Code::kInvalidArgument, {"keyring \"k\""}},
      {Rados({{"pool", "p"}, {"namespace", ""}}), Code::kInvalidArgument, {"namespace is empty"}},
      {Rados({{"pool", "p"}, {"queue-depth", "0"}}),
       Code::kInvalidArgument,
       {"queue-depth '0'", "from 1 to 256"}},
      {Rados({{"pool", "p"}, {"queue-depth", "16x"}}),
       Code::kInvalidArgument,
       {"queue-depth '16x'"}},
      {Rados({{"pool", "p"}, {"rados-timeout", "-1"}}),
       Code::kInvalidArgument,
       {"rados-timeout '-1'"}},
      {Rados({{"pool", "p"}, {"max-clock-skew", "1h"}}),
       Code::kInvalidArgument,
       {"max-clock-skew '1h'"}},
      {Rados({{"pool", "p"}, {"rados-timeout", "40"}}),
       Code::kInvalidArgument,
       {"lock-lease 60 s must be at least twice rados-timeout (40 s)"}},
      {Rados({{"pool", "p"}, {"frobnicate", "1"}}),
       Code::kInvalidArgument,
       {"storage 'shared': unknown key 'frobnicate'"}},
      // Keys fine: the backend fails, named with the storage and the file.
      {Rados({{"pool", "p"}, {"ceph-conf", conf}, {"rados-timeout", "1"}, {"lock-lease", "5"}}),
       Code::kNotFound,
       {"storage 'shared'", conf}},
  };
  for (const auto& c : cases) {
    auto ds = OpenDatastore(c.section);
    const std::string what = c.section.id + ": " + ds.status().ToString();
    ASSERT_FALSE(ds.ok()) << what;
    if (c.code) {
      EXPECT_EQ(ds.status().code(), *c.code) << what;
    }
    for (const auto& s : c.says)
      EXPECT_TRUE(Contains(ds.status().message(), s)) << s << " in " << what;
  }
}

}  // namespace
}  // namespace ctdump::providers
