#include "api/schema.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ctdump::api {
namespace {

using nlohmann::json;

std::vector<Param> VzdumpLike() {
  std::vector<Param> params;
  params.push_back({.name = "node", .required = true, .format = "pve-node"});
  params.push_back({.name = "storage", .format = "pve-storage-id"});
  params.push_back({.name = "mode", .enum_values = {"snapshot", "suspend", "stop"}});
  params.push_back({.name = "ionice", .type = ParamType::kInteger, .minimum = 0, .maximum = 8});
  params.push_back({.name = "bwlimit", .type = ParamType::kNumber, .minimum = 0});
  params.push_back({.name = "protected", .type = ParamType::kBoolean});
  params.push_back({.name = "notes-template", .max_length = 4});
  params.push_back({.name = "comment", .min_length = 2});
  params.push_back({.name = "id", .pattern = "[a-z][a-z0-9_]+"});
  params.push_back({.name = "exclude-path", .type = ParamType::kArray});
  params.push_back({.name = "vmids",
                    .type = ParamType::kArray,
                    .items = Items({.type = ParamType::kInteger, .minimum = 100})});
  return params;
}

struct Case {
  const char* name;
  json values;
  std::string param;
  std::string error;  // "" = no error on `param`
};

TEST(SchemaTest, PveMessages) {
  const Case cases[] = {
      {"missing", json{{"storage", "local"}}, "node", "property is missing and it is not optional"},
      {"unknown", json{{"node", "n"}, {"foo", "1"}}, "foo",
       "property is not defined in schema and the schema does not allow additional properties"},
      {"integer", json{{"node", "n"}, {"ionice", "abc"}}, "ionice",
       "type check ('integer') failed - got 'abc'"},
      {"integer float", json{{"node", "n"}, {"ionice", "1.5"}}, "ionice",
       "type check ('integer') failed - got '1.5'"},
      {"integer ok", json{{"node", "n"}, {"ionice", "+7"}}, "ionice", ""},
      {"maximum", json{{"node", "n"}, {"ionice", "9"}}, "ionice",
       "value must have a maximum value of 8"},
      {"minimum", json{{"node", "n"}, {"ionice", "-1"}}, "ionice",
       "value must have a minimum value of 0"},
      {"number", json{{"node", "n"}, {"bwlimit", "1e"}}, "bwlimit",
       "type check ('number') failed - got '1e'"},
      {"number ok", json{{"node", "n"}, {"bwlimit", ".5"}}, "bwlimit", ""},
      {"number exponent", json{{"node", "n"}, {"bwlimit", "1.5E+3"}}, "bwlimit", ""},
      {"number out of range", json{{"node", "n"}, {"bwlimit", "1e999"}}, "bwlimit",
       "type check ('number') failed - got '1e999'"},
      {"number underflow", json{{"node", "n"}, {"bwlimit", "-1e-999"}}, "bwlimit", ""},
      {"number minimum", json{{"node", "n"}, {"bwlimit", "-0.5"}}, "bwlimit",
       "value must have a minimum value of 0"},
      {"boolean True", json{{"node", "n"}, {"protected", "True"}}, "protected",
       "type check ('boolean') failed - got 'True'"},
      {"boolean true", json{{"node", "n"}, {"protected", "true"}}, "protected",
       "type check ('boolean') failed - got 'true'"},
      {"boolean 1", json{{"node", "n"}, {"protected", "1"}}, "protected", ""},
      {"boolean json", json{{"node", "n"}, {"protected", true}}, "protected", ""},
      {"boolean json number", json{{"node", "n"}, {"protected", 0}}, "protected", ""},
      {"bool for integer", json{{"node", "n"}, {"ionice", true}}, "ionice",
       "type check ('integer') failed - got JSON::PP::Boolean"},
      {"max length", json{{"node", "n"}, {"notes-template", "abcde"}}, "notes-template",
       "value may only be 4 characters long"},
      {"length in code points",
       json{{"node", "n"}, {"notes-template", "\xC3\xA4\xC3\xA4\xC3\xA4\xC3\xA4"}},
       "notes-template", ""},
      {"min length", json{{"node", "n"}, {"comment", "a"}}, "comment",
       "value must be at least 2 characters long"},
      {"enum", json{{"node", "n"}, {"mode", "x"}}, "mode",
       "value 'x' does not have a value in the enumeration 'snapshot, suspend, stop'"},
      {"format", json{{"node", "n"}, {"storage", "a b"}}, "storage",
       "invalid format - storage ID 'a b' contains illegal characters\n"},
      {"pattern", json{{"node", "n"}, {"id", "1x"}}, "id",
       "value does not match the regex pattern"},
      {"repeated scalar", json{{"node", "n"}, {"mode", {"stop", "stop"}}}, "mode",
       "type check ('string') failed - got ARRAY"},
      {"object", json{{"node", "n"}, {"mode", {{"a", 1}}}}, "mode",
       "type check ('string') failed - got HASH"},
      {"array one", json{{"node", "n"}, {"exclude-path", "/tmp"}}, "exclude-path", ""},
      {"array items", json{{"node", "n"}, {"vmids", {"100", "x"}}}, "vmids",
       "type check ('integer') failed - got 'x'"},
      {"array item minimum", json{{"node", "n"}, {"vmids", {"100", "99"}}}, "vmids",
       "value must have a minimum value of 100"},
      {"null is absent", json{{"node", nullptr}}, "node",
       "property is missing and it is not optional"},
  };
  std::vector<Param> params = VzdumpLike();
  for (const Case& c : cases) {
    CheckResult r = CheckParams(params, c.values);
    auto it = r.errors.find(c.param);
    if (c.error.empty()) {
      EXPECT_TRUE(it == r.errors.end()) << c.name << ": " << it->second;
    } else {
      ASSERT_TRUE(it != r.errors.end()) << c.name;
      EXPECT_EQ(it->second, c.error) << c.name;
    }
  }
}

TEST(SchemaTest, CollectsEveryError) {
  CheckResult r = CheckParams(VzdumpLike(), json{{"ionice", "x"}, {"mode", "y"}, {"z", "1"}});
  EXPECT_EQ(r.errors.size(), 4u);  // node missing, ionice, mode, z
  EXPECT_TRUE(r.errors.count("node"));
  EXPECT_TRUE(r.errors.count("z"));
}

TEST(SchemaTest, TypedValues) {
  CheckResult r = CheckParams(VzdumpLike(), json{{"node", "n"},
                                                 {"ionice", "7"},
                                                 {"bwlimit", "2.5"},
                                                 {"protected", "1"},
                                                 {"exclude-path", {"/a", "/b"}},
                                                 {"vmids", "100"},
                                                 {"comment", 12}});
  ASSERT_TRUE(r.errors.empty()) << json(r.errors).dump();
  EXPECT_EQ(r.values["ionice"], 7);
  EXPECT_TRUE(r.values["ionice"].is_number_integer());
  EXPECT_DOUBLE_EQ(r.values["bwlimit"].get<double>(), 2.5);
  EXPECT_EQ(r.values["protected"], true);
  EXPECT_EQ(r.values["exclude-path"], json({"/a", "/b"}));
  EXPECT_EQ(r.values["vmids"], json({100}));
  EXPECT_EQ(r.values["comment"], "12");
  EXPECT_FALSE(r.values.contains("mode"));
}

TEST(SchemaTest, RootMustBeObject) {
  CheckResult r = CheckParams(VzdumpLike(), json::array());
  EXPECT_EQ(r.errors["_root"], "type check ('object') failed");
}

TEST(SchemaTest, IntegerOverflowIsATypeError) {
  CheckResult r =
      CheckParams(VzdumpLike(), json{{"node", "n"}, {"ionice", "99999999999999999999"}});
  EXPECT_EQ(r.errors["ionice"], "type check ('integer') failed - got '99999999999999999999'");
}

TEST(SchemaTest, ValidateParam) {
  EXPECT_TRUE(ValidateParam({.name = "a", .format = "pve-node"}).ok());
  EXPECT_FALSE(ValidateParam({.name = "a", .format = "nope"}).ok());
  EXPECT_FALSE(ValidateParam({.name = "a", .pattern = "(x)"}).ok());
  EXPECT_FALSE(ValidateParam({.name = "a", .items = Items({})}).ok());
  EXPECT_FALSE(ValidateParam({.name = ""}).ok());
  EXPECT_FALSE(
      ValidateParam({.name = "a", .type = ParamType::kArray, .items = Items({.format = "x"})})
          .ok());
}

}  // namespace
}  // namespace ctdump::api
