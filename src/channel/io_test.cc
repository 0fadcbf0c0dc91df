#include "channel/io.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/time.h>

#include <string>

#include "channel/channel_test_util.h"

namespace ctdump::channel {
namespace {

using testing::In;
using testing::Soon;
using testing::StreamPair;

TEST(IoTest, BufferReader) {
  BufferReader in("abcdef");
  char buf[4];
  ASSERT_TRUE(in.ReadExact(buf, 4).ok());
  EXPECT_EQ(std::string(buf, 4), "abcd");
  EXPECT_EQ(in.remaining(), 2u);
  EXPECT_EQ(in.ReadExact(buf, 3).code(), Code::kUnavailable);
  EXPECT_TRUE(in.ReadExact(buf, 0).ok());
}

TEST(IoTest, SocketReaderReadsAcrossWrites) {
  auto s = StreamPair();
  ASSERT_TRUE(WriteAll(s.first.get(), "abc", Soon()).ok());
  ASSERT_TRUE(WriteAll(s.first.get(), "def", Soon()).ok());
  SocketReader in(s.second.get(), Soon());
  char buf[6];
  ASSERT_TRUE(in.ReadExact(buf, 6).ok());
  EXPECT_EQ(std::string(buf, 6), "abcdef");
}

void NoOp(int) {}

// A signal during the wait is retried against the same deadline: it ends
// neither early nor late.
TEST(IoTest, InterruptedWaitKeepsTheDeadline) {
  struct sigaction sa {};
  sa.sa_handler = NoOp;  // no SA_RESTART: poll fails with EINTR
  struct sigaction old {};
  ASSERT_EQ(::sigaction(SIGALRM, &sa, &old), 0);
  itimerval t{};
  t.it_value.tv_usec = 50 * 1000;
  t.it_interval.tv_usec = 50 * 1000;
  ASSERT_EQ(::setitimer(ITIMER_REAL, &t, nullptr), 0);
  auto s = StreamPair();
  SocketReader in(s.second.get(), In(std::chrono::milliseconds(300)));
  auto start = Clock::now();
  char c;
  Status st = in.ReadExact(&c, 1);
  auto took = Clock::now() - start;
  itimerval off{};
  ::setitimer(ITIMER_REAL, &off, nullptr);
  ::sigaction(SIGALRM, &old, nullptr);
  EXPECT_EQ(st.code(), Code::kDeadlineExceeded) << st.ToString();
  EXPECT_GE(took, std::chrono::milliseconds(290));
}

TEST(IoTest, NotASocket) {
  SocketReader in(-1, Soon());
  char c;
  EXPECT_FALSE(in.ReadExact(&c, 1).ok());
  EXPECT_FALSE(WriteAll(-1, "x", Soon()).ok());
}

}  // namespace
}  // namespace ctdump::channel
