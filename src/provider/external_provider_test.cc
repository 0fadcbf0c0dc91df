#include "provider/external_provider.h"

#include <gtest/gtest.h>

#include <string>

namespace ctdump::provider {
namespace {

using json = nlohmann::json;

TEST(ParseRestoreOfferTest, AbsentKeysOfferNothing) {
  RestoreOffer offer;
  offer.mechanisms = {RestoreMechanism::kTar};  // overwritten
  ASSERT_TRUE(ParseRestoreOffer(json{{"api-version", 1}}, "p", &offer).ok());
  EXPECT_TRUE(offer.mechanisms.empty());
  EXPECT_TRUE(offer.losses.empty());
}

TEST(ParseRestoreOfferTest, MechanismsAndLosses) {
  json hello = json::parse(R"({"restore-mechanisms": ["directory", "tar", "tar"],
      "restore-losses": {"tar": ["acl", "mtime-subsecond"], "directory": []}})");
  RestoreOffer offer;
  ASSERT_TRUE(ParseRestoreOffer(hello, "p", &offer).ok());
  ASSERT_EQ(offer.mechanisms.size(), 2u);  // duplicates dropped, order kept
  EXPECT_EQ(offer.mechanisms[0], RestoreMechanism::kDirectory);
  EXPECT_EQ(offer.mechanisms[1], RestoreMechanism::kTar);
  ASSERT_EQ(offer.losses.size(), 2u);
  for (const auto& [m, words] : offer.losses) {
    if (m == RestoreMechanism::kTar) {
      EXPECT_EQ(words, (std::vector<std::string>{"acl", "mtime-subsecond"}));
    } else {
      EXPECT_TRUE(words.empty());
    }
  }
}

TEST(ParseRestoreOfferTest, IllFormedValuesNameTheKey) {
  struct Case {
    const char* hello;
    const char* want;  // in the message
  };
  const Case cases[] = {
      {R"({"restore-mechanisms": "tar"})", "'restore-mechanisms' must be a non-empty list"},
      {R"({"restore-mechanisms": []})", "'restore-mechanisms' must be a non-empty list"},
      {R"({"restore-mechanisms": ["fuse"]})", "holds \"fuse\""},
      {R"({"restore-mechanisms": [1]})", "holds 1"},
      {R"({"restore-losses": ["acl"]})", "'restore-losses' must be an object"},
      {R"({"restore-losses": {"zip": ["acl"]}})", "names mechanism 'zip'"},
      {R"({"restore-losses": {"tar": "acl"}})", "of 'tar' must be a list"},
      {R"({"restore-losses": {"tar": ["ACL"]}})", "holds \"ACL\""},
      {R"({"restore-losses": {"tar": [""]}})", "holds \"\""},
  };
  for (const auto& c : cases) {
    RestoreOffer offer;
    Status s = ParseRestoreOffer(json::parse(c.hello), "provider 'x' (/bin/p)", &offer);
    ASSERT_FALSE(s.ok()) << c.hello;
    EXPECT_NE(s.message().find("provider 'x' (/bin/p)"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(c.want), std::string::npos) << c.hello << ": " << s.message();
  }
}

}  // namespace
}  // namespace ctdump::provider
