#include "ctdump/prune.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/test_util.h"

namespace ctdump {
namespace {

constexpr PruneMark K = PruneMark::kKeep;
constexpr PruneMark R = PruneMark::kRemove;
constexpr PruneMark P = PruneMark::kProtected;

using ::ctdump::testing::ScopedTz;

// Runs every test in UTC unless it sets another zone.
class PruneTest : public ::testing::Test {
 protected:
  ScopedTz utc_{"UTC"};
};

// "YYYY-MM-DD HH:MM:SS" (UTC) -> seconds since the epoch.
int64_t Utc(const char* text) {
  struct tm tm = {};
  int n = sscanf(text, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                 &tm.tm_min, &tm.tm_sec);
  EXPECT_EQ(n, 6) << text;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return timegm(&tm);
}

std::string LocalString(int64_t ctime, const char* format) {
  time_t t = ctime;
  struct tm tm;
  localtime_r(&t, &tm);
  char buf[64];
  strftime(buf, sizeof(buf), format, &tm);
  return buf;
}

std::vector<PruneItem> Items(const std::vector<int64_t>& ctimes) {
  std::vector<PruneItem> items;
  for (int64_t t : ctimes) items.push_back({t, false});
  return items;
}

std::string Show(const std::vector<PruneMark>& marks) {
  std::string out;
  for (PruneMark m : marks) {
    if (!out.empty()) out += ' ';
    out += PruneMarkName(m);
  }
  return out;
}

PruneOptions Opts(std::string_view text) {
  Result<PruneOptions> opts = ParsePruneOptions(text);
  EXPECT_TRUE(opts.ok()) << text << ": " << opts.status().ToString();
  return opts.ok() ? *opts : PruneOptions{};
}

// ---------------------------------------------------------------------------
// Parser, ToString, KeepsEverything.

struct ParseCase {
  std::string text;
  std::optional<PruneOptions> want;  // nullopt: InvalidArgument
  std::string error_has;             // substring of the error message
};

PruneOptions Make(std::optional<uint32_t> last, std::optional<uint32_t> hourly,
                  std::optional<uint32_t> daily, std::optional<uint32_t> weekly,
                  std::optional<uint32_t> monthly, std::optional<uint32_t> yearly,
                  bool all = false) {
  PruneOptions o;
  o.keep_last = last;
  o.keep_hourly = hourly;
  o.keep_daily = daily;
  o.keep_weekly = weekly;
  o.keep_monthly = monthly;
  o.keep_yearly = yearly;
  o.keep_all = all;
  return o;
}

constexpr std::nullopt_t N = std::nullopt;

TEST_F(PruneTest, ParseTable) {
  const std::vector<ParseCase> cases = {
      // Valid.
      {"", PruneOptions{}, ""},
      {" ", PruneOptions{}, ""},
      {",,", PruneOptions{}, ""},
      {"keep-last=3", Make(3, N, N, N, N, N), ""},
      {"keep-last=3,keep-daily=7", Make(3, N, 7, N, N, N), ""},
      {"keep-last=3, keep-daily=7", Make(3, N, 7, N, N, N), ""},
      {" keep-last=3 ,\tkeep-daily=7 ", Make(3, N, 7, N, N, N), ""},
      {"keep-last=3,", Make(3, N, N, N, N, N), ""},
      {",keep-last=3", Make(3, N, N, N, N, N), ""},
      {"keep-yearly=9,keep-monthly=11,keep-weekly=8,keep-daily=13,keep-hourly=2,keep-last=3",
       Make(3, 2, 13, 8, 11, 9), ""},
      {"keep-last=007", Make(7, N, N, N, N, N), ""},
      {"keep-yearly=4294967295", Make(N, N, N, N, N, 4294967295u), ""},
      {"keep-all=1", Make(N, N, N, N, N, N, true), ""},
      {"keep-all=0", PruneOptions{}, ""},
      {"keep-all=yes", Make(N, N, N, N, N, N, true), ""},
      {"keep-all=TRUE", Make(N, N, N, N, N, N, true), ""},
      {"keep-all=On", Make(N, N, N, N, N, N, true), ""},
      {"keep-all=false", PruneOptions{}, ""},
      {"keep-all=no", PruneOptions{}, ""},
      {"keep-all=off", PruneOptions{}, ""},
      {"keep-last=0", PruneOptions{}, ""},
      {"keep-last=0,keep-daily=2", Make(N, N, 2, N, N, N), ""},
      {"keep-all=1,keep-last=0", Make(N, N, N, N, N, N, true), ""},
      {"keep-all=0,keep-last=2", Make(2, N, N, N, N, N), ""},
      // Errors.
      {"keep-foo=1", N, "'keep-foo'"},
      {"Keep-Last=1", N, "'Keep-Last'"},
      {"maxfiles=3", N, "'maxfiles'"},
      {"=3", N, "unknown"},
      {"keep-last", N, "'keep-last'"},
      {"keep-last=3,keep-daily", N, "'keep-daily'"},
      {"keep-last=-1", N, "'keep-last'"},
      {"keep-daily=abc", N, "'keep-daily'"},
      {"keep-weekly=", N, "'keep-weekly'"},
      {"keep-monthly=1.5", N, "'keep-monthly'"},
      {"keep-yearly=+3", N, "'keep-yearly'"},
      {"keep-hourly= 3", N, "'keep-hourly'"},
      {"keep-last=4294967296", N, "'keep-last'"},
      {"keep-last=99999999999999999999", N, "'keep-last'"},
      {"keep-last=3;keep-daily=2", N, "'keep-last'"},
      {"keep-all=2", N, "'keep-all'"},
      {"keep-all=maybe", N, "'keep-all'"},
      {"keep-all=", N, "'keep-all'"},
      {"keep-all=1,keep-last=2", N, "'keep-all' cannot be set together"},
      {"keep-daily=2,keep-all=1", N, "'keep-all' cannot be set together"},
      {"keep-last=1,keep-last=2", N, "duplicate prune-backups option 'keep-last'"},
      {"keep-last=0,keep-last=0", N, "duplicate prune-backups option 'keep-last'"},
      {"keep-all=1,keep-all=1", N, "duplicate prune-backups option 'keep-all'"},
      {"keep-daily=1, keep-daily=1", N, "duplicate prune-backups option 'keep-daily'"},
  };
  for (const ParseCase& c : cases) {
    SCOPED_TRACE("text: \"" + c.text + "\"");
    Result<PruneOptions> got = ParsePruneOptions(c.text);
    if (c.want) {
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(got->ToString(), c.want->ToString());
      EXPECT_TRUE(*got == *c.want);
    } else {
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.status().code(), Code::kInvalidArgument);
      EXPECT_NE(got.status().message().find(c.error_has), std::string::npos)
          << got.status().message();
    }
  }
}

TEST_F(PruneTest, ToStringTable) {
  const std::vector<std::pair<PruneOptions, std::string>> cases = {
      {PruneOptions{}, "keep-all=1"},
      {Make(N, N, N, N, N, N, true), "keep-all=1"},
      {Make(0, 0, 0, N, N, N), "keep-all=1"},
      {Make(3, N, 7, N, N, N), "keep-daily=7, keep-last=3"},
      {Make(3, 0, 13, 8, 11, 9),
       "keep-daily=13, keep-last=3, keep-monthly=11, keep-weekly=8, "
       "keep-yearly=9"},
      {Make(N, 24, N, N, N, N), "keep-hourly=24"},
      // keep-all wins, as in prune_mark_backup_group.
      {Make(1, N, N, N, N, N, true), "keep-all=1"},
  };
  for (const auto& [opts, want] : cases) EXPECT_EQ(opts.ToString(), want);
}

TEST_F(PruneTest, ToStringParsesBack) {
  for (const char* text : {"keep-last=3", "keep-daily=7,keep-last=3", "keep-all=1", "",
                           "keep-yearly=9,keep-monthly=11,keep-weekly=8,keep-daily=13,"
                           "keep-hourly=2,keep-last=3"}) {
    SCOPED_TRACE(text);
    PruneOptions opts = Opts(text);
    PruneOptions again = Opts(opts.ToString());
    EXPECT_EQ(again.KeepsEverything(), opts.KeepsEverything());
    if (!opts.KeepsEverything()) {
      EXPECT_TRUE(again == opts);
    }
  }
}

TEST_F(PruneTest, KeepsEverything) {
  EXPECT_TRUE(PruneOptions{}.KeepsEverything());
  EXPECT_TRUE(Make(N, N, N, N, N, N, true).KeepsEverything());
  EXPECT_TRUE(Make(0, 0, 0, 0, 0, 0).KeepsEverything());
  EXPECT_TRUE(Make(1, N, N, N, N, N, true).KeepsEverything());
  EXPECT_FALSE(Make(1, N, N, N, N, N).KeepsEverything());
  EXPECT_FALSE(Make(0, N, N, N, N, 1).KeepsEverything());
}

TEST_F(PruneTest, MarkNames) {
  EXPECT_EQ(PruneMarkName(K), "keep");
  EXPECT_EQ(PruneMarkName(R), "remove");
  EXPECT_EQ(PruneMarkName(P), "protected");
}

// ---------------------------------------------------------------------------
// Reference suites.

struct MarkCase {
  std::string name;
  PruneOptions opts;
  std::vector<PruneMark> want;
};

void RunMarkCases(const std::vector<PruneItem>& items, const std::vector<MarkCase>& cases) {
  for (const MarkCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Show(MarkBackups(items, c.opts)), Show(c.want));
  }
}

