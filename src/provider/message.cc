#include "provider/message.h"

#include <algorithm>

namespace ctdump::provider {
namespace {

// Nesting depth of a JSON text (brackets outside strings).
int NestingDepth(const std::string& text) {
  int depth = 0, max = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max = std::max(max, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max;
}

}  // namespace

Result<Message> ParseMessage(const std::string& line) {
  if (NestingDepth(line) > kMaxMessageDepth)
    return InvalidArgumentError("wrote a message nested too deeply");
  Message m;
  m.body = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  const auto& b = m.body;
  if (b.is_discarded() || !b.is_object() || !b.contains("jsonrpc") || b["jsonrpc"] != "2.0")
    return InvalidArgumentError("wrote an invalid message");
  if (b.contains("method")) {
    if (!b["method"].is_string() || b.contains("id"))
      return InvalidArgumentError("sent a request or malformed notification");
    m.kind = Message::Kind::kNotification;
    return m;
  }
  if (!b.contains("id") || !b["id"].is_number_integer())
    return InvalidArgumentError("answered without an integer id");
  bool has_result = b.contains("result"), has_error = b.contains("error");
  if (has_result == has_error)
    return InvalidArgumentError("sent a response with neither or both of result and error");
  if (has_error) {
    const auto& e = b["error"];
    if (!e.is_object() || !e.contains("message") || !e["message"].is_string())
      return InvalidArgumentError("sent a malformed error response");
  }
  m.kind = Message::Kind::kResponse;
  m.is_error = has_error;
  return m;
}

}  // namespace ctdump::provider
