#include "common/error.hpp"

#include <stdexcept>

#include <gtest/gtest.h>

#include "common/grpc_error.hpp"

namespace common {
namespace {

TEST(ErrorTest, HttpStatusMapping) {
  EXPECT_EQ(ToHttpStatus(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(ToHttpStatus(ErrorCode::kUnauthenticated), 401);
  EXPECT_EQ(ToHttpStatus(ErrorCode::kPermissionDenied), 403);
  EXPECT_EQ(ToHttpStatus(ErrorCode::kNotFound), 404);
  EXPECT_EQ(ToHttpStatus(ErrorCode::kConflict), 409);
  EXPECT_EQ(ToHttpStatus(ErrorCode::kFailedPrecondition), 412);
  EXPECT_EQ(ToHttpStatus(ErrorCode::kDeadlineExceeded), 504);
  EXPECT_EQ(ToHttpStatus(ErrorCode::kUnavailable), 503);
  EXPECT_EQ(ToHttpStatus(ErrorCode::kInternal), 500);
}

TEST(ErrorTest, CodeNames) {
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kInvalidArgument), "InvalidArgument");
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kUnauthenticated), "Unauthenticated");
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kPermissionDenied), "PermissionDenied");
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kNotFound), "NotFound");
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kConflict), "Conflict");
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kFailedPrecondition), "FailedPrecondition");
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kDeadlineExceeded), "DeadlineExceeded");
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kUnavailable), "Unavailable");
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kInternal), "Internal");
}

TEST(ErrorTest, CarriesCodeAndMessage) {
  const Error e(ErrorCode::kNotFound, "deployment not found");
  EXPECT_EQ(e.Code(), ErrorCode::kNotFound);
  EXPECT_STREQ(e.what(), "deployment not found");
}

TEST(GrpcErrorTest, CodeMapping) {
  EXPECT_EQ(ToGrpcCode(ErrorCode::kInvalidArgument), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ToGrpcCode(ErrorCode::kUnauthenticated), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ToGrpcCode(ErrorCode::kPermissionDenied), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ToGrpcCode(ErrorCode::kNotFound), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ToGrpcCode(ErrorCode::kConflict), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(ToGrpcCode(ErrorCode::kFailedPrecondition), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ToGrpcCode(ErrorCode::kDeadlineExceeded), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(ToGrpcCode(ErrorCode::kUnavailable), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ToGrpcCode(ErrorCode::kInternal), grpc::StatusCode::INTERNAL);
}

TEST(GrpcErrorTest, ToGrpcStatusKeepsMessage) {
  const grpc::Status s = ToGrpcStatus(Error(ErrorCode::kPermissionDenied, "failed authentication"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(s.error_message(), "failed authentication");
}

TEST(GrpcErrorTest, CurrentExceptionMapsCommonError) {
  grpc::Status s;
  try {
    throw Error(ErrorCode::kNotFound, "no such deployment");
  } catch (...) {
    s = CurrentExceptionToGrpcStatus();
  }
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "no such deployment");
}

TEST(GrpcErrorTest, CurrentExceptionHidesOtherExceptions) {
  grpc::Status s;
  try {
    throw std::runtime_error("secret detail");
  } catch (...) {
    s = CurrentExceptionToGrpcStatus();
  }
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(s.error_message(), "internal error");

  try {
    throw 42;
  } catch (...) {
    s = CurrentExceptionToGrpcStatus();
  }
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(s.error_message(), "internal error");
}

TEST(GrpcErrorTest, GoCodeNames) {
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::CANCELLED), "Canceled");
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::UNKNOWN), "Unknown");
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::INVALID_ARGUMENT), "InvalidArgument");
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::DEADLINE_EXCEEDED), "DeadlineExceeded");
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::NOT_FOUND), "NotFound");
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::ALREADY_EXISTS), "AlreadyExists");
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::PERMISSION_DENIED), "PermissionDenied");
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::RESOURCE_EXHAUSTED), "ResourceExhausted");
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::FAILED_PRECONDITION), "FailedPrecondition");
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::ABORTED), "Aborted");
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::OUT_OF_RANGE), "OutOfRange");
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::UNIMPLEMENTED), "Unimplemented");
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::INTERNAL), "Internal");
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::UNAVAILABLE), "Unavailable");
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::DATA_LOSS), "DataLoss");
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::UNAUTHENTICATED), "Unauthenticated");
}

}  // namespace
}  // namespace common
