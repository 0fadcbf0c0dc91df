#include "ctdump/idmap.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace ctdump {
namespace {

using Values = std::vector<std::string>;

struct ValidCase {
  const char* name;
  Values values;
  bool unprivileged;
  std::vector<IdMapEntry> want;
  uint32_t root_uid, root_gid;
};

const std::vector<IdMapEntry> kDefault = {{'u', 0, 100000, 65536}, {'g', 0, 100000, 65536}};

std::vector<ValidCase> ValidCases() {
  return {
      {"DefaultUnprivileged", {}, true, kDefault, 100000, 100000},
      {"EmptyPrivileged", {}, false, {}, 0, 0},
      {"Standard", {"u 0 100000 65536", "g 0 100000 65536"}, true, kDefault, 100000, 100000},
      {"ValuesUsedEvenIfPrivileged",
       {"u 0 100000 65536", "g 0 100000 65536"},
       false,
       kDefault,
       100000,
       100000},
      {"TabsAndTrailingSpace",
       {"u\t0\t200000\t65536 \t", "g  0  300000  65536\n"},
       true,
       {{'u', 0, 200000, 65536}, {'g', 0, 300000, 65536}},
       200000,
       300000},
      {"TrailingCrLf",
       {"u 0 100000 65536\r\n", "g 0 100000 65536\r"},
       true,
       kDefault,
       100000,
       100000},
      {"LeadingZeros", {"u 00 0100000 065536", "g 0 100000 65536"}, true, kDefault, 100000, 100000},
      {"Passthrough",
       {"u 0 100000 1000", "g 0 100000 1000", "u 1000 1000 1", "g 1000 1000 1",
        "u 1001 101001 64535", "g 1001 101001 64535"},
       true,
       {{'u', 0, 100000, 1000},
        {'g', 0, 100000, 1000},
        {'u', 1000, 1000, 1},
        {'g', 1000, 1000, 1},
        {'u', 1001, 101001, 64535},
        {'g', 1001, 101001, 64535}},
       100000,
       100000},
      {"RootNotFirst",
       {"g 5 500 5", "u 5 500 5", "u 0 100 5", "g 0 100 5"},
       true,
       {{'g', 5, 500, 5}, {'u', 5, 500, 5}, {'u', 0, 100, 5}, {'g', 0, 100, 5}},
       100,
       100},
      {"AdjacentRangesDoNotOverlap",
       {"u 0 100 10", "u 10 110 10", "g 0 100 10", "g 10 110 10"},
       true,
       {{'u', 0, 100, 10}, {'u', 10, 110, 10}, {'g', 0, 100, 10}, {'g', 10, 110, 10}},
       100,
       100},
      {"UidAndGidMaySharePlaces",
       {"u 0 0 1", "g 0 0 1"},
       true,
       {{'u', 0, 0, 1}, {'g', 0, 0, 1}},
       0,
       0},
      {"WholeIdSpace",
       {"u 0 0 4294967295", "g 0 0 4294967295"},
       true,
       {{'u', 0, 0, 4294967295u}, {'g', 0, 0, 4294967295u}},
       0,
       0},
      {"HighestStart",
       {"u 0 4294967294 1", "g 0 1 1", "g 4294967294 2 1"},
       true,
       {{'u', 0, 4294967294u, 1}, {'g', 0, 1, 1}, {'g', 4294967294u, 2, 1}},
       4294967294u,
       1},
  };
}

class IdMapValidTest : public testing::TestWithParam<ValidCase> {};

TEST_P(IdMapValidTest, Parses) {
  const ValidCase& c = GetParam();
  Result<IdMap> map = IdMap::Parse(c.values, c.unprivileged);
  ASSERT_TRUE(map.ok()) << map.status().message();
  EXPECT_EQ(map->entries(), c.want);
  EXPECT_EQ(map->empty(), c.want.empty());
  EXPECT_EQ(map->root_uid(), c.root_uid);
  EXPECT_EQ(map->root_gid(), c.root_gid);
}

INSTANTIATE_TEST_SUITE_P(Table, IdMapValidTest, testing::ValuesIn(ValidCases()),
                         [](const auto& info) { return std::string(info.param.name); });

struct ErrorCase {
  const char* name;
  Values values;
  std::vector<std::string> message_contains;
};

Values ManyEntries(char type, int n) {
  Values v = {type == 'u' ? "g 0 100000 65536" : "u 0 100000 65536"};
  for (int i = 0; i < n; ++i) {
    v.push_back(std::string(1, type) + " " + std::to_string(i * 10) + " " +
                std::to_string(100000 + i * 10) + " 10");
  }
  return v;
}

std::vector<ErrorCase> ErrorCases() {
  const std::string kParse = "failed to parse idmap '";
  return {
      {"UnknownType", {"x 0 100000 65536"}, {kParse + "x 0 100000 65536'"}},
      {"UpperCaseType", {"U 0 100000 65536"}, {kParse + "U 0 100000 65536'"}},
      {"BothType", {"b 0 100000 65536"}, {kParse}},
      {"LeadingSpace", {" u 0 100000 65536"}, {kParse + " u 0 100000 65536'"}},
      {"Empty", {""}, {kParse + "'"}},
      {"ThreeFields", {"u 0 100000"}, {kParse + "u 0 100000'"}},
      {"FiveFields", {"u 0 100000 65536 1"}, {kParse}},
      {"NoSpaceAfterType", {"u0 100000 65536"}, {kParse}},
      {"Negative", {"u -1 100000 65536"}, {kParse}},
      {"Hex", {"u 0 0x10 65536"}, {kParse}},
      {"TrailingJunk", {"u 0 100000 65536x"}, {kParse}},
      {"ColonSyntax", {"u:0:100000:65536"}, {kParse}},
      {"SecondValueBad", {"u 0 100000 65536", "g 0 100000"}, {kParse + "g 0 100000'"}},
      {"NumberTooBig", {"u 0 4294967296 1", "g 0 1 1"}, {"'u 0 4294967296 1'", "32-bit"}},
      {"HugeNumber", {"u 0 99999999999999999999999 1"}, {"99999999999999999999999"}},
      {"CountZero", {"u 0 100000 0", "g 0 100000 1"}, {"'u 0 100000 0'", "count"}},
      {"CtRangeOverflows", {"u 0 0 1", "g 0 0 1", "u 4294967295 5 1"}, {"'u 4294967295 5 1'"}},
      {"CtRangeWraps", {"u 1 0 4294967295"}, {"'u 1 0 4294967295'", "4294967294"}},
      {"HostRangeOverflows", {"u 0 4294967295 1"}, {"'u 0 4294967295 1'"}},
      {"OverlapCt",
       {"u 0 100000 65536", "g 0 100000 65536", "u 1000 300000 10"},
       {"'u 0 100000 65536'", "'u 1000 300000 10'", "container uids"}},
      {"OverlapHost",
       {"u 0 100000 65536", "g 0 100000 65536", "u 70000 100010 10"},
       {"'u 0 100000 65536'", "'u 70000 100010 10'", "host uids"}},
      {"OverlapGid",
       {"u 0 100000 65536", "g 0 100000 65536", "g 5 200000 1"},
       {"'g 0 100000 65536'", "'g 5 200000 1'", "container gids"}},
      {"Duplicate", {"u 0 100000 65536", "u 0 100000 65536", "g 0 100000 65536"}, {"overlap"}},
      {"TooManyUid", ManyEntries('u', 341), {"341 'u' entries", "340"}},
      {"TooManyGid", ManyEntries('g', 341), {"341 'g' entries"}},
      {"NoUidEntries", {"g 0 100000 65536"}, {"container uid 0 is not mapped", "have: none"}},
      {"NoGidEntries", {"u 0 100000 65536"}, {"container gid 0 is not mapped"}},
      {"UidRootMissing",
       {"u 1 100001 65535", "g 0 100000 65536"},
       {"container uid 0", "'u 1 100001 65535'"}},
      {"GidRootMissing",
       {"u 0 100000 65536", "g 1 100001 10", "g 20 100020 10"},
       {"container gid 0", "'g 1 100001 10', 'g 20 100020 10'"}},
  };
}

class IdMapErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(IdMapErrorTest, Rejects) {
  const ErrorCase& c = GetParam();
  for (bool unprivileged : {false, true}) {
    Result<IdMap> map = IdMap::Parse(c.values, unprivileged);
    ASSERT_FALSE(map.ok()) << map->ToString();
    EXPECT_EQ(map.status().code(), Code::kInvalidArgument);
    for (const std::string& part : c.message_contains) {
      EXPECT_NE(map.status().message().find(part), std::string::npos)
          << "message: " << map.status().message() << "\nmissing: " << part;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Table, IdMapErrorTest, testing::ValuesIn(ErrorCases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(IdMapTest, MaxEntriesPerTypeAccepted) {
  Result<IdMap> map = IdMap::Parse(ManyEntries('u', 340), true);
  ASSERT_TRUE(map.ok()) << map.status().message();
  EXPECT_EQ(map->entries().size(), 341u);
}

TEST(IdMapTest, EmptyMapIsIdentity) {
  IdMap map;
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.HostUid(1234), 1234u);
  EXPECT_EQ(map.CtGid(4294967295u), 4294967295u);
  EXPECT_EQ(map.UidMapText(), "");
  EXPECT_EQ(map.GidMapText(), "");
  EXPECT_EQ(map.ToString(), "(none)");
  EXPECT_TRUE(map.UsernsexecSpecs().empty());
}

struct TranslateCase {
  char type;
  uint32_t ct;
  std::optional<uint32_t> host;
};

TEST(IdMapTest, TranslatesBothWays) {
  Result<IdMap> map = IdMap::Parse(
      {"u 0 100000 1000", "u 1000 1000 1", "u 1001 101001 64535", "g 0 200000 65536"}, true);
  ASSERT_TRUE(map.ok()) << map.status().message();
  const TranslateCase cases[] = {
      {'u', 0, 100000},           {'u', 999, 100999},
      {'u', 1000, 1000},          {'u', 1001, 101001},
      {'u', 65535, 165535},       {'u', 65536, std::nullopt},
      {'g', 0, 200000},           {'g', 65535, 265535},
      {'g', 65536, std::nullopt}, {'u', 4294967295u, std::nullopt},
  };
  for (const TranslateCase& c : cases) {
    std::optional<uint32_t> host = c.type == 'u' ? map->HostUid(c.ct) : map->HostGid(c.ct);
    EXPECT_EQ(host, c.host) << c.type << " " << c.ct;
    if (!c.host) continue;
    std::optional<uint32_t> back = c.type == 'u' ? map->CtUid(*c.host) : map->CtGid(*c.host);
    EXPECT_EQ(back, c.ct) << c.type << " " << *c.host;
  }
  EXPECT_EQ(map->CtUid(99999), std::nullopt);
  EXPECT_EQ(map->CtUid(0), std::nullopt);
  EXPECT_EQ(map->CtGid(100000), std::nullopt);
}

TEST(IdMapTest, Texts) {
  Result<IdMap> map = IdMap::Parse({"u 0 100000 1000", "g 0 100000 65536", "u 1000 1000 1"}, true);
  ASSERT_TRUE(map.ok()) << map.status().message();
  EXPECT_EQ(map->UidMapText(), "0 100000 1000\n1000 1000 1\n");
  EXPECT_EQ(map->GidMapText(), "0 100000 65536\n");
  EXPECT_EQ(map->ToString(), "u 0 100000 1000, g 0 100000 65536, u 1000 1000 1");
  EXPECT_EQ(map->UsernsexecSpecs(),
            (std::vector<std::string>{"u:0:100000:1000", "g:0:100000:65536", "u:1000:1000:1"}));
}

TEST(IdMapTest, DefaultToString) {
  Result<IdMap> map = IdMap::Parse({}, true);
  ASSERT_TRUE(map.ok());
  EXPECT_EQ(map->ToString(), "u 0 100000 65536, g 0 100000 65536");
}

// Checks the documented invariants of a successfully parsed map.
void ExpectInvariants(const IdMap& map) {
  for (char type : {'u', 'g'}) {
    size_t n = 0;
    bool root = false;
    for (const IdMapEntry& e : map.entries()) {
      if (e.type != type) continue;
      ++n;
      root = root || e.ct_start == 0;
      ASSERT_GT(e.count, 0u);
      ASSERT_LE(uint64_t{e.ct_start} + e.count, 4294967295u);
      ASSERT_LE(uint64_t{e.host_start} + e.count, 4294967295u);
      uint32_t last = e.ct_start + e.count - 1;
      std::optional<uint32_t> host = type == 'u' ? map.HostUid(last) : map.HostGid(last);
      ASSERT_EQ(host, e.host_start + e.count - 1);
    }
    ASSERT_LE(n, IdMap::kMaxEntriesPerType);
    ASSERT_TRUE(root);
  }
}

std::string Mutate(std::string s, std::mt19937& rng) {
  static const std::string kAlphabet = "ug 0123456789\t\n\rx-+:";
  int ops = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < ops; ++i) {
    size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    char c = kAlphabet[rng() % kAlphabet.size()];
    switch (rng() % 4) {
      case 0:
        s.insert(pos, 1, c);
        break;
      case 1:
        if (pos < s.size()) s.erase(pos, 1);
        break;
      case 2:
        if (pos < s.size()) s[pos] = c;
        break;
      default:
        s.insert(pos, std::to_string(rng()));
        break;
    }
  }
  return s;
}

// Deterministic stand-in for the fuzzer: mutated valid maps either parse into
// a map that satisfies every invariant or fail with a well-formed error.
TEST(IdMapTest, RandomizedNeverCrashes) {
  const std::vector<Values> seeds = {
      {"u 0 100000 65536", "g 0 100000 65536"},
      {"u 0 100000 1000", "g 0 100000 1000", "u 1000 1000 1", "g 1000 1000 1",
       "u 1001 101001 64535", "g 1001 101001 64535"},
      {"u 0 0 4294967295", "g 0 0 1"},
  };
  std::mt19937 rng(20240601);
  int ok = 0, failed = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    Values values = seeds[rng() % seeds.size()];
    size_t which = rng() % values.size();
    values[which] = Mutate(values[which], rng);
    if (rng() % 8 == 0) values.push_back(values[rng() % values.size()]);
    if (rng() % 8 == 0) values.erase(values.begin() + static_cast<long>(rng() % values.size()));
    Result<IdMap> map = IdMap::Parse(values, rng() % 2);
    if (map.ok()) {
      ++ok;
      if (!map->empty()) ExpectInvariants(*map);
      if (testing::Test::HasFatalFailure()) FAIL() << "input #" << iter;
    } else {
      ++failed;
      ASSERT_EQ(map.status().code(), Code::kInvalidArgument);
      const std::string& m = map.status().message();
      ASSERT_TRUE(m.rfind("failed to parse idmap '", 0) == 0 || m.rfind("invalid idmap", 0) == 0)
          << m;
    }
  }
  EXPECT_GT(ok, 100);
  EXPECT_GT(failed, 100);
}

}  // namespace
}  // namespace ctdump
