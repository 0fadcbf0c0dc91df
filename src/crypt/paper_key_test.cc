#include "crypt/paper_key.h"

#include <gtest/gtest.h>

#include <string>

#include "crypt/key_format.h"
#include "crypt/qr_code.h"

namespace ctdump::crypt {
namespace {

constexpr ScryptParams kFast{1024, 8, 1};

std::array<uint8_t, kKeySize> Master(uint8_t first) {
  std::array<uint8_t, kKeySize> m{};
  for (size_t i = 0; i < m.size(); ++i) m[i] = static_cast<uint8_t>(first + i);
  return m;
}

std::string KeyText(Kdf kdf) {
  Result<KeyFileContents> c =
      SealKeyFile(Key::FromMaster(Master(1)), kdf, "pw", 1714564800, 1714564800, kFast);
  EXPECT_TRUE(c.ok());
  return FormatKeyFileText(*c);
}

TEST(QrCodeTest, EncodesAndDraws) {
  Result<QrMatrix> qr = EncodeQr("hello");
  ASSERT_TRUE(qr.ok());
  EXPECT_EQ(qr->size(), 21u);  // version 1
  // Finder pattern in the top-left corner: a dark 7x7 ring.
  EXPECT_TRUE((*qr)[0][0] && (*qr)[0][6] && (*qr)[6][0] && !(*qr)[1][1] && (*qr)[2][2]);
  std::string blocks = QrHalfBlocks(*qr, 4);
  EXPECT_EQ(std::count(blocks.begin(), blocks.end(), '\n'), (21 + 8 + 1) / 2);
  EXPECT_NE(blocks.find("█"), std::string::npos);
  std::string svg = QrSvg(*qr);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_EQ(EncodeQr(std::string(4000, 'x')).status().code(), Code::kInvalidArgument);
}

TEST(PaperKeyTest, TextRoundTrip) {
  for (Kdf kdf : {Kdf::kScrypt, Kdf::kNone}) {
    std::string key = KeyText(kdf);
    Result<std::string> paper = FormatPaperKey(key, "k", PaperFormat::kText);
    ASSERT_TRUE(paper.ok()) << paper.status().ToString();
    EXPECT_NE(
        paper->find("fingerprint: " + FingerprintString(Key::FromMaster(Master(1)).fingerprint())),
        std::string::npos);
    EXPECT_NE(paper->find(kPaperKeyBegin), std::string::npos);
    EXPECT_NE(paper->find("▀"), std::string::npos);
    EXPECT_EQ(paper->find("WARNING") != std::string::npos, kdf == Kdf::kNone);
    Result<std::string> back = ParsePaperKey(*paper, "paper");
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, key);
  }
}

TEST(PaperKeyTest, HtmlHasSvgAndEscapedText) {
  std::string key = KeyText(Kdf::kScrypt);
  Result<std::string> html = FormatPaperKey(key, "k", PaperFormat::kHtml);
  ASSERT_TRUE(html.ok());
  EXPECT_NE(html->find("<svg"), std::string::npos);
  EXPECT_NE(html->find("&quot;format&quot;"), std::string::npos);
  EXPECT_EQ(html->rfind("<!DOCTYPE html>", 0), 0u);
}

TEST(PaperKeyTest, TypedWithOtherWhitespace) {
  std::string key = KeyText(Kdf::kScrypt);
  std::string paper = *FormatPaperKey(key, "k", PaperFormat::kText);
  // Only the block, retyped: groups of 4 characters, CRLF, indentation.
  size_t b = paper.find(kPaperKeyBegin);
  size_t e = paper.find(kPaperKeyEnd) + kPaperKeyEnd.size();
  std::string block = paper.substr(b, e - b);
  std::string retyped;
  std::string inner = block.substr(kPaperKeyBegin.size(),
                                   block.size() - kPaperKeyBegin.size() - kPaperKeyEnd.size());
  int n = 0;
  for (char c : inner) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    retyped.push_back(c);
    if (++n % 4 == 0) retyped += n % 40 == 0 ? "\r\n   " : " ";
  }
  std::string typed = "  " + std::string(kPaperKeyBegin) + "\r\n" + retyped + "\n\t" +
                      std::string(kPaperKeyEnd) + "  \n";
  Result<std::string> back = ParsePaperKey(typed, "typed");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, key);
}

TEST(PaperKeyTest, ScannedQrContentImports) {
  std::string key = KeyText(Kdf::kScrypt);
  std::string compact;
  for (char c : key)
    if (!std::isspace(static_cast<unsigned char>(c))) compact.push_back(c);
  std::string scanned =
      std::string(kPaperKeyBegin) + "\n" + compact + "\n" + std::string(kPaperKeyEnd) + "\n";
  Result<std::string> back = ParsePaperKey(scanned, "scan");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, key);
}

TEST(PaperKeyTest, TruncatedOrAltered) {
  std::string key = KeyText(Kdf::kScrypt);
  std::string paper = *FormatPaperKey(key, "k", PaperFormat::kText);
  size_t end = paper.find(kPaperKeyEnd);
  // Cut before the END line.
  Result<std::string> r = ParsePaperKey(paper.substr(0, end), "p");
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
  EXPECT_EQ(r.status().message(),
            "\"p\": the paper key is truncated: no \"-----END CTDUMP PAPER KEY-----\" line after "
            "the BEGIN line");
  // A line lost in the middle, END kept.
  size_t data = paper.find("\"data\"");
  std::string lost = paper;
  lost.erase(data, paper.find('\n', data) + 1 - data);
  r = ParsePaperKey(lost, "p");
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
  EXPECT_EQ(r.status().message(), "\"p\": damaged: \"data\" is missing or not a string");
  // No BEGIN at all.
  r = ParsePaperKey("hello\n", "p");
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "\"p\": not a ctdump paper key (no \"-----BEGIN CTDUMP PAPER KEY-----\" line)");
  // The fingerprint line names another key.
  std::string other = paper;
  size_t fp = other.find("fingerprint: ") + 13;
  other[fp] = other[fp] == 'a' ? 'b' : 'a';
  r = ParsePaperKey(other, "p");
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
  EXPECT_NE(r.status().message().find("fingerprint mismatch"), std::string::npos);
}

// Any single typo between the markers is refused (or harmless): never a
// different key file.
TEST(PaperKeyTest, EveryTypoInTheBlockIsCaught) {
  std::string key = KeyText(Kdf::kScrypt);
  std::string paper = *FormatPaperKey(key, "k", PaperFormat::kText);
  size_t from = paper.find(kPaperKeyBegin) + kPaperKeyBegin.size() + 1;
  size_t to = paper.find(kPaperKeyEnd);
  for (size_t i = from; i < to; ++i) {
    for (int bit : {0x01, 0x02, 0x20}) {
      std::string t = paper;
      t[i] ^= static_cast<char>(bit);
      Result<std::string> r = ParsePaperKey(t, "p");
      if (r.ok()) {
        EXPECT_EQ(*r, key) << i;
      } else {
        EXPECT_TRUE(r.status().code() == Code::kDataLoss ||
                    r.status().code() == Code::kInvalidArgument)
            << r.status().ToString();
      }
    }
  }
}

TEST(PaperKeyTest, RefusesBrokenKeyFile) {
  Result<std::string> r = FormatPaperKey("{}", "k", PaperFormat::kText);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace ctdump::crypt
