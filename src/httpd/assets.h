// The web console's files, loaded into memory by the proxy before it drops
// its privileges and chroots (docs/design/api-server.md §4, §7).
//
// Every regular file under the assets directory (subdirectories included,
// symlinks and other types skipped) is read once. Their SHA-256 over names
// and contents gives the release tag `<H>` (12 hex digits) under which they
// are served, `/static/<H>/<relative path>`; the one placeholder `@ASSETS@`
// in `index.html` becomes `/static/<H>`. URLs thus change with the content,
// so everything but index.html can be cached for a year without a build step.
#ifndef CTDUMP_HTTPD_ASSETS_H_
#define CTDUMP_HTTPD_ASSETS_H_

#include <map>
#include <string>
#include <string_view>

#include "ctdump/status.h"

namespace ctdump::httpd {

struct Asset {
  std::string content;
  std::string content_type;  // from the extension; application/octet-stream else
  std::string gzipped;       // the content gzip-compressed when that is smaller, else empty
};

struct Assets {
  std::string tag;                     // <H>
  std::string index_html;              // with @ASSETS@ replaced
  std::string index_gzipped;           // as Asset::gzipped
  std::map<std::string, Asset> files;  // by path relative to the directory ("js/app.js")

  // The asset for a request path below /static/<H>/ ("js/app.js"), or null.
  const Asset* Find(std::string_view relative) const;
};

// Limits: at most 2000 files and 32 MiB in all; a name that is not
// [A-Za-z0-9._-] components is skipped. Errors name the file. A missing
// directory or a missing index.html is NotFound naming it.
Result<Assets> LoadAssets(const std::string& dir);

// "text/javascript; charset=utf-8" for "x.js" and so on.
std::string ContentTypeFor(std::string_view name);

}  // namespace ctdump::httpd

#endif  // CTDUMP_HTTPD_ASSETS_H_