// pve-storage src/test/prune_backups_test.pm, the 'default' list of one
// guest's qemu group (the lxc backup there is its own group). Input order is
// the test's volid order: oldest first.
constexpr int64_t kPveBase = 1577881101;  // 2020-01-01 12:18:21 UTC

std::vector<PruneItem> PveDefaultGroup() {
  return {
      {kPveBase - 585 * 86400 - 3600, false},  // 2018-05-26 11:18:21
      {kPveBase - 86400 - 3600, false},        // 2019-12-31 11:18:21
      {kPveBase - 86400 - 3600 + 30, true},    // 2019-12-31 11:18:51, protected
      {kPveBase - 86400 - 3600 + 60, false},   // 2019-12-31 11:19:21
      {kPveBase - 3600, false},                // 2020-01-01 11:18:21
      {kPveBase, false},                       // 2020-01-01 12:18:21
  };
}

TEST_F(PruneTest, PveStorageTestSuite) {
  RunMarkCases(PveDefaultGroup(),
               {
                   {"last=3", Make(3, N, N, N, N, N), {R, R, P, K, K, K}},
                   {"weekly=2", Make(N, N, N, 2, N, N), {K, R, P, R, R, K}},
                   {"daily=weekly=monthly=1, hourly=0", Make(N, 0, 1, 1, 1, N), {K, R, P, K, R, K}},
                   {"hourly=4, daily=0", Make(N, 4, 0, N, N, N), {K, R, P, K, K, K}},
                   {"yearly=2, others 0", Make(N, 0, 0, 0, 0, 2), {R, R, P, K, R, K}},
                   {"last=2, hourly=2", Make(2, 2, N, N, N, N), {K, R, P, K, K, K}},
                   {"last=1, monthly=2", Make(1, N, N, N, 2, N), {K, R, P, K, R, K}},
                   {"monthly=3", Make(N, N, N, N, 3, N), {K, R, P, K, R, K}},
                   {"last=daily=weekly=1", Make(1, N, 1, 1, N, N), {K, R, P, K, R, K}},
                   {"last=daily=weekly=1, others 0", Make(1, 0, 1, 1, 0, 0), {K, R, P, K, R, K}},
                   {"daily=2", Make(N, N, 2, N, N, N), {R, R, P, K, R, K}},
                   {"weekly=monthly=1", Make(N, N, N, 1, 1, N), {K, R, P, R, R, K}},
                   {"weekly=yearly=1", Make(N, N, N, 1, N, 1), {K, R, P, R, R, K}},
                   {"all missing", PruneOptions{}, {K, K, P, K, K, K}},
                   {"all zero", Make(0, 0, 0, 0, 0, 0), {K, K, P, K, K, K}},
                   {"some zero, some missing", Make(0, 0, 0, N, 0, 0), {K, K, P, K, K, K}},
               });
}

