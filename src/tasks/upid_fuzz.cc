// Fuzz target: DecodeUpid must never crash, and what it accepts must encode
// back to a UPID that decodes to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tasks/upid.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto upid = ctdump::tasks::DecodeUpid(text);
  if (!upid.ok()) return 0;
  if (!ctdump::tasks::CheckUpid(*upid).ok()) std::abort();
  auto again = ctdump::tasks::DecodeUpid(ctdump::tasks::EncodeUpid(*upid));
  if (!again.ok() || !(*again == *upid)) std::abort();
  return 0;
}
