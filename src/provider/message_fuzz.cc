// libFuzzer target: ParseMessage must never crash, and a message it accepts
// has the shape it promises.
#include <cstdlib>
#include <string>

#include "provider/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string line(reinterpret_cast<const char*>(data), size);
  auto m = ctdump::provider::ParseMessage(line);
  if (!m.ok()) {
    if (m.status().code() != ctdump::Code::kInvalidArgument) std::abort();
    return 0;
  }
  const auto& b = m->body;
  if (!b.is_object() || b["jsonrpc"] != "2.0") std::abort();
  if (m->kind == ctdump::provider::Message::Kind::kResponse && !b["id"].is_number_integer())
    std::abort();
  return 0;
}