TEST_F(PruneTest, PveStorageTestSuiteSmallLists) {
  // 'year1970', yearly=1.
  RunMarkCases(Items({83, int64_t{60} * 60 * 24 * (365 * 100 + 25) + 60}),
               {{"yearly=1, year before 2000", Make(N, N, N, N, N, 1), {R, K}}});
  // 'threeway': the 12-31 backup's month is covered by the backup keep-weekly kept.
  RunMarkCases(Items({kPveBase - 7 * 86400, kPveBase - 86400, kPveBase}),
               {{"daily=weekly=monthly=1", Make(N, N, 1, 1, 1, N), {K, R, K}}});
  // 'weekboundary': 2020-12-03 (Thu), 12-04 (Fri), 12-07 (Mon).
  RunMarkCases(Items({kPveBase + (366 - 31 + 2) * 86400, kPveBase + (366 - 31 + 3) * 86400,
                      kPveBase + (366 - 31 + 6) * 86400}),
               {{"daily=weekly=1", Make(N, N, 1, 1, N, N), {R, K, K}}});
  // The single lxc backup of the default list.
  RunMarkCases(Items({kPveBase}), {{"last=1", Make(1, N, N, N, N, N), {K}}});
}

// proxmox-backup tests/prune.rs (backup times are UTC; the suite runs in UTC).
TEST_F(PruneTest, ProxmoxBackupTestSuite) {
  std::vector<PruneItem> hourly = Items({
      Utc("2019-11-15 09:39:15"),
      Utc("2019-11-15 10:49:15"),
      Utc("2019-11-15 10:59:15"),
      Utc("2019-11-15 11:39:15"),
      Utc("2019-11-15 11:49:15"),
      Utc("2019-11-15 11:59:15"),
  });
  RunMarkCases(hourly, {
                           {"hourly=3", Make(N, 3, N, N, N, N), {K, R, K, R, R, K}},
                           {"hourly=2", Make(N, 2, N, N, N, N), {R, R, K, R, R, K}},
                       });

  std::vector<PruneItem> simple2 = Items({
      Utc("2018-11-15 11:59:15"),
      Utc("2019-11-15 11:59:15"),
      Utc("2019-11-21 11:59:15"),
      Utc("2019-11-22 11:59:15"),
      Utc("2019-11-29 11:59:15"),
      Utc("2019-12-01 11:59:15"),
      Utc("2019-12-02 11:59:15"),
      Utc("2019-12-03 11:59:15"),
      Utc("2019-12-04 11:59:15"),
  });
  RunMarkCases(simple2,
               {
                   {"daily=1", Make(N, N, 1, N, N, N), {R, R, R, R, R, R, R, R, K}},
                   {"last=1, daily=1", Make(1, N, 1, N, N, N), {R, R, R, R, R, R, R, K, K}},
                   {"daily=1, weekly=1", Make(N, N, 1, 1, N, N), {R, R, R, R, R, K, R, R, K}},
                   // 11-29 shares 12-01's week, so keep-weekly removed it before
                   // keep-monthly could pick it for November.
                   {"daily=weekly=monthly=1", Make(N, N, 1, 1, 1, N), {R, R, R, K, R, K, R, R, K}},
                   {"monthly=1, yearly=1", Make(N, N, N, N, 1, 1), {K, R, R, R, R, R, R, R, K}},
               });

  std::vector<PruneItem> simple = Items({
      Utc("2019-12-02 11:59:15"),
      Utc("2019-12-03 11:59:15"),
      Utc("2019-12-04 11:59:15"),
      Utc("2019-12-04 12:59:15"),
  });
  RunMarkCases(simple, {
                           {"last=4", Make(4, N, N, N, N, N), {K, K, K, K}},
                           {"last=3", Make(3, N, N, N, N, N), {R, K, K, K}},
                           {"last=2", Make(2, N, N, N, N, N), {R, R, K, K}},
                           {"last=1", Make(1, N, N, N, N, N), {R, R, R, K}},
                           // compute_prune_info alone would remove all four; PBS's
                           // API (keeps_something) and PVE keep everything.
                           {"last=0", Make(0, N, N, N, N, N), {K, K, K, K}},
                           {"last=2, daily=2", Make(2, N, 2, N, N, N), {K, K, K, K}},
                           {"daily=3", Make(N, N, 3, N, N, N), {K, K, R, K}},
                           {"daily=2", Make(N, N, 2, N, N, N), {R, K, R, K}},
                           {"weekly=5", Make(N, N, N, 5, N, N), {R, R, R, K}},
                           {"daily=1, weekly=5", Make(N, N, 1, 5, N, N), {R, R, R, K}},
                           {"monthly=6", Make(N, N, N, N, 6, N), {R, R, R, K}},
                           {"yearly=7", Make(N, N, N, N, N, 7), {R, R, R, K}},
                           {"weekly=5, monthly=6, yearly=7", Make(N, N, N, 5, 6, 7), {R, R, R, K}},
                       });
}

