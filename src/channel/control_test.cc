#include "channel/control.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "channel/channel_format.h"
#include "sys/fd_passing.h"

namespace ctdump::channel {
namespace {

sys::SocketPair Control() {
  auto p = sys::MakeSocketPair(SOCK_SEQPACKET);
  EXPECT_TRUE(p.ok());
  return std::move(p).value();
}

TEST(ControlTest, EncodingsAreLittleEndian) {
  EXPECT_EQ(EncodeControl({ControlType::kOpen, 0x01020304, 0}),
            std::string("CTQ1\x04\x03\x02\x01", 8));
  EXPECT_EQ(EncodeControl({ControlType::kGrant, 7, 0}), std::string("CTA1\x07\0\0\0", 8));
  EXPECT_EQ(EncodeControl({ControlType::kRefuse, 7, 503}),
            std::string("CTE1\x07\0\0\0\xf7\x01", 10));
}

TEST(ControlTest, RoundTrips) {
  for (ControlMessage m :
       {ControlMessage{ControlType::kOpen, 0, 0}, ControlMessage{ControlType::kOpen, 0xffffffff, 0},
        ControlMessage{ControlType::kGrant, 42, 0},
        ControlMessage{ControlType::kRefuse, 42, 503}}) {
    auto d = DecodeControl(EncodeControl(m), m.type == ControlType::kGrant);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(*d, m);
  }
}

TEST(ControlTest, WrongSizesAreProtocolErrors) {
  for (ControlType t : {ControlType::kOpen, ControlType::kGrant, ControlType::kRefuse}) {
    std::string good = EncodeControl({t, 1, 503});
    bool fd = t == ControlType::kGrant;
    for (size_t n = 0; n <= 12; ++n) {
      if (n == good.size()) continue;
      std::string d = good.substr(0, n);
      d.resize(n, '\0');
      auto r = DecodeControl(d, fd);
      EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << good.substr(0, 4) << " " << n;
    }
  }
}

TEST(ControlTest, ProtocolErrors) {
  struct Case {
    std::string datagram;
    bool has_fd;
    std::string message;
  } cases[] = {
      {std::string("CTX1\1\0\0\0", 8), false, "unknown magic"},
      {std::string("ctq1\1\0\0\0", 8), false, "unknown magic"},
      {std::string("CTQ1\1\0\0\0", 8), true, "a CTQ1 datagram with a descriptor"},
      {std::string("CTA1\1\0\0\0", 8), false, "a CTA1 datagram without a descriptor"},
      {std::string("CTE1\1\0\0\0\xf7\x01", 10), true, "a CTE1 datagram with a descriptor"},
      {std::string("CTE1\1\0\0\0\xc8\0", 10), false, "a refusal with status 200"},
      {std::string("CTQ1\1\0\0\0\0", 9), false, "a CTQ1 datagram of 9 bytes (expected 8)"},
      {"CT", false, "a datagram of 2 bytes"},
  };
  for (const Case& c : cases) {
    auto r = DecodeControl(c.datagram, c.has_fd);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(r.status().message(), "Control protocol error: " + c.message);
  }
}

TEST(ControlTest, OpenGrantAndRefuseOverASocket) {
  auto ctl = Control();
  int proxy = ctl.first.get(), priv = ctl.second.get();
  ASSERT_TRUE(SendOpen(proxy, 9).ok());
  auto open = ReceiveControl(priv);
  ASSERT_TRUE(open.ok()) << open.status().ToString();
  EXPECT_EQ(open->message, (ControlMessage{ControlType::kOpen, 9, 0}));
  EXPECT_FALSE(open->fd.valid());

  auto channel = sys::MakeSocketPair(SOCK_STREAM);
  ASSERT_TRUE(channel.ok());
  ASSERT_TRUE(SendGrant(priv, 9, channel->first.get()).ok());
  channel->first.Reset();
  auto grant = ReceiveControl(proxy);
  ASSERT_TRUE(grant.ok()) << grant.status().ToString();
  EXPECT_EQ(grant->message.type, ControlType::kGrant);
  ASSERT_TRUE(grant->fd.valid());
  ASSERT_EQ(::write(grant->fd.get(), "x", 1), 1);
  char c = 0;
  ASSERT_EQ(::read(channel->second.get(), &c, 1), 1);

  ASSERT_TRUE(SendRefuse(priv, 10, 503).ok());
  auto refuse = ReceiveControl(proxy);
  ASSERT_TRUE(refuse.ok());
  EXPECT_EQ(refuse->message, (ControlMessage{ControlType::kRefuse, 10, 503}));
}

TEST(ControlTest, UnexpectedDescriptorIsClosed) {
  auto ctl = Control();
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  sys::UniqueFd rd(fds[0]), wr(fds[1]);
  std::string open = EncodeControl({ControlType::kOpen, 1, 0});
  ASSERT_TRUE(sys::SendFd(ctl.first.get(), open.data(), open.size(), wr.get()).ok());
  wr.Reset();
  auto r = ReceiveControl(ctl.second.get());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  char c;
  EXPECT_EQ(::read(rd.get(), &c, 1), 0);  // every write end closed
}

TEST(ControlTest, OversizedDatagramIsTruncatedAndRefused) {
  auto ctl = Control();
  std::string big(100, 'x');
  ASSERT_TRUE(sys::SendFd(ctl.first.get(), big.data(), big.size(), -1).ok());
  auto r = ReceiveControl(ctl.second.get());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "Control protocol error: Received a message longer than 11 bytes (truncated)");
}

TEST(ControlTest, GrantWithoutDescriptorIsRefused) {
  auto ctl = Control();
  std::string grant = EncodeControl({ControlType::kGrant, 1, 0});
  ASSERT_TRUE(sys::SendFd(ctl.second.get(), grant.data(), grant.size(), -1).ok());
  EXPECT_EQ(ReceiveControl(ctl.first.get()).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(SendGrant(ctl.second.get(), 1, -1).code(), Code::kInvalidArgument);
}

// A zero-length SOCK_SEQPACKET datagram reads like the peer's close: either
// way the proxy is restarted.
TEST(ControlTest, EmptyDatagramReadsAsClose) {
  auto ctl = Control();
  ASSERT_EQ(::send(ctl.first.get(), "", 0, MSG_NOSIGNAL), 0);
  EXPECT_EQ(ReceiveControl(ctl.second.get()).status().code(), Code::kUnavailable);
}

TEST(ControlTest, PeerGone) {
  auto ctl = Control();
  ctl.first.Reset();
  EXPECT_EQ(ReceiveControl(ctl.second.get()).status().code(), Code::kUnavailable);
  EXPECT_EQ(SendRefuse(ctl.second.get(), 1, 503).code(), Code::kUnavailable);
}

}  // namespace
}  // namespace ctdump::channel
