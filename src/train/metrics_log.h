// metrics.jsonl: one JSON object per training step or evaluation, appended and
// flushed as it happens so a crashed run keeps what it logged.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace cohort {

class MetricsLog {
 public:
  MetricsLog() = default;                        // disabled
  explicit MetricsLog(const std::string& path);  // throws cohort::Error if unwritable
  void write(const nlohmann::json& record);
  bool enabled() const { return out_.is_open(); }

 private:
  std::ofstream out_;
};

}  // namespace cohort