// PVE admin guide / PBS docs, "Retention Settings Example": daily backups,
// keep-last=3, keep-daily=13, keep-weekly=8, keep-monthly=11, keep-yearly=9
// gives at least ten years of backups with ever wider gaps.
TEST_F(PruneTest, DocsRetentionSettingsExample) {
  std::vector<PruneItem> items;
  for (int64_t t = Utc("2010-01-01 10:00:00"); t <= Utc("2024-06-15 10:00:00"); t += 86400) {
    items.push_back({t, false});
  }
  std::vector<PruneMark> marks = MarkBackups(items, Opts("keep-last=3,keep-daily=13,"
                                                         "keep-weekly=8,keep-monthly=11,"
                                                         "keep-yearly=9"));
  std::vector<std::string> kept;
  for (size_t i = 0; i < items.size(); ++i) {
    if (marks[i] == K) kept.push_back(LocalString(items[i].ctime, "%Y-%m-%d"));
  }
  std::reverse(kept.begin(), kept.end());
  const std::vector<std::string> want = {
      // keep-last=3
      "2024-06-15", "2024-06-14", "2024-06-13",
      // keep-daily=13
      "2024-06-12", "2024-06-11", "2024-06-10", "2024-06-09", "2024-06-08", "2024-06-07",
      "2024-06-06", "2024-06-05", "2024-06-04", "2024-06-03", "2024-06-02", "2024-06-01",
      "2024-05-31",
      // keep-weekly=8: Sundays of weeks 21..14 (weeks 22..24 are covered)
      "2024-05-26", "2024-05-19", "2024-05-12", "2024-05-05", "2024-04-28", "2024-04-21",
      "2024-04-14", "2024-04-07",
      // keep-monthly=11: June..April 2024 are covered
      "2024-03-31", "2024-02-29", "2024-01-31", "2023-12-31", "2023-11-30", "2023-10-31",
      "2023-09-30", "2023-08-31", "2023-07-31", "2023-06-30", "2023-05-31",
      // keep-yearly=9: 2024 and 2023 are covered
      "2022-12-31", "2021-12-31", "2020-12-31", "2019-12-31", "2018-12-31", "2017-12-31",
      "2016-12-31", "2015-12-31", "2014-12-31"};
  EXPECT_EQ(kept, want);
  EXPECT_EQ(kept.size(), 3u + 13 + 8 + 11 + 9);
}

