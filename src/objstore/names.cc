#include "objstore/names.h"

#include <fmt/format.h>

#include <algorithm>

#include "ctdump/object_backend.h"

namespace ctdump::objstore {

bool IsObjectNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

std::string QuoteObjectName(std::string_view name) {
  std::string out = "\"";
  for (unsigned char c : name) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out + "\"";
}

Status ValidateListPrefix(const std::string& prefix) {
  size_t slash = prefix.rfind('/');
  Status valid =
      slash == std::string::npos ? Status::OK() : ValidateObjectName(prefix.substr(0, slash));
  std::string_view tail =
      std::string_view(prefix).substr(slash == std::string::npos ? 0 : slash + 1);
  if (valid.ok() && !std::all_of(tail.begin(), tail.end(), IsObjectNameChar))
    valid = InvalidArgumentError("bad character");
  if (!valid.ok())
    return InvalidArgumentError(
        fmt::format("Invalid list prefix {}: {}", QuoteObjectName(prefix), valid.message()));
  return Status::OK();
}

}  // namespace ctdump::objstore
