#pragma once
// The one size limit of a deployment request, shared by the three programs. Each has the setting
// `--max-message-size` (hookd: HOOKD_MAX_MESSAGE_SIZE, deployd: DEPLOYD_MAX_MESSAGE_SIZE, the CLI:
// MAX_MESSAGE_SIZE), and each hop checks the request against its own value once, with a message
// that names the size, the limit, whose limit it is and how to change it:
//   CLI      the serialized request before it is sent (gRPC: protobuf bytes; HTTP: the JSON body);
//   hookd    the request bytes of pb.Deploy/Deploy and Status, and the body of the HTTP API;
//   hookd    each request before it is written to a deployd stream, against the limit that
//            deployd announced (metadata kMaxMessageSizeMetadata; gRPC's 4 MiB default for a
//            deployd that announces none, such as the original's);
//   deployd  nothing of its own: its gRPC receive limit is the announced one (plus envelope).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace common {

// 32 MiB. Kubernetes caps one object at about 1.5 MiB (etcd's request limit; kube-apiserver reads
// at most 3 MiB per body), but a deployment request carries all of a team's objects at once, and
// operator bundles are large: the biggest public ones (kube-prometheus's CRDs, Argo CD's install)
// are 2-8 MB. 32 MiB leaves four times that, while a request (held a few times over in hookd:
// gRPC buffer, parsed message, hex for Postgres) stays a bounded cost.
inline constexpr std::size_t kDefaultMaxMessageSize = std::size_t{32} << 20;
// Settings outside [64 KiB, 256 MiB] are refused at start: below, even small deployments fail
// (and `32` probably meant 32 MiB); above, the hex form of a request in Postgres (twice its size)
// nears the 1 GB limit of a field, and gRPC's limits are ints.
inline constexpr std::size_t kMinMaxMessageSize = std::size_t{64} << 10;
inline constexpr std::size_t kMaxMaxMessageSize = std::size_t{256} << 20;
// What gRPC channels allow on top of the limit: messages that wrap a request (the Deploy reply is
// a DeploymentStatus that carries the whole request; hookd adds ID, time and deadline) must fit.
inline constexpr std::size_t kMessageEnvelope = std::size_t{64} << 10;
// gRPC's default receive limit (grpc-go and C++): what a peer that announces nothing accepts.
inline constexpr std::size_t kGrpcDefaultMaxMessageSize = std::size_t{4} << 20;
// gRPC metadata with which deployd announces its limit on pb.Dispatch/Deployments (decimal bytes).
inline constexpr const char* kMaxMessageSizeMetadata = "max-message-size";

// "33554432", "32Mi", "32MiB", "512Ki", "512KiB", "1Gi", "1GiB" (binary), "5M", "5MB", "500k",
// "500kB", "1G", "1GB" (decimal), "100B"; no spaces, no fractions. nullopt when malformed or
// overflowing.
std::optional<std::size_t> ParseByteSize(std::string_view text);
// "32 MiB", "1536 KiB" (exact binary multiples), else "<n> bytes".
std::string FormatByteSize(std::size_t bytes);

// Validates a --max-message-size value. Throws Error{kInvalidArgument}:
// `invalid value "<text>" for max-message-size: want a size between 64 KiB and 256 MiB, such as
// 33554432 or 32MiB`.
std::size_t ParseMaxMessageSize(std::string_view text);

// Whose limit a message names.
struct SizeLimit {
  std::size_t bytes = 0;
  std::string owner;    // "hookd", "this client", "the deployd of cluster 'x'"
  std::string setting;  // "set by hookd's --max-message-size or HOOKD_MAX_MESSAGE_SIZE"
};
// "<subject> is <n> bytes, more than <owner> accepts (<m> bytes = <m formatted>, <setting>)";
// without `size`: "<subject> is larger than <owner> accepts (...)". For example
// `deployment request is 7340032 bytes, more than hookd accepts (6291456 bytes = 6 MiB, set by
// hookd's --max-message-size or HOOKD_MAX_MESSAGE_SIZE)`.
std::string TooLargeMessage(std::string_view subject, std::optional<std::size_t> size,
                            const SizeLimit& limit);

// The limits of the three programs, as the messages name them.
SizeLimit HookdSizeLimit(std::size_t bytes);
SizeLimit CliSizeLimit(std::size_t bytes);
SizeLimit DeploydSizeLimit(std::size_t bytes, std::string_view cluster, bool announced);

// gRPC channel limit for a message limit: the limit plus kMessageEnvelope, as gRPC's int.
int GrpcChannelLimit(std::size_t max_message_size);

}  // namespace common