// ---------------------------------------------------------------------------
// Edge cases.

TEST_F(PruneTest, EmptyGroup) {
  EXPECT_TRUE(MarkBackups({}, Opts("keep-last=3")).empty());
  EXPECT_TRUE(MarkBackups({}, PruneOptions{}).empty());
}

TEST_F(PruneTest, KeepAllKeepsEverythingButReportsProtected) {
  std::vector<PruneItem> items = {{100, false}, {200, true}, {300, false}};
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-all=1"))), Show({K, P, K}));
  EXPECT_EQ(Show(MarkBackups(items, Opts(""))), Show({K, P, K}));
  EXPECT_EQ(Show(MarkBackups(items, Make(1, N, N, N, N, N, true))), Show({K, P, K}));
}

TEST_F(PruneTest, ResultFollowsInputOrder) {
  std::vector<PruneItem> items = Items({Utc("2021-05-02 10:00:00"), Utc("2021-05-04 10:00:00"),
                                        Utc("2021-05-01 10:00:00"), Utc("2021-05-03 10:00:00")});
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-last=2"))), Show({R, K, R, K}));
}

TEST_F(PruneTest, SameTimestampsKeepLastCountsTheCtime) {
  // keep-last selects by ctime (PVE's id function), so a second backup with
  // the same ctime is removed and the next older one is kept instead.
  std::vector<PruneItem> items = Items({1000, 1000, 900});
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-last=2"))), Show({K, R, K}));
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-last=3"))), Show({K, R, K}));
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-daily=1"))), Show({K, R, R}));
  // Equal ctimes keep their input order: the first listed wins.
  EXPECT_EQ(Show(MarkBackups(Items({900, 1000, 1000}), Opts("keep-last=1"))), Show({R, K, R}));
}

TEST_F(PruneTest, ProtectedInBetweenDoesNotCount) {
  std::vector<PruneItem> items = {
      {400, false}, {300, true}, {200, false}, {100, false}};  // newest first
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-last=2"))), Show({K, P, K, R}));
  std::vector<PruneItem> newest_protected = {{400, true}, {300, false}, {200, false}};
  EXPECT_EQ(Show(MarkBackups(newest_protected, Opts("keep-last=1"))), Show({P, K, R}));
  std::vector<PruneItem> all_protected = {{400, true}, {300, true}};
  EXPECT_EQ(Show(MarkBackups(all_protected, Opts("keep-last=1"))), Show({P, P}));
}

