#include "base/base64.h"

#include <gtest/gtest.h>

namespace ctdump {
namespace {

// RFC 4648 §10.
TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<const char*, const char*> cases[] = {{"", ""},
                                                       {"f", "Zg=="},
                                                       {"fo", "Zm8="},
                                                       {"foo", "Zm9v"},
                                                       {"foob", "Zm9vYg=="},
                                                       {"fooba", "Zm9vYmE="},
                                                       {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, b64] : cases) {
    EXPECT_EQ(Base64Encode(plain), b64);
    EXPECT_EQ(Base64Decode(b64), plain);
    std::string unpadded = b64;
    while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
    EXPECT_EQ(Base64Encode(plain, false), unpadded);
    EXPECT_EQ(Base64Decode(unpadded), plain);
  }
}

TEST(Base64Test, AllBytesRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(Base64Decode(Base64Encode(all)), all);
}

TEST(Base64Test, RejectsMalformed) {
  for (const char* in : {"Z", "Zg=", "Zm9v=", "Zm 9v", "Zm9v\n", "Z===", "Zh==", "Zm9=", "*m9v"})
    EXPECT_FALSE(Base64Decode(in).has_value()) << in;
}

TEST(Base64Test, LenientIgnoresPaddingAndLeftoverBits) {
  for (const char* in : {"Zg==", "Zg", "Zg=", "Zg===", "Zh=="})
    EXPECT_EQ(Base64DecodeLenient(in), "f") << in;
  EXPECT_EQ(Base64DecodeLenient("Zm9vYmFy"), "foobar");
  EXPECT_EQ(Base64DecodeLenient(""), "");
  for (const char* in : {"Z", "Z===", "Zm 9v", "Zm9v\n", "*m9v", "Zg=g"})
    EXPECT_FALSE(Base64DecodeLenient(in).has_value()) << in;
}

}  // namespace
}  // namespace ctdump
