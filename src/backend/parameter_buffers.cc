#include "backend/parameter_buffers.h"

#include <utility>

namespace cohort {

ParameterBuffers::ParameterBuffers(ParameterLayout layout, Backend& backend)
    : backend_(backend),
      layout_(std::move(layout)),
      params_(layout_.total(), backend.memory()),
      grads_(layout_.total(), backend.memory()),
      ready_ranges_{{0, layout_.total()}} {}

ParameterBuffers::~ParameterBuffers() { backend_.parameters_released(params_.data()); }

void ParameterBuffers::upload_params(const float* host) {
  backend_.parameters_released(params_.data());  // a copy the optimizer refreshed is stale
  backend_.memory().copy_from_host(params_.data(), host, params_.bytes());
}

void ParameterBuffers::download_params(float* host) const {
  backend_.memory().copy_to_host(host, params_.data(), params_.bytes());
}

void ParameterBuffers::download_grads(float* host) const {
  backend_.memory().copy_to_host(host, grads_.data(), grads_.bytes());
}

}  // namespace cohort
