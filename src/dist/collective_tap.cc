#include "dist/collective_tap.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <numeric>

#include "core/error.h"
#include "dist/comm_watchdog.h"

namespace cohort {

namespace {
std::string floats(const std::vector<size_t>& counts) {
  return fmt::format("{} floats ({})", std::accumulate(counts.begin(), counts.end(), size_t(0)),
                     fmt::join(counts, " + "));
}
}  // namespace

void CollectiveTap::all_reduce_sum(float* data, size_t n) {
  before_(fmt::format("all-reduce of {} floats", n));
  inner_.all_reduce_sum(data, n);
}
std::unique_ptr<CommRequest> CollectiveTap::all_reduce_sum_async(float* data, size_t n) {
  before_(fmt::format("all-reduce of {} floats", n));
  return inner_.all_reduce_sum_async(data, n);
}
std::unique_ptr<CommRequest> CollectiveTap::all_reduce_sum_bf16_async(uint16_t* data, size_t n) {
  before_(fmt::format("all-reduce of {} bf16", n));
  return inner_.all_reduce_sum_bf16_async(data, n);
}
void CollectiveTap::all_reduce_sum(double* data, size_t n) {
  before_(fmt::format("all-reduce of {} doubles", n));
  inner_.all_reduce_sum(data, n);
}
void CollectiveTap::all_reduce_max(double* data, size_t n) {
  before_(fmt::format("all-reduce (max) of {} doubles", n));
  inner_.all_reduce_max(data, n);
}
void CollectiveTap::reduce_scatter_sum(float* data, const std::vector<size_t>& counts) {
  before_("reduce-scatter of " + floats(counts));
  inner_.reduce_scatter_sum(data, counts);
}
std::unique_ptr<CommRequest> CollectiveTap::reduce_scatter_sum_async(
    float* data, const std::vector<size_t>& counts) {
  before_("reduce-scatter of " + floats(counts));
  return inner_.reduce_scatter_sum_async(data, counts);
}
void CollectiveTap::all_gather(float* data, const std::vector<size_t>& counts) {
  before_("all-gather of " + floats(counts));
  inner_.all_gather(data, counts);
}
std::unique_ptr<CommRequest> CollectiveTap::all_gather_async(float* data,
                                                             const std::vector<size_t>& counts) {
  before_("all-gather of " + floats(counts));
  return inner_.all_gather_async(data, counts);
}
void CollectiveTap::broadcast(void* data, size_t bytes, int root) {
  before_(fmt::format("broadcast of {} bytes from rank {}", bytes, root));
  inner_.broadcast(data, bytes, root);
}
void CollectiveTap::barrier() {
  before_("barrier");
  inner_.barrier();
}

void CollectiveCheck::operator()(const std::string& what) {
  const long n = ++count_;
  const std::vector<std::string> all = own_->all_gather_strings(what);
  std::map<std::string, std::vector<int>> by_what;
  for (size_t r = 0; r < all.size(); ++r) by_what[all[r]].push_back(int(r));
  if (by_what.size() == 1) return;
  // The most common description is the collective the job is at (ties: rank 0's).
  const std::string* usual = &all[0];
  for (const auto& [w, ranks] : by_what)
    if (ranks.size() > by_what[*usual].size()) usual = &w;
  std::string odd;
  for (const auto& [w, ranks] : by_what) {
    if (w == *usual) continue;
    odd += fmt::format("{}rank{} {} {} in {}", odd.empty() ? "" : "; ", ranks.size() > 1 ? "s" : "",
                       fmt::join(ranks, ", "), ranks.size() > 1 ? "are" : "is", w);
  }
  const auto& same = by_what[*usual];
  throw CollectiveError(
      fmt::format("collective {}: {}, where rank{} {} {} in {}: the ranks' collectives differ "
                  "(a rank skipped or added one)",
                  n, odd, same.size() > 1 ? "s" : "", fmt::join(same, ", "),
                  same.size() > 1 ? "are" : "is", *usual),
      kExitHang);
}

}  // namespace cohort
