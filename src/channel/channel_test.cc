#include "channel/channel.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "base/test_util.h"
#include "channel/channel_format.h"
#include "channel/channel_test_util.h"

namespace ctdump::channel {
namespace {

using testing::In;
using testing::Peer;
using testing::Soon;
using testing::StreamPair;

RequestHeader SampleRequest() {
  RequestHeader h;
  h.method = "POST";
  h.target = "/api2/json/nodes/pve1/vzdump?x=1";
  h.headers = {{"cookie", "PVEAuthCookie=abc"}, {"content-type", "application/json"}};
  h.client = "2001:db8::5";
  h.received = 1767600000.123;
  return h;
}

ResponseHeader SampleResponse() {
  ResponseHeader h;
  h.status = 400;
  h.reason = "Parameter verification failed.";
  h.headers = {{"Content-Type", "application/json;charset=UTF-8"}};
  h.length = 187;
  return h;
}

std::string Prefix(const char* magic, uint32_t n) {
  std::string out(kHeadPrefixSize, '\0');
  std::memcpy(out.data(), magic, kMagicSize);
  PutU32(out.data() + kHeadLengthOffset, n);
  return out;
}

std::string Frame(uint32_t n) {
  std::string out(4, '\0');
  PutU32(out.data(), n);
  return out;
}

std::string RequestHead() {
  auto head = EncodeRequest(SampleRequest(), "");
  EXPECT_TRUE(head.ok());
  return head->substr(0, head->size() - 4);  // without the end frame
}

void Send(int fd, std::string_view bytes) { ASSERT_TRUE(WriteAll(fd, bytes, Soon()).ok()); }

TEST(ChannelTest, RequestRoundTrip) {
  auto s = StreamPair();
  ASSERT_TRUE(WriteRequest(s.first.get(), SampleRequest(), "a=1&b=2", Soon()).ok());
  auto r = ReadRequest(s.second.get(), Soon());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->header, SampleRequest());
  EXPECT_EQ(r->body, "a=1&b=2");
}

TEST(ChannelTest, RequestWithoutBody) {
  auto s = StreamPair();
  ASSERT_TRUE(WriteRequest(s.first.get(), SampleRequest(), "", Soon()).ok());
  auto r = ReadRequest(s.second.get(), Soon());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "");
}

TEST(ChannelTest, RequestBodyOfExactlyTheLimit) {
  auto s = StreamPair();
  std::string body = ctdump::testing::PatternBytes(kMaxRequestBody, 1);
  Peer peer([&] { return WriteRequest(s.first.get(), SampleRequest(), body, Soon()).ok(); });
  s.first.Reset();
  auto r = ReadRequest(s.second.get(), Soon());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, body);
  EXPECT_TRUE(peer.Wait());
}

TEST(ChannelTest, RequestBodyOverTheLimit) {
  EXPECT_EQ(EncodeRequest(SampleRequest(), std::string(kMaxRequestBody + 1, 'x')).status().code(),
            Code::kInvalidArgument);
  // A hostile proxy sends it anyway, in two frames: the second is refused
  // from its length alone.
  auto s = StreamPair();
  std::string bytes = RequestHead() + Frame(kMaxRequestBody) + std::string(kMaxRequestBody, 'x') +
                      Frame(1) + "x" + Frame(kEndFrame);
  Peer peer([&] { return WriteAll(s.first.get(), bytes, Soon()).ok(); });
  auto r = ReadRequest(s.second.get(), Soon());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "Channel protocol error: a request body of more than 524288 bytes");
  s.second.Reset();  // the peer's write fails instead of waiting
}

TEST(ChannelTest, RequestFrameOverTheLimitIsRefusedBeforeItsBytes) {
  auto s = StreamPair();
  Send(s.first.get(), RequestHead() + Frame(kMaxRequestBody + 1));
  auto r = ReadRequest(s.second.get(), Soon());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
}

TEST(ChannelTest, AbortedRequestBody) {
  auto s = StreamPair();
  Send(s.first.get(), RequestHead() + Frame(2) + "ab" + Frame(kAbortFrame));
  auto r = ReadRequest(s.second.get(), Soon());
  EXPECT_EQ(r.status().code(), Code::kCancelled) << r.status().ToString();
}

TEST(ChannelTest, ResponseRoundTripWithStreamedBody) {
  auto s = StreamPair();
  int w = s.second.get();
  ASSERT_TRUE(WriteResponseHead(w, SampleResponse(), Soon()).ok());
  ASSERT_TRUE(WriteBodyChunk(w, "hello ", Soon()).ok());
  ASSERT_TRUE(WriteBodyChunk(w, "", Soon()).ok());  // nothing on the wire
  ASSERT_TRUE(WriteBodyChunk(w, "world", Soon()).ok());
  ASSERT_TRUE(EndBody(w, Soon()).ok());
  int r = s.first.get();
  auto head = ReadResponseHead(r, Soon());
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(*head, SampleResponse());
  auto c1 = ReadBodyChunk(r, Soon());
  ASSERT_TRUE(c1.ok());
  EXPECT_EQ(c1->kind, BodyChunk::Kind::kData);
  EXPECT_EQ(c1->data, "hello ");
  auto c2 = ReadBodyChunk(r, Soon());
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(c2->data, "world");
  auto end = ReadBodyChunk(r, Soon());
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end->kind, BodyChunk::Kind::kEnd);
}

