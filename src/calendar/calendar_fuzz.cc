// libFuzzer target for CalendarEvent::Parse() and NextAfter().
//
// Input: an event text, optionally followed by a NUL byte and 8 bytes
// (little-endian) of the time to search from (else 1700000000). Runs in
// Europe/Vienna, so that local-time searches cross DST transitions. Checks
// that parsing fails only with InvalidArgument and the documented message
// prefix, that ToString() parses back to an equal event, and for UTC and local
// time that an occurrence is strictly after the start and is itself what a
// search from one second before it finds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "calendar/calendar_event.h"

namespace {

using ctdump::calendar::CalendarEvent;

void CheckNext(const CalendarEvent& event, int64_t after, bool utc) {
  std::optional<int64_t> next = event.NextAfter(after, utc);
  if (!next) return;
  if (*next <= after) __builtin_trap();
  std::optional<int64_t> again = event.NextAfter(*next - 1, utc);
  if (again != next) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("TZ", "Europe/Vienna", 1);
  tzset();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nul = input.find('\0');
  std::string_view text = input.substr(0, nul);
  int64_t after = 1700000000;
  if (nul != std::string_view::npos && size - nul - 1 >= 8) {
    uint64_t raw = 0;
    for (int i = 7; i >= 0; --i) raw = (raw << 8) | data[nul + 1 + i];
    after = static_cast<int64_t>(raw);
  }

  ctdump::Result<CalendarEvent> event = CalendarEvent::Parse(text);
  if (!event.ok()) {
    if (event.status().code() != ctdump::Code::kInvalidArgument) __builtin_trap();
    std::string prefix = "invalid calendar event '" + std::string(text) + "': ";
    if (event.status().message().rfind(prefix, 0) != 0) __builtin_trap();
    return 0;
  }
  ctdump::Result<CalendarEvent> again = CalendarEvent::Parse(event->ToString());
  if (!again.ok() || !(*again == *event)) __builtin_trap();

  CheckNext(*event, after, true);
  CheckNext(*event, after, false);
  return 0;
}
