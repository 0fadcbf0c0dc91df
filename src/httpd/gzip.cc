#include "httpd/gzip.h"

#include <zlib.h>

#include <cctype>

namespace ctdump::httpd {

std::string Gzip(std::string_view data) {
  z_stream z = {};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  size_t n = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return {};
  out.resize(n);
  return out;
}

bool AcceptsGzip(std::string_view v) {
  while (!v.empty()) {
    size_t comma = v.find(',');
    std::string_view item = v.substr(0, comma);
    v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
    auto trim = [](std::string_view s) {
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
      return s;
    };
    size_t semi = item.find(';');
    std::string_view token = trim(item.substr(0, semi));
    if (token.size() != 4) continue;
    bool gzip = true;
    for (size_t i = 0; i < 4; ++i)
      gzip = gzip && std::tolower(static_cast<unsigned char>(token[i])) == "gzip"[i];
    if (!gzip) continue;
    if (semi == std::string_view::npos) return true;
    std::string_view param = trim(item.substr(semi + 1));
    if (param.size() < 2 || (param[0] != 'q' && param[0] != 'Q') || param[1] != '=') return true;
    std::string_view q = trim(param.substr(2));
    // q=0, q=0.0, q=0.000: refused; anything else accepts.
    bool zero = !q.empty() && q[0] == '0';
    for (size_t i = 1; zero && i < q.size(); ++i) zero = q[i] == '.' || q[i] == '0';
    return !zero;
  }
  return false;
}

}  // namespace ctdump::httpd
