#include "restore/test_restore.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace ctdump::restore {
namespace {

TEST(PickFreeIdBlockTest, SkipsTheBackedUpRange) {
  std::vector<IdRange> delegated = {{100000, 65536}, {200000, 65536}};
  EXPECT_EQ(PickFreeIdBlock(delegated, {{100000, 65536}}, 65536), 200000u);
  EXPECT_EQ(PickFreeIdBlock(delegated, {}, 65536), 100000u);
  // One id of overlap is enough to skip a block.
  EXPECT_EQ(PickFreeIdBlock(delegated, {{165535, 1}}, 65536), 200000u);
  EXPECT_EQ(PickFreeIdBlock(delegated, {{100000, 65536}, {200000, 65536}}, 65536), std::nullopt);
  // A bigger delegated range holds several blocks.
  EXPECT_EQ(PickFreeIdBlock({{100000, 65536 * 3}}, {{100000, 65536}}, 65536), 165536u);
  EXPECT_EQ(PickFreeIdBlock({{100000, 1000}}, {}, 65536), std::nullopt);
}

TEST(PickFreeIdBlockTest, HostRangesOfAMap) {
  auto map = IdMap::Parse(
      {"u 0 100000 1000", "u 1000 1000 1", "u 1001 101001 64535", "g 0 100000 65536"}, true);
  ASSERT_TRUE(map.ok()) << map.status().message();
  EXPECT_EQ(HostRanges(*map, 'u'),
            (std::vector<IdRange>{{100000, 1000}, {1000, 1}, {101001, 64535}}));
  EXPECT_EQ(HostRanges(*map, 'g'), (std::vector<IdRange>{{100000, 65536}}));
}

TEST(IsolateConfigTest, NoNetworkNoAutostart) {
  std::string in =
      "lxc.uts.name = ct1\n"
      "lxc.net.0.type = veth\n"
      "lxc.net.0.link = lxcbr0\n"
      "  lxc.net.1.type = veth\n"
      "lxc.start.auto = 1\n"
      "lxc.include = /usr/share/lxc/config/common.conf\n";
  std::string out = IsolateConfig(in);
  EXPECT_EQ(out,
            "lxc.uts.name = ct1\n"
            "lxc.include = /usr/share/lxc/config/common.conf\n"
            "# restore test (ctdump restore-test): no network, no autostart\n"
            "lxc.net.0.type = empty\n"
            "lxc.start.auto = 0\n");
}

}  // namespace
}  // namespace ctdump::restore
