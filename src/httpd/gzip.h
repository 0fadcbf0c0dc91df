// gzip (RFC 1952) of a whole response body, as pveproxy compresses answers
// for clients that accept it: on a slow link a container list or the
// console's scripts shrink about five times.
#ifndef CTDUMP_HTTPD_GZIP_H_
#define CTDUMP_HTTPD_GZIP_H_

#include <string>
#include <string_view>

namespace ctdump::httpd {

// The gzip member of `data` (zlib, level 6). Empty only if zlib fails,
// which it does only without memory; callers then send `data` as it is.
std::string Gzip(std::string_view data);

// Whether an Accept-Encoding header value allows gzip: a "gzip" token
// whose q is not 0 ("gzip;q=0" refuses it).
bool AcceptsGzip(std::string_view accept_encoding);

}  // namespace ctdump::httpd

#endif  // CTDUMP_HTTPD_GZIP_H_
