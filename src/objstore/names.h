// Object names as the backends check and quote them (ctdump/object_backend.h
// has the rules): shared by the local, memory and RADOS backends. C++17: the
// RADOS backend is compiled as C++17 under clang (CMakeLists.txt).
#ifndef CTDUMP_OBJSTORE_NAMES_H_
#define CTDUMP_OBJSTORE_NAMES_H_

#include <string>
#include <string_view>

#include "ctdump/status.h"

namespace ctdump::objstore {

// [A-Za-z0-9._-]
bool IsObjectNameChar(char c);

// A name as it goes into a message: quoted, unprintable bytes escaped.
std::string QuoteObjectName(std::string_view name);

// ObjectBackend::List's rule for `prefix`: the part before its last '/' a
// valid name, the rest valid name characters. OK, or InvalidArgument
// "Invalid list prefix "...": <why>".
Status ValidateListPrefix(const std::string& prefix);

}  // namespace ctdump::objstore

#endif  // CTDUMP_OBJSTORE_NAMES_H_