TEST(ChannelTest, ResponseWithUnknownLengthAndAbort) {
  auto s = StreamPair();
  ResponseHeader h = SampleResponse();
  h.status = 200;
  h.reason = "OK";
  h.length.reset();
  ASSERT_TRUE(WriteResponseHead(s.second.get(), h, Soon()).ok());
  ASSERT_TRUE(WriteBodyChunk(s.second.get(), "partial", Soon()).ok());
  ASSERT_TRUE(AbortBody(s.second.get(), Soon()).ok());
  auto head = ReadResponseHead(s.first.get(), Soon());
  ASSERT_TRUE(head.ok());
  EXPECT_FALSE(head->length.has_value());
  EXPECT_EQ(ReadBodyChunk(s.first.get(), Soon())->data, "partial");
  EXPECT_EQ(ReadBodyChunk(s.first.get(), Soon())->kind, BodyChunk::Kind::kAbort);
}

TEST(ChannelTest, LargeChunkIsSplitIntoFrames) {
  auto s = StreamPair();
  std::string data = ctdump::testing::PatternBytes(kMaxBodyFrame + 10, 2);
  Peer peer([&] {
    return WriteBodyChunk(s.second.get(), data, Soon()).ok() &&
           EndBody(s.second.get(), Soon()).ok();
  });
  auto c1 = ReadBodyChunk(s.first.get(), Soon());
  ASSERT_TRUE(c1.ok()) << c1.status().ToString();
  EXPECT_EQ(c1->data.size(), kMaxBodyFrame);
  auto c2 = ReadBodyChunk(s.first.get(), Soon());
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(c1->data + c2->data, data);
  EXPECT_EQ(ReadBodyChunk(s.first.get(), Soon())->kind, BodyChunk::Kind::kEnd);
  EXPECT_TRUE(peer.Wait());
}

TEST(ChannelTest, BodyFrameOverOneMebibyte) {
  auto s = StreamPair();
  Send(s.second.get(), Frame(kMaxBodyFrame + 1));
  auto c = ReadBodyChunk(s.first.get(), Soon());
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(c.status().message(),
            "Channel protocol error: a body frame of 1048577 bytes (at most 1048576)");
}

TEST(ChannelTest, HeaderOfExactly64KiBIsAccepted) {
  auto json = EncodeResponseHeader(SampleResponse());
  ASSERT_TRUE(json.ok());
  std::string text = *json + std::string(kMaxHeaderSize - json->size(), ' ');  // JSON whitespace
  auto s = StreamPair();
  Peer peer([&] {
    return WriteAll(s.second.get(), Prefix(kResponseMagic, kMaxHeaderSize) + text, Soon()).ok();
  });
  auto head = ReadResponseHead(s.first.get(), Soon());
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(*head, SampleResponse());
}

