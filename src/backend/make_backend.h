// The backend a run asked for by name (train.backend, train.precision): the CPU's, or the
// CUDA backend on this rank's GPU, or a one-line cohort::Error saying why not here.
#pragma once

#include <memory>
#include <string>

#include "backend/backend.h"

namespace cohort {

// cuda: this rank's GPU is its local rank modulo the GPUs present. The choice must have
// passed validate_backend_choice.
std::unique_ptr<Backend> make_backend(const std::string& backend, const std::string& precision);

// A backend choice (cpu | cuda) and its matmul precision (auto | fp32 | bf16 | fp16):
// throws cohort::Error naming the two fields (e.g. "train.backend", or "--backend" for a
// command's flags) on a value outside those or a 16-bit precision on the CPU.
void validate_backend_choice(const std::string& backend, const std::string& precision,
                             const std::string& where, const char* backend_field,
                             const char* precision_field);
// auto: bf16 on cuda, fp32 on cpu.
inline std::string resolve_precision(const std::string& backend, const std::string& precision) {
  return precision != "auto" ? precision : backend == "cuda" ? "bf16" : "fp32";
}

}  // namespace cohort
