#include "base/utf8.h"

namespace ctdump {
namespace {

// The sequence length a lead byte announces and the range of the byte after
// it (Unicode table 3-7); 0 for a byte that cannot lead.
size_t Lead(unsigned char c, unsigned char* lo, unsigned char* hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) {
    if (c == 0xE0) *lo = 0xA0;
    if (c == 0xED) *hi = 0x9F;
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (c == 0xF0) *lo = 0x90;
    if (c == 0xF4) *hi = 0x8F;
    return 4;
  }
  return 0;
}

// How many bytes from s[i] fit the sequence its lead byte announces.
size_t Fitting(std::string_view s, size_t i, size_t len, unsigned char lo, unsigned char hi) {
  size_t k = 1;
  for (; k < len && i + k < s.size(); ++k) {
    auto b = static_cast<unsigned char>(s[i + k]);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
  }
  return k;
}

}  // namespace

size_t Utf8SequenceLength(std::string_view s, size_t i, uint32_t* code_point) {
  if (i >= s.size()) return 0;
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    if (code_point) *code_point = c;
    return 1;
  }
  unsigned char lo, hi;
  size_t len = Lead(c, &lo, &hi);
  if (len == 0 || Fitting(s, i, len, lo, hi) != len) return 0;
  if (code_point) {
    uint32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    *code_point = cp;
  }
  return len;
}

size_t Utf8IllFormedLength(std::string_view s, size_t i) {
  unsigned char lo, hi;
  size_t len = Lead(static_cast<unsigned char>(s[i]), &lo, &hi);
  return len == 0 ? 1 : Fitting(s, i, len, lo, hi);
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8SequenceLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string ToValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8SequenceLength(s, i);
    if (n > 0) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      i += Utf8IllFormedLength(s, i);
    }
  }
  return out;
}

}  // namespace ctdump
