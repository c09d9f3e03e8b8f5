#pragma once
// What a deployd announces it can do, beyond the original's protocol: gRPC metadata
// kCapabilitiesMetadata on its pb.Dispatch/Deployments call, a comma-separated list. hookd sends
// messages that an original deployd would misread (it would run a cancel as a new deployment)
// only to a deployd that announced them.

namespace common {

inline constexpr const char* kCapabilitiesMetadata = "deploy-capabilities";
// Understands DeploymentRequest.cancel on the Deployments stream.
inline constexpr const char* kCancelCapability = "cancel";

}  // namespace common
