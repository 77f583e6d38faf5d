#include "train/metrics_log.h"

#include <fmt/format.h>

#include "core/error.h"

namespace cohort {

MetricsLog::MetricsLog(const std::string& path) : out_(path, std::ios::app) {
  if (!out_) throw Error(fmt::format("{}: cannot open for writing", path));
}

void MetricsLog::write(const nlohmann::json& record) {
  if (!out_.is_open()) return;
  out_ << record.dump() << '\n';
  out_.flush();
}

}  // namespace cohort
