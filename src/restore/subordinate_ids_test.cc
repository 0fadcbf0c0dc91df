#include "restore/subordinate_ids.h"

#include <gtest/gtest.h>

namespace ctdump::restore {
namespace {

TEST(SubordinateIdsTest, RangesOfRootMerged) {
  const char* text =
      "# comment\n"
      "root:200000:65536\n"
      "alice:100000:65536\n"
      "root:100000:65536\n"
      "0:265536:10\n"
      "root:bad:1\n"
      "root:5\n"
      "root:7:0\n";
  EXPECT_EQ(DelegatedRanges(text, "root", "0"),
            (std::vector<IdRange>{{100000, 65536}, {200000, 65546}}));
  EXPECT_EQ(DelegatedRanges(text, "alice", "1000"), (std::vector<IdRange>{{100000, 65536}}));
  EXPECT_TRUE(DelegatedRanges("", "root", "0").empty());
}

TEST(SubordinateIdsTest, MapInsideOrOutsideTheDelegatedRanges) {
  auto subuid = DelegatedRanges("root:100000:65536\nroot:165536:65536\n", "root", "0");
  auto subgid = DelegatedRanges("root:100000:65536\n", "root", "0");
  struct Case {
    std::vector<std::string> map;
    bool ok;
  } cases[] = {
      {{"u 0 100000 65536", "g 0 100000 65536"}, true},
      {{"u 0 100000 131072", "g 0 100000 65536"}, true},  // two adjacent ranges
      {{"u 0 110000 1000", "g 0 100000 1000"}, true},
      {{"u 0 1000 65536", "g 0 100000 65536"}, false},  // container root = host uid 1000
      {{"u 0 100000 65536", "g 0 1000 65536"}, false},
      {{"u 0 100000 65536", "g 0 100000 65537"}, false},  // one past the end
      {{"u 0 99999 10", "g 0 100000 65536"}, false},
      {{"u 0 100000 65536", "g 0 100000 65536", "u 65536 2000 1"}, false},
  };
  for (const auto& c : cases) {
    auto map = IdMap::Parse(c.map, true);
    ASSERT_TRUE(map.ok()) << map.status().message();
    Status s = CheckDelegated(*map, subuid, subgid);
    EXPECT_EQ(s.ok(), c.ok) << map->ToString() << ": " << s.message();
  }
  auto bad = IdMap::Parse({"u 0 1000 65536", "g 0 100000 65536"}, true);
  Status s = CheckDelegated(*bad, subuid, subgid);
  EXPECT_EQ(s.message(),
            "ID map entry 'u 0 1000 65536' uses host uids 1000-66535, which are not delegated to "
            "root in /etc/subuid");
  EXPECT_TRUE(CheckDelegated(IdMap(), {}, {}).ok());
}

}  // namespace
}  // namespace ctdump::restore
