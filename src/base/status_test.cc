#include "ctdump/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace ctdump {
namespace {

Result<int> Half(int x) {
  if (x % 2) return InvalidArgumentError("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  RETURN_IF_ERROR(Half(x).status());
  return Status::OK();
}

TEST(StatusTest, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, WithContextPrefixesMessage) {
  Status s = NotFoundError("no such thing").WithContext("container c1");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "container c1: no such thing");
  EXPECT_TRUE(Status::OK().WithContext("x").ok());
}

TEST(StatusTest, ErrnoMapping) {
  EXPECT_EQ(ErrnoError(ENOENT, "open \"/x\"").code(), Code::kNotFound);
  EXPECT_EQ(ErrnoError(ENOENT, "open \"/x\"").message(), "open \"/x\": No such file or directory");
  EXPECT_EQ(ErrnoError(EACCES, "x").code(), Code::kPermissionDenied);
  EXPECT_EQ(ErrnoError(EIO, "x").code(), Code::kIOError);
}

TEST(ResultTest, PropagatesErrors) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_FALSE(Quarter(6).ok());
  EXPECT_EQ(Quarter(6).status().message(), "odd");
  EXPECT_TRUE(CheckEven(2).ok());
  EXPECT_EQ(CheckEven(3).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace ctdump
