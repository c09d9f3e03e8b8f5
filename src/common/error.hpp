#pragma once
#include <stdexcept>
#include <string>

namespace common {

// Protocol-neutral failure categories; each boundary (HTTP, gRPC, main) maps them once.
enum class ErrorCode {
  kInvalidArgument,     // 400 / INVALID_ARGUMENT
  kUnauthenticated,     // 401 / UNAUTHENTICATED
  kPermissionDenied,    // 403 / PERMISSION_DENIED
  kNotFound,            // 404 / NOT_FOUND
  kConflict,            // 409 / ALREADY_EXISTS
  kFailedPrecondition,  // 412 / FAILED_PRECONDITION
  kDeadlineExceeded,    // 504 / DEADLINE_EXCEEDED
  kUnavailable,         // 503 / UNAVAILABLE
  kInternal,            // 500 / INTERNAL
};

// The only exception type our code throws on purpose. what() is the user-facing message.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode Code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

int ToHttpStatus(ErrorCode code) noexcept;
const char* ErrorCodeName(ErrorCode code) noexcept;  // "InvalidArgument", ...

}  // namespace common
