// The cohort subcommands. Each adds itself to the root CLI11 app; its callback stores
// the command's exit code in `exit_code`. Errors are thrown as cohort::Error and turned
// into one line and an exit code by main.cc.
#pragma once

#include <CLI/CLI.hpp>

namespace cohort {

void add_train_command(CLI::App& root, int& exit_code);
void add_plan_command(CLI::App& root, int& exit_code);
void add_bench_command(CLI::App& root, int& exit_code);
void add_bench_comm_command(CLI::App& bench, int& exit_code);  // cohort bench comm
void add_bench_gemm_command(CLI::App& bench, int& exit_code);  // cohort bench gemm
void add_prepare_command(CLI::App& root, int& exit_code);
void add_eval_command(CLI::App& root, int& exit_code);
void add_generate_command(CLI::App& root, int& exit_code);
void add_launch_command(CLI::App& root, int& exit_code);
void add_translate_command(CLI::App& root, int& exit_code);
void add_export_command(CLI::App& root, int& exit_code);

}  // namespace cohort
