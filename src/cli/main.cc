// cohort: trains GPT-style Transformer language models. See README.md.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"cohort: train GPT-style language models on CPUs, alone or as data-parallel ranks"};
  app.require_subcommand(1);
  int exit_code = 0;
  app.option_defaults()->always_capture_default();
  cohort::add_prepare_command(app, exit_code);
  cohort::add_train_command(app, exit_code);
  cohort::add_eval_command(app, exit_code);
  cohort::add_generate_command(app, exit_code);
  cohort::add_bench_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return cohort::kExitBadInput;
  } catch (const cohort::Error& e) {
    std::fflush(stdout);
    fmt::print(stderr, "cohort: error: {}\n", e.what());
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "cohort: error: out of memory (try a smaller batch or model)\n");
    return cohort::kExitInternal;
  } catch (const std::exception& e) {
    fmt::print(stderr, "cohort: error: {}\n", e.what());
    return cohort::kExitInternal;
  }
  return exit_code;
}