TEST_F(PruneTest, ProtectedDoesNotCoverItsPeriod) {
  // A protected backup is not "kept by an earlier option": the same day's
  // unprotected backup is still kept by keep-daily.
  std::vector<PruneItem> items = {{Utc("2021-05-04 20:00:00"), true},
                                  {Utc("2021-05-04 10:00:00"), false},
                                  {Utc("2021-05-03 10:00:00"), false}};
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-daily=1"))), Show({P, K, R}));
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-last=1,keep-daily=1"))), Show({P, K, K}));
}

TEST_F(PruneTest, KeepLastZeroIsIgnored) {
  std::vector<PruneItem> items = Items({100, 200, 300});
  EXPECT_EQ(Show(MarkBackups(items, Make(0, N, N, N, N, N))), Show({K, K, K}));
  EXPECT_EQ(Show(MarkBackups(items, Make(0, N, N, N, N, 1))),
            Show(MarkBackups(items, Make(N, N, N, N, N, 1))));
  EXPECT_EQ(Show(MarkBackups(items, Make(0, N, N, N, N, 1))), Show({R, R, K}));
}

TEST_F(PruneTest, CoveredPeriodsDoNotConsumeCount) {
  // keep-last keeps both backups of 05-04; keep-daily=2 then skips that day
  // and keeps the two days before it.
  std::vector<PruneItem> items =
      Items({Utc("2021-05-01 10:00:00"), Utc("2021-05-02 10:00:00"), Utc("2021-05-03 10:00:00"),
             Utc("2021-05-04 10:00:00"), Utc("2021-05-04 20:00:00")});
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-last=2,keep-daily=2"))), Show({R, K, K, K, K}));
}

TEST_F(PruneTest, RemovedByEarlierOptionStaysRemoved) {
  // ISO week 13 of 2021 runs from Mon 03-29 to Sun 04-04. keep-weekly keeps
  // 04-02 and removes 03-31 as a second backup of that week; keep-monthly
  // therefore takes 03-20 for March, not 03-31 (PBS and PVE agree).
  std::vector<PruneItem> items =
      Items({Utc("2021-03-20 10:00:00"), Utc("2021-03-31 10:00:00"), Utc("2021-04-02 10:00:00")});
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-weekly=1,keep-monthly=2"))), Show({K, R, K}));
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-monthly=2"))), Show({R, K, K}));
}

TEST_F(PruneTest, IsoWeeksAcrossTheYearBoundary) {
  // 2020-12-28 (Mon) .. 2021-01-03 (Sun) is 2020-W53; 2021-01-04 starts W01.
  std::vector<PruneItem> items =
      Items({Utc("2020-12-21 10:00:00"), Utc("2020-12-28 10:00:00"), Utc("2020-12-31 10:00:00"),
             Utc("2021-01-01 10:00:00"), Utc("2021-01-03 10:00:00"), Utc("2021-01-04 10:00:00")});
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-weekly=2"))), Show({R, R, R, R, K, K}));
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-weekly=3"))), Show({K, R, R, R, K, K}));
  // Calendar years split the same week.
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-yearly=2"))), Show({R, R, K, R, R, K}));
  // 2018-12-31 (Mon) already belongs to 2019-W01.
  std::vector<PruneItem> w01 =
      Items({Utc("2018-12-30 10:00:00"), Utc("2018-12-31 10:00:00"), Utc("2019-01-06 10:00:00")});
  EXPECT_EQ(Show(MarkBackups(w01, Opts("keep-weekly=3"))), Show({K, R, K}));
}

// Period of one option, as seen through MarkBackups: with keep-X=2 and two
// backups, the older one is kept exactly when it is in another period.
bool SamePeriod(const char* option, int64_t older, int64_t newer) {
  std::vector<PruneMark> m = MarkBackups(Items({older, newer}), Opts(std::string(option) + "=2"));
  return m[0] == R;
}

TEST_F(PruneTest, IsoWeekMatchesStrftimeEveryDay) {
  // Consecutive days at noon from 1890 to 2110: same week iff %G/%V agree.
  int64_t start = Utc("1890-01-01 12:00:00");
  int64_t end = Utc("2110-12-31 12:00:00");
  int mismatches = 0;
  for (int64_t t = start; t < end && mismatches < 10; t += 86400) {
    bool want = LocalString(t, "%G/%V") == LocalString(t + 86400, "%G/%V");
    if (SamePeriod("keep-weekly", t, t + 86400) != want) {
      ++mismatches;
      ADD_FAILURE() << LocalString(t, "%F %G/%V") << " vs " << LocalString(t + 86400, "%F %G/%V");
    }
  }
}

