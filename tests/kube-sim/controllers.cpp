// Simulated controllers (Deployment, Job, naiserator). Filled in phase 2.
#include "state.hpp"

namespace kubesim {

struct Controllers::Impl {
  explicit Impl(Api::State& s) : state(s) {}
  Api::State& state;
};

Controllers::Controllers(Api::State& state) : impl_(std::make_unique<Impl>(state)) {}
Controllers::~Controllers() = default;
void Controllers::Start() {}

}  // namespace kubesim