TEST(ChannelTest, HeaderOf64KiBPlusOneIsRefusedBeforeItsBytes) {
  auto s = StreamPair();
  Send(s.second.get(), Prefix(kResponseMagic, kMaxHeaderSize + 1));
  auto head = ReadResponseHead(s.first.get(), Soon());
  EXPECT_EQ(head.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(head.status().message(),
            "Channel protocol error: a response header of 65537 bytes (1 to 65536 allowed)");
}

TEST(ChannelTest, EncodingAnOversizedHeaderFails) {
  ResponseHeader h = SampleResponse();
  for (int i = 0; i < 10; ++i) h.headers.emplace_back("Set-Cookie", std::string(8000, 'c'));
  auto head = EncodeResponseHead(h);
  EXPECT_EQ(head.status().code(), Code::kInvalidArgument);
}

TEST(ChannelTest, ZeroLengthHeader) {
  auto s = StreamPair();
  Send(s.first.get(), Prefix(kRequestMagic, 0));
  EXPECT_EQ(ReadRequest(s.second.get(), Soon()).status().code(), Code::kInvalidArgument);
}

TEST(ChannelTest, WrongMagic) {
  for (const char* magic : {"CTS1", "CTR2", "XXXX", "CTQ1"}) {
    auto s = StreamPair();
    Send(s.first.get(), Prefix(magic, 2) + "{}");
    auto r = ReadRequest(s.second.get(), Soon());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << magic;
    EXPECT_EQ(r.status().message(), "Channel protocol error: expected a request head");
  }
}

TEST(ChannelTest, ReorderedFrames) {
  {  // a body frame before the head
    auto s = StreamPair();
    Send(s.first.get(), Frame(3) + "abc" + RequestHead() + Frame(kEndFrame));
    EXPECT_EQ(ReadRequest(s.second.get(), Soon()).status().code(), Code::kInvalidArgument);
  }
  {  // a request where the response belongs
    auto s = StreamPair();
    ASSERT_TRUE(WriteRequest(s.second.get(), SampleRequest(), "", Soon()).ok());
    EXPECT_EQ(ReadResponseHead(s.first.get(), Soon()).status().code(), Code::kInvalidArgument);
  }
  {  // a second head where a body frame belongs: its magic is no sane length
    auto s = StreamPair();
    Send(s.first.get(), RequestHead() + RequestHead());
    EXPECT_EQ(ReadRequest(s.second.get(), Soon()).status().code(), Code::kInvalidArgument);
  }
}

TEST(ChannelTest, InvalidHeaderJsonInAFrame) {
  std::string bad = R"({"v":2,"status":200,"reason":"OK","headers":[],"length":null})";
  auto s = StreamPair();
  Send(s.second.get(), Prefix(kResponseMagic, static_cast<uint32_t>(bad.size())) + bad);
  auto head = ReadResponseHead(s.first.get(), Soon());
  EXPECT_EQ(head.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(head.status().message(), "Invalid channel response: unknown version");
}

TEST(ChannelTest, TruncatedAtEveryOffsetIsUnavailable) {
  auto bytes = EncodeRequest(SampleRequest(), "body");
  ASSERT_TRUE(bytes.ok());
  for (size_t n = 0; n < bytes->size(); ++n) {
    BufferReader in(std::string_view(*bytes).substr(0, n));
    auto r = ReadRequest(in);
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.status().code(), Code::kUnavailable) << n;
  }
  BufferReader whole(*bytes);
  EXPECT_TRUE(ReadRequest(whole).ok());
}

TEST(ChannelTest, ByteFlipsNeverCrashAndRarelyPass) {
  auto bytes = EncodeRequest(SampleRequest(), "body");
  ASSERT_TRUE(bytes.ok());
  for (size_t i = 0; i < bytes->size(); ++i) {
    std::string copy = *bytes;
    copy[i] = static_cast<char>(copy[i] ^ 0x80);
    BufferReader in(copy);
    auto r = ReadRequest(in);
    // A flipped byte in a header value or the body may still decode (JSON
    // text stays valid UTF-8 only sometimes); framing bytes never do.
    if (i < kHeadPrefixSize) {
      EXPECT_FALSE(r.ok()) << i;
    }
  }
}

TEST(ChannelTest, PeerClosesMidBody) {
  auto s = StreamPair();
  Send(s.second.get(), Frame(10) + "abc");
  s.second.Reset();
  auto c = ReadBodyChunk(s.first.get(), Soon());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kUnavailable);
  EXPECT_EQ(c.status().message(), "Channel closed by the peer while reading");
}

TEST(ChannelTest, PeerClosesBeforeTheEndFrame) {
  auto s = StreamPair();
  Send(s.second.get(), Frame(3) + "abc");
  s.second.Reset();
  EXPECT_EQ(ReadBodyChunk(s.first.get(), Soon())->data, "abc");
  EXPECT_EQ(ReadBodyChunk(s.first.get(), Soon()).status().code(), Code::kUnavailable);
}

TEST(ChannelTest, WritingToAClosedPeerIsUnavailableNotSigpipe) {
  auto s = StreamPair();
  s.first.Reset();
  Status st = WriteResponseHead(s.second.get(), SampleResponse(), Soon());
  EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();
  EXPECT_EQ(WriteBodyChunk(s.second.get(), "x", Soon()).code(), Code::kUnavailable);
  EXPECT_EQ(EndBody(s.second.get(), Soon()).code(), Code::kUnavailable);
}

TEST(ChannelTest, StalledProxyHitsTheDeadline) {
  auto s = StreamPair();
  Send(s.first.get(), RequestHead() + Frame(100) + "only part");  // then silence
  auto start = Clock::now();
  auto r = ReadRequest(s.second.get(), In(std::chrono::milliseconds(200)));
  auto took = Clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded);
  EXPECT_EQ(r.status().message(), "Channel timed out while reading");
  EXPECT_GE(took, std::chrono::milliseconds(190));
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST(ChannelTest, StalledReaderHitsTheWriteDeadline) {
  auto s = StreamPair();
  std::string data(kMaxBodyFrame, 'x');  // more than the socket buffers hold
  Status st = WriteBodyChunk(s.second.get(), data, In(std::chrono::milliseconds(200)));
  EXPECT_EQ(st.code(), Code::kDeadlineExceeded) << st.ToString();
}

TEST(ChannelTest, PassedDeadlineFailsAtOnce) {
  auto s = StreamPair();
  EXPECT_EQ(ReadResponseHead(s.first.get(), Clock::now() - std::chrono::seconds(1)).status().code(),
            Code::kDeadlineExceeded);
}

}  // namespace
}  // namespace ctdump::channel
