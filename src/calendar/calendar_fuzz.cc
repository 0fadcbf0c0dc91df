// libFuzzer target for CalendarEvent::Parse() and NextAfter().
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "calendar/calendar_event.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ctdump::Result<ctdump::calendar::CalendarEvent> event =
      ctdump::calendar::CalendarEvent::Parse(text);
  if (!event.ok()) {
    if (event.status().code() != ctdump::Code::kInvalidArgument) __builtin_trap();
    return 0;
  }
  std::optional<int64_t> next = event->NextAfter(0, true);
  if (next && *next <= 0) __builtin_trap();
  return 0;
}
