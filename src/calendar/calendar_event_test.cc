#include "calendar/calendar_event.h"

#include <gtest/gtest.h>

namespace ctdump::calendar {
namespace {

TEST(CalendarEventTest, EmptyIsInvalid) {
  Result<CalendarEvent> e = CalendarEvent::Parse("");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace ctdump::calendar