// Every option's periods agree with the strftime formats PBS uses, in UTC and
// in a zone with DST.
TEST_F(PruneTest, PeriodsMatchPbsFormats) {
  struct Option {
    const char* key;
    const char* format;
    int64_t max_gap;
  };
  const Option options[] = {{"keep-hourly", "%Y/%m/%d/%H", 2 * 3600},
                            {"keep-daily", "%Y/%m/%d", 2 * 86400},
                            {"keep-weekly", "%G/%V", 10 * 86400},
                            {"keep-monthly", "%Y/%m", 40 * 86400},
                            {"keep-yearly", "%Y", 400 * 86400}};
  for (const char* tz : {"UTC", "Europe/Vienna", "America/St_Johns", "Australia/Lord_Howe"}) {
    ScopedTz zone(tz);
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<int64_t> base(Utc("1960-01-01 00:00:00"),
                                                Utc("2060-01-01 00:00:00"));
    for (const Option& o : options) {
      SCOPED_TRACE(std::string(tz) + " " + o.key);
      std::uniform_int_distribution<int64_t> gap(1, o.max_gap);
      int mismatches = 0;
      for (int i = 0; i < 4000 && mismatches < 5; ++i) {
        int64_t older = base(rng);
        int64_t newer = older + gap(rng);
        bool want = LocalString(older, o.format) == LocalString(newer, o.format);
        if (SamePeriod(o.key, older, newer) != want) {
          ++mismatches;
          ADD_FAILURE() << older << " " << newer;
        }
      }
    }
  }
}

TEST_F(PruneTest, DstEndRepeatsAnHourInVienna) {
  // 2021-10-31: clocks go back from 03:00 CEST to 02:00 CET, so 00:30Z and
  // 01:30Z are both 02:30 local: one hourly period.
  std::vector<PruneItem> items = Items({Utc("2021-10-30 23:30:00"), Utc("2021-10-31 00:30:00"),
                                        Utc("2021-10-31 01:30:00"), Utc("2021-10-31 02:30:00")});
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-hourly=3"))), Show({R, K, K, K}));  // UTC
  ScopedTz vienna("Europe/Vienna");
  ASSERT_EQ(LocalString(items[1].ctime, "%H:%M %Z"), "02:30 CEST") << "no tzdata";
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-hourly=3"))), Show({K, R, K, K}));
}

TEST_F(PruneTest, DaysAreLocalDaysAcrossDstStart) {
  // 2021-03-28 in Vienna starts at 03-27 23:00Z and has 23 hours.
  std::vector<PruneItem> items = Items({Utc("2021-03-26 12:00:00"), Utc("2021-03-27 12:00:00"),
                                        Utc("2021-03-27 23:30:00"), Utc("2021-03-28 12:00:00")});
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-daily=2"))), Show({R, R, K, K}));  // UTC
  ScopedTz vienna("Europe/Vienna");
  ASSERT_EQ(LocalString(items[2].ctime, "%F %H:%M %Z"), "2021-03-28 00:30 CET") << "no tzdata";
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-daily=2"))), Show({R, K, R, K}));
  // The hour that does not exist (02:00-03:00) merges nothing.
  std::vector<PruneItem> hours = Items({Utc("2021-03-28 00:30:00"), Utc("2021-03-28 01:30:00")});
  EXPECT_EQ(Show(MarkBackups(hours, Opts("keep-hourly=2"))), Show({K, K}));
}

TEST_F(PruneTest, TzChangeTakesEffectWithoutRestart) {
  // 23:30Z is the same UTC day as 12:00Z but the next day in Vienna.
  std::vector<PruneItem> items = Items({Utc("2021-06-01 12:00:00"), Utc("2021-06-01 23:30:00")});
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-daily=2"))), Show({R, K}));
  setenv("TZ", "Europe/Vienna", 1);  // no tzset(): MarkBackups calls it
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-daily=2"))), Show({K, K}));
  setenv("TZ", "UTC", 1);
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-daily=2"))), Show({R, K}));
}

TEST_F(PruneTest, CtimesLocalTimeCannotRepresent) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  std::vector<PruneItem> items = Items({kMin, 0, kMax, kMax - 1});
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-daily=4"))), Show({K, K, K, K}));
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-yearly=1"))), Show({R, R, K, R}));
  EXPECT_EQ(Show(MarkBackups(items, Opts("keep-last=2"))), Show({R, R, K, K}));
}

