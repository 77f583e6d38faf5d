#include "train/progress.h"

#include <fmt/format.h>
#include <unistd.h>

namespace cohort {

namespace {
std::string format_duration(double s) {
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}
}  // namespace

ProgressLine::ProgressLine(long total_steps, long tokens_per_step, int log_every, long first_step,
                           std::FILE* out, const char* unit)
    : total_(total_steps),
      tokens_per_step_(tokens_per_step),
      first_step_(first_step),
      log_every_(log_every),
      out_(out),
      unit_(unit),
      tty_(out != nullptr && isatty(fileno(out)) != 0) {}

void ProgressLine::update(const StepResult& r) {
  if (out_ == nullptr) return;
  elapsed_ += r.seconds;
  const long done = r.step + 1;
  const long session = done - first_step_;
  loss_ema_ = session == 1 ? r.loss : 0.9 * loss_ema_ + 0.1 * r.loss;
  const double tok_s = elapsed_ > 0 ? double(tokens_per_step_) * session / elapsed_ : 0.0;
  const double eta = elapsed_ / double(std::max(1L, session)) * double(total_ - done);
  const std::string line = fmt::format(
      "step {:>{}}/{} | loss {:.4f} (avg {:.4f}) | lr {:.2e} | norm {:.3f} | {:.0f} {}/s | "
      "{} left",
      done, fmt::formatted_size("{}", total_), total_, r.loss, loss_ema_, r.lr, r.grad_norm, tok_s,
      unit_, format_duration(eta));
  if (tty_) {
    fmt::print(out_, "\r{}\x1b[K", line);
    open_line_ = true;
  } else if (done % log_every_ == 0 || session == 1 || done == total_) {
    fmt::print(out_, "{}\n", line);
  }
  std::fflush(out_);
}

void ProgressLine::finish() {
  if (out_ == nullptr) return;
  if (open_line_) fmt::print(out_, "\n");
  open_line_ = false;
  std::fflush(out_);
}

}  // namespace cohort
