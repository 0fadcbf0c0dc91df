#include "backup/retention.h"

#include <gtest/gtest.h>

namespace ctdump::backup {
namespace {

TEST(NotesTemplateTest, RendersPveVariablesAndEscapes) {
  NotesVars v{"", "web", "host1", "c1"};
  struct Case {
    const char* tmpl;
    const char* want;
  } cases[] = {
      {"{{guestname}} on {{node}}", "web on host1"},
      {"{{vmid}}\\n{{guestname}}", "c1\nweb"},
      {"back\\\\slash", "back\\slash"},
      {"{{cluster}}x", "x"},
      {"plain", "plain"},
      {"", ""},
      {"\\t stays", "\\t stays"},
  };
  for (const auto& c : cases) {
    auto r = RenderNotesTemplate(c.tmpl, v);
    ASSERT_TRUE(r.ok()) << c.tmpl;
    EXPECT_EQ(*r, c.want) << c.tmpl;
  }
}

TEST(NotesTemplateTest, Errors) {
  EXPECT_EQ(ValidateNotesTemplate("{{nope}}").message(), "notes-template: unknown variable 'nope'");
  EXPECT_FALSE(ValidateNotesTemplate("{{vmid").ok());
  EXPECT_FALSE(ValidateNotesTemplate(std::string(1025, 'x')).ok());
  EXPECT_TRUE(ValidateNotesTemplate("{{vmid}} {{node}}").ok());
}

}  // namespace
}  // namespace ctdump::backup
