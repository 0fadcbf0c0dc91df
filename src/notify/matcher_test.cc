#include "notify/matcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

namespace ctdump::notify {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Notification Note(Severity s, std::map<std::string, std::string> fields, int64_t t = 0) {
  Notification n;
  n.severity = s;
  n.fields = std::move(fields);
  n.timestamp = t;
  return n;
}

Matcher With(std::vector<std::string> fields, std::vector<std::string> severities = {},
             bool any = false, bool invert = false) {
  Matcher m;
  m.name = "m";
  for (const auto& f : fields) m.match_field.push_back(*ParseFieldMatch(f));
  for (const auto& s : severities) m.match_severity.push_back(*ParseSeverityList(s));
  m.mode_any = any;
  m.invert_match = invert;
  return m;
}

// proxmox-notify's test_matching.
TEST(MatcherTest, FieldMatchersAsProxmoxNotify) {
  Notification n = Note(Severity::kNotice, {{"foo", "bar"}});
  EXPECT_TRUE(MatcherMatches(With({"exact:foo=bar"}), n));
  EXPECT_TRUE(MatcherMatches(With({"regex:foo=b.*"}), n));
  EXPECT_FALSE(MatcherMatches(With({"regex:notthere=b.*"}), n));
  EXPECT_TRUE(MatcherMatches(With({"exact:foo=bar,test"}), n));
  EXPECT_TRUE(
      MatcherMatches(With({"exact:foo=bar,test"}), Note(Severity::kNotice, {{"foo", "test"}})));
  EXPECT_FALSE(
      MatcherMatches(With({"exact:foo=bar,test"}), Note(Severity::kNotice, {{"foo", "notthere"}})));
  EXPECT_FALSE(ParseFieldMatch("regex:'3=b.*").ok());
  EXPECT_FALSE(ParseFieldMatch("invalid:'bar=b.*").ok());
  EXPECT_FALSE(ParseFieldMatch("exact:foo").ok());
  EXPECT_FALSE(ParseFieldMatch("regex:foo=(").ok());
}

TEST(MatcherTest, RegexSearchesUnanchored) {
  Notification n = Note(Severity::kInfo, {{"hostname", "pve1.example.com"}});
  EXPECT_TRUE(MatcherMatches(With({"regex:hostname=example"}), n));
  EXPECT_TRUE(MatcherMatches(With({R"(regex:hostname=^.+\.example\.com$)"}), n));
  EXPECT_FALSE(MatcherMatches(With({"regex:hostname=^example"}), n));
}

TEST(MatcherTest, Severities) {
  Notification n = Note(Severity::kNotice, {});
  EXPECT_TRUE(MatcherMatches(With({}, {"info,notice,warning,error"}), n));
  EXPECT_FALSE(MatcherMatches(With({}, {"warning, error"}), n));
  EXPECT_FALSE(ParseSeverityList("info,fatal").ok());
  EXPECT_FALSE(ParseSeverityList("Info").ok());
}

TEST(MatcherTest, ModesAndInversion) {
  Notification backup_error = Note(Severity::kError, {{"type", "vzdump"}});
  // all: every directive must match.
  EXPECT_TRUE(MatcherMatches(With({"exact:type=vzdump"}, {"error"}), backup_error));
  EXPECT_FALSE(MatcherMatches(With({"exact:type=gc"}, {"error"}), backup_error));
  // Two match-severity lines under `all` must both match.
  EXPECT_FALSE(MatcherMatches(With({}, {"error", "warning"}), backup_error));
  EXPECT_TRUE(MatcherMatches(With({}, {"error", "warning"}, true), backup_error));
  // any: one directive suffices.
  EXPECT_TRUE(MatcherMatches(With({"exact:type=gc"}, {"error"}, true), backup_error));
  EXPECT_FALSE(MatcherMatches(With({"exact:type=gc"}, {"info"}, true), backup_error));
  EXPECT_TRUE(MatcherMatches(With({"exact:type=replication", "exact:type=vzdump"}, {}, true),
                             backup_error));
  // invert-match.
  EXPECT_FALSE(MatcherMatches(With({"exact:type=vzdump"}, {}, false, true), backup_error));
  EXPECT_TRUE(MatcherMatches(With({"exact:type=gc"}, {}, false, true), backup_error));
}

TEST(MatcherTest, EmptyMatcherAlwaysMatchesEvenInverted) {
  Notification n = Note(Severity::kNotice, {});
  EXPECT_TRUE(MatcherMatches(With({}, {}, false, false), n));
  EXPECT_TRUE(MatcherMatches(With({}, {}, true, false), n));
  EXPECT_TRUE(MatcherMatches(With({}, {}, false, true), n));
}

TEST(MatcherTest, DailyDurationParses) {
  struct Case {
    const char* text;
    uint8_t days;
    int start, end;
  } ok[] = {
      {"8-12", 0x7f, 480, 720},
      {"8:00-15:30", 0x7f, 480, 930},
      {"mon-fri 9:00-17:00", 0x1f, 540, 1020},
      {"mon..fri 9-17", 0x1f, 540, 1020},
      {"sun,tue-wed,fri 9-17", 0x40 | 0x02 | 0x04 | 0x10, 540, 1020},
      {"sat..sun 0-24", 0x60, 0, 1440},
  };
  for (const Case& c : ok) {
    Result<DailyDuration> d = ParseDailyDuration(c.text);
    ASSERT_TRUE(d.ok()) << c.text << ": " << d.status().message();
    EXPECT_EQ(d->days, c.days) << c.text;
    EXPECT_EQ(d->start_minute, c.start) << c.text;
    EXPECT_EQ(d->end_minute, c.end) << c.text;
  }
  for (const char* bad : {"", "8", "17-8", "8-8", "25-26", "mon", "xyz 8-9", "8:5-9", "8:60-9"}) {
    EXPECT_FALSE(ParseDailyDuration(bad).ok()) << bad;
  }
}

TEST(MatcherTest, DailyDurationMatchesLocalTime) {
  setenv("TZ", "UTC", 1);
  tzset();
  // 2023-11-14 (a Tuesday) 22:13:20 UTC.
  int64_t t = 1700000000;
  EXPECT_TRUE(DurationContains(*ParseDailyDuration("22-23"), t));
  EXPECT_TRUE(DurationContains(*ParseDailyDuration("tue 22:13-22:14"), t));
  EXPECT_FALSE(DurationContains(*ParseDailyDuration("tue 22:14-23"), t));
  EXPECT_FALSE(DurationContains(*ParseDailyDuration("mon,wed..sun 0-24"), t));
  EXPECT_FALSE(DurationContains(*ParseDailyDuration("8-22"), t));  // end exclusive
  setenv("TZ", "Europe/Vienna", 1);                                // UTC+1 in November
  tzset();
  EXPECT_TRUE(DurationContains(*ParseDailyDuration("tue 23-24"), t));
  EXPECT_FALSE(DurationContains(*ParseDailyDuration("22-23"), t));
  unsetenv("TZ");
  tzset();
}

TEST(MatcherTest, MatchingTargetsSkipsDisabledAndDeduplicates) {
  Config c;
  for (const char* name : {"a", "b", "c"}) {
    Target t;
    t.name = name;
    c.targets.push_back(t);
  }
  c.targets[2].disable = true;
  Matcher m1 = With({"exact:type=vzdump"});
  m1.targets = {"b", "a"};
  Matcher m2;
  m2.targets = {"a", "c"};
  Matcher m3;
  m3.disable = true;
  m3.targets = {"c"};
  c.matchers = {m1, m2, m3};
  EXPECT_THAT(MatchingTargets(c, Note(Severity::kInfo, {{"type", "vzdump"}})),
              ElementsAre("a", "b"));
  EXPECT_THAT(MatchingTargets(c, Note(Severity::kInfo, {{"type", "gc"}})), ElementsAre("a"));
}

}  // namespace
}  // namespace ctdump::notify
