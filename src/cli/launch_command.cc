// cohort launch: keeps a training job alive, as torchrun's elastic agent does. It runs
// the command after `--` (usually `mpirun -np N cohort train ...`); when the job ends
// with an error or a killed rank, it runs it again with COHORT_RESTART=k in the
// environment, which makes `cohort train` resume from the run directory's newest good
// checkpoint. Bad input (exit code 2) is not retried, nor a job stopped by a signal sent
// to the launcher itself (forwarded to the job, which checkpoints and exits 0).
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <thread>

#include "cli/commands.h"
#include "core/error.h"

extern char** environ;

namespace cohort {

namespace {

struct LaunchOptions {
  int max_restarts = 3;
  double backoff = 1.0;  // seconds before a restart
  std::vector<std::string> command;
};

volatile std::sig_atomic_t g_forwarded = 0;
volatile pid_t g_child = 0;

void forward(int signal) {
  g_forwarded = signal;
  if (g_child > 0) kill(g_child, signal);
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with code {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {}", WTERMSIG(status));
  return "ended";
}

int run_launch(const LaunchOptions& o) {
  if (o.command.empty()) {
    throw Error(
        "launch: no command: cohort launch --max-restarts 3 -- mpirun -np 2 cohort train ...");
  }
  if (o.max_restarts < 0) throw Error("launch: --max-restarts must be >= 0");
  std::vector<char*> argv;
  for (const auto& a : o.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::signal(SIGTERM, forward);
  std::signal(SIGINT, forward);
  for (int attempt = 0;; ++attempt) {
    setenv("COHORT_RESTART", std::to_string(attempt).c_str(), 1);
    pid_t pid = 0;
    if (const int rc = posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ)) {
      throw Error(fmt::format("launch: cannot run '{}': {}", o.command[0], std::strerror(rc)));
    }
    g_child = pid;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    g_child = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      if (attempt > 0)
        fmt::print("cohort launch: the job finished after {} restart{}\n", attempt,
                   attempt == 1 ? "" : "s");
      return 0;
    }
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (g_forwarded != 0) {
      fmt::print(stderr, "cohort launch: the job {} after the launcher forwarded signal {}\n",
                 describe_status(status), int(g_forwarded));
      return code;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == kExitBadInput) {
      fmt::print(stderr, "cohort launch: the job {} (bad input): not restarting\n",
                 describe_status(status));
      return code;
    }
    if (attempt == o.max_restarts) {
      fmt::print(stderr, "cohort launch: the job {}; no restarts left (--max-restarts {})\n",
                 describe_status(status), o.max_restarts);
      return code;
    }
    fmt::print(stderr,
               "cohort launch: the job {}; restart {} of {} from the newest good checkpoint\n",
               describe_status(status), attempt + 1, o.max_restarts);
    std::fflush(stderr);
    std::this_thread::sleep_for(std::chrono::duration<double>(o.backoff));
  }
}

}  // namespace

void add_launch_command(CLI::App& root, int& exit_code) {
  auto o = std::make_shared<LaunchOptions>();
  CLI::App* cmd = root.add_subcommand(
      "launch", "Run a training job and restart it from its newest good checkpoint when it fails");
  cmd->add_option("--max-restarts", o->max_restarts, "Restarts before giving up")
      ->capture_default_str();
  cmd->add_option("--backoff", o->backoff, "Seconds to wait before a restart")
      ->capture_default_str();
  cmd->add_option("command", o->command,
                  "The job, after --: e.g. -- mpirun -np 2 cohort train --config C.toml")
      ->required();
  cmd->footer(
      "The job sees COHORT_RESTART=k (0 the first time); cohort train then resumes from "
      "its run directory. Exit code 2 (bad input) is not retried.");
  cmd->callback([o, &exit_code]() { exit_code = run_launch(*o); });
}

}  // namespace cohort
