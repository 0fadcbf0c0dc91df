#include "calendar/calendar_event.h"

namespace ctdump::calendar {

bool DateTimeValue::Contains(uint32_t v) const {
  if (v < start || (!open_end && v > end)) return false;
  return step == 0 || (v - start) % step == 0;
}

std::optional<uint32_t> DateTimeValue::NextAfter(uint32_t v) const {
  if (v < start) return start;
  uint32_t next = step == 0 ? v + 1 : start + ((v - start) / step + 1) * step;
  if (!open_end && next > end) return std::nullopt;
  return next;
}

Result<CalendarEvent> CalendarEvent::Parse(std::string_view text) {
  return InvalidArgumentError("invalid calendar event '" + std::string(text) +
                              "': not implemented yet");
}

std::optional<int64_t> CalendarEvent::NextAfter(int64_t after) const {
  return NextAfter(after, utc_);
}

std::optional<int64_t> CalendarEvent::NextAfter(int64_t, bool) const { return std::nullopt; }

std::string CalendarEvent::ToString() const { return text_; }

}  // namespace ctdump::calendar
