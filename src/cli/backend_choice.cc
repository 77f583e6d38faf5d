#include "cli/backend_choice.h"

namespace cohort {

void add_backend_flags(CLI::App* cmd, BackendFlags& flags) {
  cmd->add_option("--backend", flags.backend, "cpu | cuda (one GPU)")->capture_default_str();
  cmd->add_option("--precision", flags.precision,
                  "auto | fp32 | bf16 | fp16: the CUDA matmuls; auto is bf16 on cuda")
      ->capture_default_str();
}

void check_backend_flags(const BackendFlags& flags) {
  validate_backend_choice(flags.backend, flags.precision, "options", "--backend", "--precision");
}

std::unique_ptr<Backend> make_backend(const BackendFlags& flags) {
  check_backend_flags(flags);
  return make_backend(flags.backend, flags.precision);
}

}  // namespace cohort
