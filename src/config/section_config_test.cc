#include "ctdump/section_config.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "config/config_test_util.h"

namespace ctdump {
namespace {

constexpr char kFile[] = "/etc/pve/storage.cfg";

struct SectionCase {
  const char* name;
  std::string text;
  std::vector<Section> want;
  std::string error;  // substring of the expected message; "" = success
};

void PrintTo(const SectionCase& c, std::ostream* os) { *os << c.name; }

const char kStorageCfg[] =
    "dir: local\n"
    "\tpath /var/lib/vz\n"
    "\tcontent iso,vztmpl,backup\n"
    "\n"
    "lvmthin: local-lvm\n"
    "        thinpool data\n"
    "        vgname pve\n"
    "        content rootdir,images\n"
    "\n"
    "backup-provider-dir-example: example\n"
    "\tbackup-dir /mnt/backup\n"
    "\tdisable\n";

std::vector<SectionCase> Cases() {
  return {
      {"Empty", "", {}, ""},
      {"OnlyComments", "# a\n\n  # b\n", {}, ""},
      {"StorageCfg",
       kStorageCfg,
       {{"dir", "local", {{"path", "/var/lib/vz"}, {"content", "iso,vztmpl,backup"}}},
        {"lvmthin",
         "local-lvm",
         {{"thinpool", "data"}, {"vgname", "pve"}, {"content", "rootdir,images"}}},
        {"backup-provider-dir-example",
         "example",
         {{"backup-dir", "/mnt/backup"}, {"disable", "1"}}}},
       ""},
      {"HeaderWithoutSpace", "dir:local\n\tpath /x\n", {{"dir", "local", {{"path", "/x"}}}}, ""},
      {"HeaderEndsSection",
       "dir: a\n\tpath /a\ndir: b\n\tpath /b\n",
       {{"dir", "a", {{"path", "/a"}}}, {"dir", "b", {{"path", "/b"}}}},
       ""},
      {"ValueWithSpaces",
       "pbs: p\n\tfingerprint  aa:bb \t\n\tcomment my  backup server\n",
       {{"pbs", "p", {{"fingerprint", "aa:bb"}, {"comment", "my  backup server"}}}},
       ""},
      {"CommentInsideSection", "dir: a\n# note\n\tpath /a\n", {{"dir", "a", {{"path", "/a"}}}}, ""},
      {"CrLf", "dir: a\r\n\tpath /a\r\n", {{"dir", "a", {{"path", "/a"}}}}, ""},
      {"EmptySection", "dir: a\n\ndir: b\n", {{"dir", "a", {}}, {"dir", "b", {}}}, ""},
      {"IdChars", "dir: A1-_.z\n", {{"dir", "A1-_.z", {}}}, ""},
      {"WhitespaceLineEndsSection",
       "dir: a\n \t \n\tpath /a\n",
       {},
       "/etc/pve/storage.cfg:3: option 'path /a' outside a section"},
      {"OptionBeforeHeader", "\tpath /a\n", {}, "/etc/pve/storage.cfg:1: option 'path /a' outside"},
      {"DuplicateId", "dir: a\n\nnfs: a\n", {}, "/etc/pve/storage.cfg:3: duplicate id 'a'"},
      {"DuplicateKey",
       "dir: a\n\tpath /a\n\tpath /b\n",
       {},
       "/etc/pve/storage.cfg:3: duplicate option 'path' in section 'a'"},
      {"IdStartsWithDigit", "dir: 1a\n", {}, "/etc/pve/storage.cfg:1: invalid section id '1a'"},
      {"IdWithSlash", "dir: a/b\n", {}, "invalid section id 'a/b'"},
      {"IdWithSpace", "dir: a b\n", {}, "invalid section id 'a b'"},
      {"MissingId", "dir:\n", {}, "invalid section id ''"},
      {"BadType", "d r: a\n", {}, "invalid section type 'd r'"},
      {"NoColon", "dir local\n", {}, "/etc/pve/storage.cfg:1: unable to parse line 'dir local'"},
  };
}

class SectionConfigTest : public testing::TestWithParam<SectionCase> {};

TEST_P(SectionConfigTest, Parses) {
  const SectionCase& c = GetParam();
  Result<std::vector<Section>> sections = ParseSectionConfig(c.text, kFile);
  if (!c.error.empty()) {
    ASSERT_FALSE(sections.ok());
    EXPECT_EQ(sections.status().code(), Code::kInvalidArgument);
    EXPECT_NE(sections.status().message().find(c.error), std::string::npos)
        << "message: " << sections.status().message() << "\nwant: " << c.error;
    return;
  }
  ASSERT_TRUE(sections.ok()) << sections.status().message();
  EXPECT_EQ(*sections, c.want);
}

INSTANTIATE_TEST_SUITE_P(Table, SectionConfigTest, testing::ValuesIn(Cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(SectionConfigTest, Get) {
  Result<std::vector<Section>> sections = ParseSectionConfig(kStorageCfg, kFile);
  ASSERT_TRUE(sections.ok()) << sections.status().message();
  EXPECT_EQ((*sections)[0].Get("path"), "/var/lib/vz");
  EXPECT_EQ((*sections)[2].Get("disable"), "1");
  EXPECT_EQ((*sections)[0].Get("nope"), std::nullopt);
}

TEST(SectionConfigLinesTest, KeepsLineNumbers) {
  ParsedSectionConfig p =
      ParseSectionConfigLines("# c\ndir: a\n\tpath /a\n# c\n\tshared\n\nnfs: b\n", kFile);
  ASSERT_TRUE(p.errors.empty()) << p.errors[0].status.message();
  ASSERT_EQ(p.sections.size(), 2u);
  EXPECT_EQ(p.sections[0].line, 2u);
  EXPECT_EQ(p.sections[0].option_lines, std::vector<size_t>({3, 5}));
  EXPECT_EQ(p.sections[0].section.Get("shared"), "1");
  EXPECT_EQ(p.sections[1].line, 7u);
  EXPECT_TRUE(p.sections[1].option_lines.empty());
}

TEST(SectionConfigLinesTest, RepeatedKeysOnlyWhereAllowed) {
  const std::string text = "sendmail: m\n\tmailto a@b\n\tmailto c@d\n\tauthor x\n\tauthor y\n";
  ParsedSectionConfig strict = ParseSectionConfigLines(text, kFile);
  ASSERT_EQ(strict.errors.size(), 2u);
  EXPECT_EQ(strict.errors[0].status.message(),
            std::string(kFile) + ":3: duplicate option 'mailto' in section 'm'");
  EXPECT_EQ(strict.errors[0].section, 0u);

  SectionConfigOptions options;
  options.repeatable = [](std::string_view type, std::string_view key) {
    return type == "sendmail" && key == "mailto";
  };
  ParsedSectionConfig p = ParseSectionConfigLines(text, kFile, options);
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0].line, 5u);
  EXPECT_EQ(p.errors[0].status.message(),
            std::string(kFile) + ":5: duplicate option 'author' in section 'm'");
  ASSERT_EQ(p.sections.size(), 1u);
  const Section& s = p.sections[0].section;
  ASSERT_EQ(s.options.size(), 3u);  // the second author is left out
  EXPECT_EQ(s.options[1], std::make_pair(std::string("mailto"), std::string("c@d")));
  EXPECT_EQ(p.sections[0].option_lines, std::vector<size_t>({2, 3, 4}));
}

TEST(SectionConfigLinesTest, RequireValueAndIdRule) {
  SectionConfigOptions options;
  options.require_value = true;
  options.valid_id = [](std::string_view id) { return !id.empty() && id[0] == '_'; };
  ParsedSectionConfig p =
      ParseSectionConfigLines("matcher: _m\n\tinvert-match\n\nmatcher: m\n\tx 1\n", kFile, options);
  ASSERT_EQ(p.errors.size(), 2u);
  EXPECT_EQ(p.errors[0].status.message(),
            std::string(kFile) + ":2: option 'invert-match' without a value");
  EXPECT_EQ(p.errors[1].status.message(), std::string(kFile) + ":4: invalid section id 'm'");
  EXPECT_EQ(p.errors[1].section, std::nullopt);
  ASSERT_EQ(p.sections.size(), 1u);  // line 5 belongs to the broken header: skipped
}

// Every error is collected, in line order; the storage.cfg parser returns the first.
TEST(SectionConfigLinesTest, CollectsEveryError) {
  const std::string text =
      "\tpath /x\ndir a\n\tpath /y\n\ndir: b\n\tpath /b\n\tpath /c\n\nd r: c\n";
  ParsedSectionConfig p = ParseSectionConfigLines(text, kFile);
  ASSERT_EQ(p.errors.size(), 4u);
  EXPECT_EQ(p.errors[0].line, 1u);
  EXPECT_EQ(p.errors[1].line, 2u);
  EXPECT_EQ(p.errors[2].line, 7u);
  EXPECT_EQ(p.errors[3].line, 9u);
  ASSERT_EQ(p.sections.size(), 1u);
  EXPECT_EQ(p.sections[0].section.id, "b");
  Result<std::vector<Section>> first = ParseSectionConfig(text, kFile);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().message(),
            std::string(kFile) + ":1: option 'path /x' outside a section");
}

// Deterministic stand-in for config_section_fuzz.
TEST(SectionConfigTest, RandomizedNeverCrashes) {
  const std::vector<std::string> tokens = {
      "\n", "\t", " ", ":", ": ", "dir: ", "#", "\n\n", "path", "local", "-", "."};
  std::mt19937 rng(99);
  int ok = 0, failed = 0;
  for (int iter = 0; iter < 10000; ++iter) {
    std::string text = testing_util::Mutate(kStorageCfg, rng, tokens);
    Result<std::vector<Section>> sections = ParseSectionConfig(text, kFile);
    if (!sections.ok()) {
      ++failed;
      ASSERT_EQ(sections.status().code(), Code::kInvalidArgument);
      ASSERT_EQ(sections.status().message().rfind(std::string(kFile) + ":", 0), 0u)
          << sections.status().message();
      continue;
    }
    ++ok;
    for (const Section& s : *sections) {
      ASSERT_FALSE(s.id.empty());
      ASSERT_FALSE(s.type.empty());
      for (const auto& [k, v] : s.options) {
        ASSERT_FALSE(k.empty());
        ASSERT_FALSE(v.empty());
      }
    }
  }
  EXPECT_GT(ok, 1000);
  EXPECT_GT(failed, 1000);
}

}  // namespace
}  // namespace ctdump