// ---------------------------------------------------------------------------
// Randomized properties (deterministic seeds).

PruneOptions RandomOptions(std::mt19937_64& rng) {
  auto count = [&]() -> std::optional<uint32_t> {
    int r = static_cast<int>(rng() % 8);
    if (r < 3) return std::nullopt;
    return static_cast<uint32_t>(r - 3);  // 0..4
  };
  PruneOptions o = Make(count(), count(), count(), count(), count(), count());
  o.keep_all = rng() % 20 == 0;
  return o;
}

std::vector<PruneItem> RandomGroup(std::mt19937_64& rng) {
  std::vector<PruneItem> items(rng() % 40);
  int64_t now = Utc("2024-01-01 00:00:00");
  // Spans from hours to years, so every option matters sometimes.
  const int64_t spans[] = {6 * 3600, 10 * 86400, 120 * 86400, 3 * 365 * 86400};
  int64_t span = spans[rng() % 4];
  for (PruneItem& item : items) {
    item.ctime = now - static_cast<int64_t>(rng() % span);
    item.is_protected = rng() % 6 == 0;
  }
  if (items.size() > 2 && rng() % 4 == 0) items[1].ctime = items[0].ctime;  // a tie
  return items;
}

uint64_t CountSum(const PruneOptions& o) {
  return uint64_t{o.keep_last.value_or(0)} + o.keep_hourly.value_or(0) + o.keep_daily.value_or(0) +
         o.keep_weekly.value_or(0) + o.keep_monthly.value_or(0) + o.keep_yearly.value_or(0);
}

void CheckProperties(const std::vector<PruneItem>& items, const PruneOptions& opts) {
  std::vector<PruneMark> marks = MarkBackups(items, opts);
  ASSERT_EQ(marks.size(), items.size());
  uint64_t kept = 0;
  std::optional<int64_t> newest;
  for (size_t i = 0; i < items.size(); ++i) {
    ASSERT_EQ(items[i].is_protected, marks[i] == P) << i;
    if (marks[i] == K) ++kept;
    if (!items[i].is_protected && (!newest || items[i].ctime > *newest)) newest = items[i].ctime;
  }
  if (opts.KeepsEverything()) {
    EXPECT_EQ(std::count(marks.begin(), marks.end(), R), 0);
    return;
  }
  EXPECT_LE(kept, CountSum(opts));
  if (newest) {
    bool newest_kept = false;
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].ctime == *newest && marks[i] == K) newest_kept = true;
    }
    EXPECT_TRUE(newest_kept);
  }
}

TEST_F(PruneTest, RandomizedProperties) {
  for (const char* tz : {"UTC", "Europe/Vienna"}) {
    ScopedTz zone(tz);
    std::mt19937_64 rng(20240601);
    for (int round = 0; round < 3000; ++round) {
      std::vector<PruneItem> items = RandomGroup(rng);
      PruneOptions opts = RandomOptions(rng);
      SCOPED_TRACE(std::string(tz) + " round " + std::to_string(round) + ": " + opts.ToString());
      CheckProperties(items, opts);
      if (HasFatalFailure()) return;
    }
  }
}

TEST_F(PruneTest, RandomizedInputOrderDoesNotMatter) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 1000; ++round) {
    std::vector<PruneItem> items = RandomGroup(rng);
    // Distinct ctimes: with ties the input order decides, by design.
    std::sort(items.begin(), items.end(),
              [](const PruneItem& a, const PruneItem& b) { return a.ctime < b.ctime; });
    items.erase(
        std::unique(items.begin(), items.end(),
                    [](const PruneItem& a, const PruneItem& b) { return a.ctime == b.ctime; }),
        items.end());
    PruneOptions opts = RandomOptions(rng);
    std::vector<PruneMark> sorted_marks = MarkBackups(items, opts);

    std::vector<size_t> perm(items.size());
    std::iota(perm.begin(), perm.end(), size_t{0});
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<PruneItem> shuffled;
    for (size_t i : perm) shuffled.push_back(items[i]);
    std::vector<PruneMark> shuffled_marks = MarkBackups(shuffled, opts);
    for (size_t j = 0; j < perm.size(); ++j) {
      ASSERT_EQ(shuffled_marks[j], sorted_marks[perm[j]]) << "round " << round;
    }
  }
}

}  // namespace
}  // namespace ctdump
