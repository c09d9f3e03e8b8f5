#include "deployd/kube/kube_client.hpp"

#include <gtest/gtest.h>

namespace deployd::kube {
namespace {

common::HttpResponse Response(int status, std::string content_type, std::string body) {
  common::HttpResponse r;
  r.status = status;
  r.headers.push_back({"Content-Type", std::move(content_type)});
  r.body = std::move(body);
  return r;
}

TEST(ApiError, ParsesStatusObject) {
  auto e = ParseApiError(Response(403, "application/json", R"({"kind":"Status","apiVersion":"v1",
    "metadata":{},"status":"Failure","message":"configmaps \"foo\" is forbidden: User \"x\" cannot patch resource",
    "reason":"Forbidden","details":{"name":"foo","kind":"configmaps"},"code":403})"));
  EXPECT_EQ(e.HttpStatus(), 403);
  EXPECT_EQ(e.Reason(), "Forbidden");
  EXPECT_TRUE(e.IsStatus());
  EXPECT_STREQ(e.what(), "configmaps \"foo\" is forbidden: User \"x\" cannot patch resource");
  EXPECT_EQ(e.Code(), common::ErrorCode::kPermissionDenied);
}

TEST(ApiError, TellsPlainTextNotFoundApartFromObjectNotFound) {
  auto path = ParseApiError(Response(404, "text/plain; charset=utf-8", "404 page not found\n"));
  EXPECT_FALSE(path.IsStatus());
  EXPECT_FALSE(path.IsNotFoundObject());
  EXPECT_STREQ(path.what(), "the server could not find the requested resource");
  auto object = ParseApiError(Response(
      404, "application/json",
      R"({"kind":"Status","status":"Failure","message":"configmaps \"foo\" not found","reason":"NotFound","code":404})"));
  EXPECT_TRUE(object.IsNotFoundObject());
  EXPECT_STREQ(object.what(), "configmaps \"foo\" not found");
}

TEST(ApiError, RetryAfterFromHeaderOrDetails) {
  auto r =
      Response(429, "application/json",
               R"({"kind":"Status","message":"slow down","reason":"TooManyRequests","code":429})");
  r.headers.push_back({"Retry-After", "3"});
  EXPECT_EQ(ParseApiError(r).RetryAfterSeconds(), 3);
  auto d = Response(
      500, "application/json",
      R"({"kind":"Status","message":"m","reason":"ServerTimeout","details":{"retryAfterSeconds":2},"code":500})");
  EXPECT_EQ(ParseApiError(d).RetryAfterSeconds(), 2);
  EXPECT_EQ(ParseApiError(d).Reason(), "ServerTimeout");
}

TEST(ApiError, GenericServerError) {
  auto e = ParseApiError(Response(502, "text/html", "<html>bad gateway</html>"));
  EXPECT_STREQ(e.what(),
               "an error on the server (\"<html>bad gateway</html>\") has prevented the request "
               "from succeeding");
  EXPECT_EQ(e.Reason(), "InternalError");
}

}  // namespace
}  // namespace deployd::kube

namespace deployd::kube {
namespace {

TEST(TokenBucket, BurstThenQps) {
  TokenBucket bucket(10, 3);  // 10/s, burst 3
  auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  EXPECT_EQ(bucket.Reserve(t0).count(), 0);
  EXPECT_EQ(bucket.Reserve(t0).count(), 0);
  EXPECT_EQ(bucket.Reserve(t0).count(), 0);
  EXPECT_EQ(bucket.Reserve(t0), std::chrono::milliseconds(100));
  EXPECT_EQ(bucket.Reserve(t0), std::chrono::milliseconds(200));
  // After a quiet second the bucket is full again (capped at the burst).
  auto t1 = t0 + std::chrono::seconds(2);
  EXPECT_EQ(bucket.Reserve(t1).count(), 0);
}

TEST(ApiError, TransientClassification) {
  auto make = [](int code, const char* message) {
    common::HttpResponse r;
    r.status = code;
    r.headers.push_back({"Content-Type", "application/json"});
    r.body = nlohmann::json{{"kind", "Status"}, {"message", message}, {"code", code}}.dump();
    return ParseApiError(r);
  };
  EXPECT_TRUE(IsTransient(make(429, "slow down")));
  EXPECT_TRUE(IsTransient(make(500, "Internal error occurred: etcd")));
  EXPECT_TRUE(IsTransient(make(503, "unavailable")));
  EXPECT_FALSE(IsTransient(make(500,
                                "failed to create typed patch object (aura/x; apps/v1, "
                                "Kind=Deployment): .spec.foo: field not declared in schema")));
  EXPECT_FALSE(IsTransient(make(403, "forbidden")));
  EXPECT_FALSE(IsTransient(make(409, "conflict")));
}

}  // namespace
}  // namespace deployd::kube
