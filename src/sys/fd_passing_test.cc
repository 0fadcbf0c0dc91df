#include "sys/fd_passing.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace ctdump::sys {
namespace {

SocketPair Seqpacket() {
  auto p = MakeSocketPair(SOCK_SEQPACKET);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(p).value();
}

struct Pipe {
  UniqueFd read, write;
};
Pipe MakeTestPipe() {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// True when every copy of the pipe's write end is closed: a read sees EOF.
bool WriteEndClosed(int read_fd) {
  char c;
  int flags = ::fcntl(read_fd, F_GETFL);
  ::fcntl(read_fd, F_SETFL, flags | O_NONBLOCK);
  return ::read(read_fd, &c, 1) == 0;
}

// Sends `data` with `n` descriptors, all copies of `fd`, bypassing SendFd.
void SendRaw(int sock, std::string_view data, int fd, int n) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 32)] = {};
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * n);
  for (int i = 0; i < n; ++i) std::memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof(int));
  ASSERT_EQ(::sendmsg(sock, &msg, MSG_NOSIGNAL), static_cast<ssize_t>(data.size()));
}

TEST(FdPassingTest, SendsDataAndOneDescriptor) {
  SocketPair s = Seqpacket();
  Pipe p = MakeTestPipe();
  ASSERT_TRUE(SendFd(s.first.get(), "hello", 5, p.write.get()).ok());
  p.write.Reset();
  auto m = ReceiveFd(s.second.get(), 64);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->data, "hello");
  ASSERT_TRUE(m->fd.valid());
  EXPECT_EQ(::fcntl(m->fd.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  ASSERT_EQ(::write(m->fd.get(), "x", 1), 1);
  char c = 0;
  ASSERT_EQ(::read(p.read.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
}

TEST(FdPassingTest, SendsDataWithoutDescriptor) {
  SocketPair s = Seqpacket();
  ASSERT_TRUE(SendFd(s.first.get(), "abc", 3, -1).ok());
  auto m = ReceiveFd(s.second.get(), 3);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->data, "abc");
  EXPECT_FALSE(m->fd.valid());
}

TEST(FdPassingTest, TwoDescriptorsAreAnErrorAndBothAreClosed) {
  SocketPair s = Seqpacket();
  Pipe p = MakeTestPipe();
  SendRaw(s.first.get(), "two", p.write.get(), 2);
  p.write.Reset();
  auto m = ReceiveFd(s.second.get(), 64);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(m.status().message(), "Received a message with 2 descriptors (at most 1 expected)");
  EXPECT_TRUE(WriteEndClosed(p.read.get()));
}

TEST(FdPassingTest, ManyDescriptorsAreClosed) {
  SocketPair s = Seqpacket();
  Pipe p = MakeTestPipe();
  SendRaw(s.first.get(), "many", p.write.get(), 32);
  p.write.Reset();
  auto m = ReceiveFd(s.second.get(), 64);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(WriteEndClosed(p.read.get()));
}

TEST(FdPassingTest, TruncatedDatagramIsAnErrorAndItsDescriptorClosed) {
  SocketPair s = Seqpacket();
  Pipe p = MakeTestPipe();
  ASSERT_TRUE(SendFd(s.first.get(), "0123456789", 10, p.write.get()).ok());
  p.write.Reset();
  auto m = ReceiveFd(s.second.get(), 9);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(m.status().message(), "Received a message longer than 9 bytes (truncated)");
  EXPECT_TRUE(WriteEndClosed(p.read.get()));
}

TEST(FdPassingTest, ClosedPeer) {
  SocketPair s = Seqpacket();
  s.first.Reset();
  auto m = ReceiveFd(s.second.get(), 8);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kUnavailable);
  // No SIGPIPE: the test would die of it.
  Status st = SendFd(s.second.get(), "x", 1, -1);
  EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();
}

TEST(FdPassingTest, EmptyMessageIsRefused) {
  SocketPair s = Seqpacket();
  EXPECT_EQ(SendFd(s.first.get(), "", 0, -1).code(), Code::kInvalidArgument);
}

TEST(FdPassingTest, SocketPairIsCloseOnExec) {
  auto p = MakeSocketPair(SOCK_STREAM);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(::fcntl(p->first.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_EQ(::fcntl(p->second.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_FALSE(MakeSocketPair(12345).ok());
}

}  // namespace
}  // namespace ctdump::sys
