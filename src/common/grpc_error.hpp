#pragma once
#include <grpcpp/support/status.h>

#include "common/error.hpp"

namespace common {

grpc::StatusCode ToGrpcCode(ErrorCode code) noexcept;
grpc::Status ToGrpcStatus(const Error& error);
// Call only inside a catch block: maps the in-flight exception to a status
// (common::Error -> its code; anything else -> INTERNAL "internal error").
grpc::Status CurrentExceptionToGrpcStatus() noexcept;
// Go's codes.Code String(): "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
// "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
// "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
// "Unauthenticated".
const char* GoCodeName(grpc::StatusCode code) noexcept;

}  // namespace common
