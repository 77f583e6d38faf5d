// cohort: trains GPT-style Transformer language models. See README.md.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <thread>

#include "cli/commands.h"
#include "core/error.h"
#include "dist/launcher.h"

namespace {

// Prints one error line and returns its exit code. Under mpirun a rank leaves at once
// (std::_Exit: no MPI_Finalize, which could wait on ranks stuck in a collective), and
// mpirun stops the others; an error every rank raised together is printed by rank 0.
int fail(const std::string& message, int code, bool collective) {
  std::fflush(stdout);
  if (!cohort::launched_by_mpi()) {
    fmt::print(stderr, "cohort: error: {}\n", message);
    return code;
  }
  const int rank = cohort::launcher_rank();
  if (!collective) {
    fmt::print(stderr, "cohort: error: [rank {}] {}\n", rank, message);
  } else if (rank == 0) {
    fmt::print(stderr, "cohort: error: {}\n", message);
  } else {
    // Rank 0 reports a collective error: give it time to print before this rank's exit
    // makes mpirun kill it (mpirun kills this rank when rank 0 leaves).
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  std::fflush(stderr);
  std::_Exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  // A file-size limit (ulimit -f) then fails the write with EFBIG, reported as an
  // error naming the file, instead of killing the process mid-checkpoint.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{
      "cohort: train Transformers (GPT, BERT-style encoder, encoder-decoder) on CPUs, alone or as "
      "data-parallel ranks"};
  app.require_subcommand(1);
  app.option_defaults()->always_capture_default();
  int exit_code = 0;
  cohort::add_prepare_command(app, exit_code);
  cohort::add_train_command(app, exit_code);
  cohort::add_plan_command(app, exit_code);
  cohort::add_eval_command(app, exit_code);
  cohort::add_generate_command(app, exit_code);
  cohort::add_translate_command(app, exit_code);
  cohort::add_export_command(app, exit_code);
  cohort::add_bench_command(app, exit_code);
  cohort::add_launch_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return cohort::kExitBadInput;
  } catch (const cohort::CollectiveError& e) {
    return fail(e.what(), e.exit_code(), true);
  } catch (const cohort::Error& e) {
    return fail(e.what(), e.exit_code(), false);
  } catch (const std::bad_alloc&) {
    return fail("out of memory (try a smaller batch or model)", cohort::kExitInternal, false);
  } catch (const std::exception& e) {
    return fail(e.what(), cohort::kExitInternal, false);
  }
  return exit_code;
}
