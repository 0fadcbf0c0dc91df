// Creating a file that holds a secret (key files, the master private key).
#ifndef CTDUMP_CRYPT_SECRET_FILE_H_
#define CTDUMP_CRYPT_SECRET_FILE_H_

#include <sys/types.h>

#include <string>
#include <string_view>

#include "ctdump/status.h"

namespace ctdump::crypt {

// Creates `path` with exactly `mode` (whatever the umask), O_EXCL and
// O_NOFOLLOW: an existing path, a dangling symlink included, is AlreadyExists
// "Refusing to overwrite "<path>": it exists". Writes `text`, fsyncs the file
// and its directory; on any failure after creating it the file is removed.
// `what` names the file in messages ("key file").
Status WriteNewFile(const std::string& path, std::string_view text, mode_t mode,
                    std::string_view what);

// The directory part of `path` ("." without a slash).
std::string DirOf(const std::string& path);

}  // namespace ctdump::crypt

#endif  // CTDUMP_CRYPT_SECRET_FILE_H_
