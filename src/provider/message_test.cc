#include "provider/message.h"

#include <gtest/gtest.h>

#include <random>

namespace ctdump::provider {
namespace {

TEST(MessageTest, Table) {
  struct Case {
    std::string line;
    bool ok;
    std::string error;  // substring
  } cases[] = {
      {R"({"jsonrpc":"2.0","id":1,"result":null})", true, ""},
      {R"({"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}})", true, ""},
      {R"({"jsonrpc":"2.0","method":"log","params":{"level":"info","message":"m"}})", true, ""},
      {R"({"jsonrpc":"2.0","method":"progress"})", true, ""},
      {"not json", false, "invalid message"},
      {"[]", false, "invalid message"},
      {R"({"id":1,"result":null})", false, "invalid message"},
      {R"({"jsonrpc":"1.0","id":1,"result":null})", false, "invalid message"},
      {R"({"jsonrpc":"2.0","method":"x","id":3})", false, "request"},
      {R"({"jsonrpc":"2.0","method":7})", false, "malformed notification"},
      {R"({"jsonrpc":"2.0","id":"1","result":1})", false, "integer id"},
      {R"({"jsonrpc":"2.0","result":1})", false, "integer id"},
      {R"({"jsonrpc":"2.0","id":1})", false, "neither or both"},
      {R"({"jsonrpc":"2.0","id":1,"result":1,"error":{"message":"x"}})", false, "neither or both"},
      {R"({"jsonrpc":"2.0","id":1,"error":"boom"})", false, "malformed error"},
      {R"({"jsonrpc":"2.0","id":1,"error":{"message":5}})", false, "malformed error"},
      {R"({"jsonrpc":"2.0","id":1,"result":")" + std::string(100, '[') + R"("})", true, ""},
      {R"({"jsonrpc":"2.0","id":1,"result":)" + std::string(100, '[') + std::string(100, ']') + "}",
       false, "nested too deeply"},
  };
  for (const auto& c : cases) {
    auto m = ParseMessage(c.line);
    EXPECT_EQ(m.ok(), c.ok) << c.line;
    if (!c.ok && !m.ok()) {
      EXPECT_NE(m.status().message().find(c.error), std::string::npos) << c.line;
    }
  }
}

// What the libFuzzer target checks, run deterministically with g++.
TEST(MessageTest, RandomMutationsNeverCrash) {
  std::mt19937 rng(42);
  const std::string seed = R"({"jsonrpc":"2.0","id":12,"error":{"code":1,"message":"x\u00e4"}})";
  for (int i = 0; i < 20000; ++i) {
    std::string s = seed;
    int edits = 1 + rng() % 6;
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % (s.size() + 1);
      switch (rng() % 3) {
        case 0:
          s.insert(pos, 1, "[]{}\",:0a\\"[rng() % 11]);
          break;
        case 1:
          if (pos < s.size()) s.erase(pos, 1);
          break;
        default:
          if (pos < s.size()) s[pos] = static_cast<char>(rng());
          break;
      }
    }
    auto m = ParseMessage(s);
    if (!m.ok()) {
      EXPECT_EQ(m.status().code(), Code::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace ctdump::provider
