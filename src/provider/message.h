// One line of provider protocol v1, parsed and checked for its shape.
//
// A valid line is a JSON object with "jsonrpc": "2.0" and either a
// notification ("method" string, no "id") or a response ("id" and exactly one
// of "result" / "error", an error being an object with a string "message").
// Requests from the provider are not part of the protocol. Nesting deeper
// than kMaxDepth is refused before parsing: nlohmann-json copies and prints
// values recursively, so "[[[[..." from a hostile worker must not get in.
#ifndef CTDUMP_PROVIDER_MESSAGE_H_
#define CTDUMP_PROVIDER_MESSAGE_H_

#include <nlohmann/json.hpp>
#include <string>

#include "ctdump/status.h"

namespace ctdump::provider {

inline constexpr int kMaxMessageDepth = 64;

struct Message {
  enum class Kind { kNotification, kResponse };
  Kind kind = Kind::kNotification;
  nlohmann::json body;    // the whole object
  bool is_error = false;  // responses: an "error" member
};

// Parses `line`; errors say what is wrong ("wrote an invalid message", ...)
// without naming the provider (the caller adds that).
Result<Message> ParseMessage(const std::string& line);

}  // namespace ctdump::provider

#endif  // CTDUMP_PROVIDER_MESSAGE_H_
