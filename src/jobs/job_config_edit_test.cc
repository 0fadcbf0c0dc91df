#include "jobs/job_config_edit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "jobs/job_config.h"

namespace ctdump::jobs {
namespace {

using ::testing::HasSubstr;

constexpr const char* kFile = "/etc/ctdump/jobs.cfg";

// A file with comments before, inside and between sections, CRLF and space
// indentation, which edits of other sections must keep byte for byte.
constexpr const char* kText =
    "# ctdump jobs\n"
    "vzdump: nightly\n"
    "\tschedule 02:00\n"
    "  # which containers\n"
    "\tvmid web,db\n"
    "\tstorage local\n"
    "\n"
    "# verification\n"
    "verify: weekly\n"
    "    storage store\r\n"
    "    schedule sat 04:00\n"
    "\n"
    "gc: nightly-gc\n"
    "\tstorage store\n";

Section Vzdump(std::string id, std::vector<std::pair<std::string, std::string>> options) {
  return Section{"vzdump", std::move(id), std::move(options)};
}

TEST(JobConfigEditTest, Add) {
  struct Case {
    std::string name, text, want;
  };
  const std::string section = "vzdump: new\n\tschedule 21:00\n\tall 1\n";
  for (const Case& c : std::vector<Case>{
           {"empty file", "", section},
           {"after a section", kText, std::string(kText) + "\n" + section},
           {"no final newline", "# x", "# x\n\n" + section},
           {"after a blank line", "# x\n\n", "# x\n\n" + section},
       }) {
    KeyErrors errors;
    auto r =
        AddJobSection(c.text, kFile, Vzdump("new", {{"schedule", "21:00"}, {"all", "1"}}), &errors);
    ASSERT_TRUE(r.ok()) << c.name << ": " << r.status().message();
    EXPECT_EQ(*r, c.want) << c.name;
    EXPECT_TRUE(errors.empty()) << c.name;
  }
}

TEST(JobConfigEditTest, AddExistingIdOfAnyType) {
  for (const char* id : {"nightly", "weekly", "nightly-gc"}) {
    auto r = AddJobSection(kText, kFile, Vzdump(id, {{"schedule", "1:00"}, {"all", "1"}}), nullptr);
    EXPECT_EQ(r.status().code(), Code::kAlreadyExists) << id;
    EXPECT_EQ(r.status().message(), std::string("Job '") + id + "' already exists");
  }
}

TEST(JobConfigEditTest, Replace) {
  struct Case {
    std::string name;
    std::vector<std::pair<std::string, std::string>> options;
    std::string section;  // what replaces nightly's block
  };
  for (const Case& c : std::vector<Case>{
           {"same values: untouched",
            {{"schedule", "02:00"}, {"vmid", "web,db"}, {"storage", "local"}},
            "vzdump: nightly\n\tschedule 02:00\n  # which containers\n\tvmid web,db\n"
            "\tstorage local\n"},
           {"one value changed in place",
            {{"schedule", "03:30"}, {"vmid", "web,db"}, {"storage", "local"}},
            "vzdump: nightly\n\tschedule 03:30\n  # which containers\n\tvmid web,db\n"
            "\tstorage local\n"},
           {"key removed, key added after the last option",
            {{"schedule", "02:00"}, {"all", "1"}, {"storage", "local"}, {"comment", "all of them"}},
            "vzdump: nightly\n\tschedule 02:00\n  # which containers\n\tstorage local\n"
            "\tall 1\n\tcomment all of them\n"},
       }) {
    KeyErrors errors;
    auto r = ReplaceJobSection(kText, kFile, Vzdump("nightly", c.options), &errors);
    ASSERT_TRUE(r.ok()) << c.name << ": " << r.status().message();
    std::string want = std::string(kText);
    size_t end = want.find("\n\n# verification");
    want.replace(0, end + 1, "# ctdump jobs\n" + c.section);
    EXPECT_EQ(*r, want) << c.name;
  }
}

TEST(JobConfigEditTest, ReplaceLastSectionWithoutFinalNewline) {
  auto r = ReplaceJobSection("vzdump: a\n\tschedule 1:00\n\tall 1", kFile,
                             Vzdump("a", {{"schedule", "2:00"}, {"all", "1"}}), nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, "vzdump: a\n\tschedule 2:00\n\tall 1\n");
}

TEST(JobConfigEditTest, UnknownOrOtherTypeIsNoSuchJob) {
  for (const char* id : {"nope", "weekly"}) {
    auto r =
        ReplaceJobSection(kText, kFile, Vzdump(id, {{"schedule", "1:00"}, {"all", "1"}}), nullptr);
    EXPECT_EQ(r.status().code(), Code::kNotFound);
    EXPECT_EQ(r.status().message(), std::string("No such job '") + id + "'");
    auto d = RemoveJobSection(kText, kFile, "vzdump", id);
    EXPECT_EQ(d.status().code(), Code::kNotFound);
  }
}

TEST(JobConfigEditTest, Remove) {
  struct Case {
    std::string name, text, type, id, want;
  };
  for (const Case& c : std::vector<Case>{
           {"comment inside stays, blank lines too", kText, "vzdump", "nightly",
            "# ctdump jobs\n  # which containers\n\n# verification\nverify: weekly\n"
            "    storage store\r\n    schedule sat 04:00\n\ngc: nightly-gc\n\tstorage store\n"},
           {"the following blank line goes", kText, "verify", "weekly",
            "# ctdump jobs\nvzdump: nightly\n\tschedule 02:00\n  # which containers\n"
            "\tvmid web,db\n\tstorage local\n\n# verification\ngc: nightly-gc\n\tstorage store\n"},
           {"the last: the preceding blank line goes", kText, "gc", "nightly-gc",
            "# ctdump jobs\nvzdump: nightly\n\tschedule 02:00\n  # which containers\n"
            "\tvmid web,db\n\tstorage local\n\n# verification\nverify: weekly\n"
            "    storage store\r\n    schedule sat 04:00\n"},
           {"the only one", "vzdump: a\n\tschedule 1:00\n\tall 1\n", "vzdump", "a", ""},
       }) {
    auto r = RemoveJobSection(c.text, kFile, c.type, c.id);
    ASSERT_TRUE(r.ok()) << c.name << ": " << r.status().message();
    EXPECT_EQ(*r, c.want) << c.name;
  }
}

TEST(JobConfigEditTest, RefusedWithErrorsPerKey) {
  struct Case {
    std::string name;
    std::vector<std::pair<std::string, std::string>> options;
    std::string key, why;
  };
  for (const Case& c : std::vector<Case>{
           {"bad value", {{"schedule", "1:00"}, {"all", "1"}, {"mode", "fast"}}, "mode", "mode"},
           {"unknown key",
            {{"schedule", "1:00"}, {"all", "1"}, {"bogus", "1"}},
            "bogus",
            "unknown key 'bogus'"},
           {"bad schedule", {{"schedule", "not a time"}, {"all", "1"}}, "schedule", ""},
           {"no selection", {{"schedule", "1:00"}}, "id", "no container selected"},
           {"no schedule", {{"all", "1"}}, "id", "no schedule given"},
           {"line feed",
            {{"schedule", "1:00"}, {"all", "1"}, {"comment", "a\n\tscript /x"}},
            "comment",
            "line feed"},
           {"empty value",
            {{"schedule", "1:00"}, {"all", "1"}, {"comment", ""}},
            "comment",
            "empty"},
           {"trailing space",
            {{"schedule", "1:00"}, {"all", "1"}, {"comment", "x "}},
            "comment",
            "white space"},
       }) {
    for (bool add : {true, false}) {
      KeyErrors errors;
      auto r = add ? AddJobSection(kText, kFile, Vzdump("new", c.options), &errors)
                   : ReplaceJobSection(kText, kFile, Vzdump("nightly", c.options), &errors);
      ASSERT_EQ(r.status().code(), Code::kInvalidArgument) << c.name;
      ASSERT_TRUE(errors.count(c.key)) << c.name << ": " << r.status().message();
      EXPECT_THAT(errors[c.key], HasSubstr(c.why)) << c.name;
    }
  }
}

TEST(JobConfigEditTest, OtherBrokenSectionsDoNotRefuse) {
  std::string text = std::string(kText) + "\nvzdump: broken\n\tschedule 1:00\n\tbogus 1\n";
  auto r = AddJobSection(text, kFile, Vzdump("new", {{"schedule", "1:00"}, {"all", "1"}}), nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_THAT(*r, HasSubstr("\tbogus 1\n\nvzdump: new\n"));
  JobsConfig cfg = ParseJobsConfig(*r, kFile);
  EXPECT_NE(cfg.Find("new"), nullptr);
  EXPECT_EQ(cfg.errors.size(), 1u);
}

TEST(JobConfigEditTest, FindJobSection) {
  auto s = FindJobSection(kText, kFile, "nightly");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->type, "vzdump");
  EXPECT_EQ(s->Get("vmid"), "web,db");
  EXPECT_FALSE(FindJobSection(kText, kFile, "nope").has_value());
}

}  // namespace
}  // namespace ctdump::jobs
