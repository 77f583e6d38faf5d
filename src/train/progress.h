// Progress of a run for a person watching: on a terminal one line rewritten in place
// (step, loss, lr, tokens/s, ETA); otherwise (logs, CI) a plain line every log_every
// steps and at the end.
#pragma once

#include <cstdio>

#include "train/trainer.h"

namespace cohort {

class ProgressLine {
 public:
  // first_step: where a resumed run starts, so rates and ETA count only this session.
  // out == nullptr: silent (ranks other than 0).
  // unit: what tokens_per_step counts, shown as "<unit>/s" ("tok", or "samples").
  ProgressLine(long total_steps, long tokens_per_step, int log_every, long first_step = 0,
               std::FILE* out = stdout, const char* unit = "tok");
  void update(const StepResult& r);
  void finish();

 private:
  long total_, tokens_per_step_, first_step_;
  int log_every_;
  std::FILE* out_;
  const char* unit_;
  bool tty_;
  double elapsed_ = 0.0, loss_ema_ = 0.0;
  bool open_line_ = false;
};

}  // namespace cohort
