#include "model/model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/philox.h"

namespace cohort {

namespace {
constexpr float kInitStd = 0.02f;
}

Model::Model(const ModelConfig& config, Backend& backend)
    : ParameterBuffers(model_layout((config.validate(), config)), backend), config_(config) {}

void Model::init_weights(uint64_t seed) {
  const int blocks = config_.n_layer + (config_.arch == "seq2seq" ? config_.n_decoder_layer : 0);
  const float proj_std = kInitStd / std::sqrt(2.0f * blocks);
  const size_t real_wte = size_t(config_.vocab_size) * config_.n_embd;
  // Written in place in host memory; for a device, on the host and then copied once.
  const bool direct = backend_.memory().is_host();
  std::vector<float> host(direct ? 0 : layout_.total());
  float* p = direct ? params_.data() : host.data();
  for (const auto& t : layout_.tensors()) {
    const std::string& n = t.name;
    const bool is_bias = n.ends_with(".bias");
    const bool is_ln_weight = n.find("ln_") != std::string::npos && n.ends_with(".weight");
    const bool is_proj = n.ends_with("c_proj.weight");
    const float stdev = is_proj ? proj_std : kInitStd;
    const size_t limit = n == "wte.weight" ? real_wte : t.numel;  // padding rows stay 0
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < t.numel; ++i) {
      float v = 0.0f;
      if (is_ln_weight) {
        v = 1.0f;
      } else if (!is_bias && i < limit) {
        v = stdev * philox_normal(seed, t.offset + i);
      }
      p[t.offset + i] = v;
    }
  }
  if (!direct) upload_params(host.data());
}

void Model::set_grad_ready_units(size_t units,
                                 const std::function<size_t(const std::string&)>& unit_of) {
  ready_ranges_.assign(units, {SIZE_MAX, 0});
  for (const auto& t : layout_.tensors()) {
    const size_t unit = unit_of(t.name);
    COHORT_CHECK(unit < units) << t.name << ": unit " << unit << " of " << units;
    auto& r = ready_ranges_[unit];
    r = {std::min(r.first, t.offset), std::max(r.second, t.offset + t.numel)};
  }
  size_t covered = 0;
  for (const auto& r : ready_ranges_) covered += r.second - r.first;
  COHORT_CHECK(covered == layout_.total()) << "backward units must tile the flat buffer";
}

void Model::check_ids(const int32_t* ids, size_t n, bool allow_ignored, const char* what) const {
  const int V = config_.vocab_size;
  for (size_t i = 0; i < n; ++i) {
    if (ids[i] >= V || (ids[i] < 0 && !(allow_ignored && ids[i] == -1))) {
      throw Error(fmt::format("{} id {} at position {} is outside the vocabulary [0, {})", what,
                              ids[i], i, V));
    }
  }
}

void Model::check_lengths(const int32_t* lengths, int B, int T, const char* what) const {
  for (int b = 0; b < B; ++b) {
    if (lengths[b] < 1 || lengths[b] > T)
      throw Error(fmt::format("{} {}: length {} is outside [1, {}]", what, b, lengths[b], T));
  }
}

DropoutKey Model::dropout_key(const ForwardOptions& options, uint32_t site) const {
  DropoutKey k;
  k.p = options.training ? config_.dropout : 0.0f;
  k.seed = options.dropout_seed;
  k.step = options.step;
  k.site = site;
  k.sample_offset = options.sample_offset;
  return k;
}

}  // namespace cohort
