#include "train/metrics_log.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"

namespace cohort {

MetricsLog::MetricsLog(const std::string& path) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    // A torn last line (the process killed mid-write) is skipped.
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.value("kind", "") == "train" && j.contains("step") &&
        j["step"].is_number_integer()) {
      logged_through_ = std::max(logged_through_, j["step"].get<long>());
    }
  }
  out_.open(path, std::ios::app);
  if (!out_) throw Error(fmt::format("{}: cannot open for writing", path));
}

void MetricsLog::write(nlohmann::json record) {
  if (!out_.is_open()) return;
  nlohmann::json nonfinite = nlohmann::json::array();
  for (auto& [key, value] : record.items()) {
    if (value.is_number_float() && !std::isfinite(value.get<double>())) {
      value = nullptr;
      nonfinite.push_back(key);
    }
  }
  if (!nonfinite.empty()) record["nonfinite"] = nonfinite;
  if (record.value("kind", "") == "train" && record.value("step", -1L) <= logged_through_)
    record["retrained"] = true;
  out_ << record.dump() << '\n';
  out_.flush();
}

}  // namespace cohort
