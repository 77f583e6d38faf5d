// --backend and --precision of the commands that only run a model (eval, generate,
// translate); the choice itself is backend/make_backend.h's.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "backend/make_backend.h"

namespace cohort {

struct BackendFlags {
  std::string backend = "cpu", precision = "auto";
};
void add_backend_flags(CLI::App* cmd, BackendFlags& flags);
// One cohort::Error naming the flag for a value outside the choices (commands call it
// first, before any file is read).
void check_backend_flags(const BackendFlags& flags);
// Checks the flags, then makes the backend.
std::unique_ptr<Backend> make_backend(const BackendFlags& flags);

}  // namespace cohort
