// metrics.jsonl: one JSON object per training step, evaluation or event, appended and
// flushed as it happens so a crashed run keeps what it logged. The line kinds and their
// fields are defined in docs/metrics.md; this class enforces two of its rules:
// - a non-finite number is written as null, and the line lists its field in
//   "nonfinite" (JSON has no NaN; never the string "nan");
// - a train line for a step that an earlier run in this file already logged (a step
//   trained again after a resume from an older checkpoint) carries "retrained": true.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace cohort {

class MetricsLog {
 public:
  MetricsLog() = default;  // writes nothing
  // Appends to path; reads what is there first to know the last step logged. Throws
  // cohort::Error if the file cannot be written.
  explicit MetricsLog(const std::string& path);
  void write(nlohmann::json record);

 private:
  std::ofstream out_;
  long logged_through_ = -1;  // the highest train step the file held when opened
};

}  // namespace cohort
