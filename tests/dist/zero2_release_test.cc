// ZeRO-2 gives back the gradients outside a rank's shard once their bucket is exchanged:
// after a step's backward and exchange, under mpirun -np 2, those gradients read as zeros
// and, for a model whose gradients span many pages, most of their pages are no longer
// resident (mincore), while zero1 keeps them; the shard itself is the one zero1 computes,
// bit for bit, and the next step starts from zeros everywhere.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "dist/communicator.h"
#include "dist/strategy.h"
#include "model/gpt.h"

namespace cohort {
namespace {

Communicator& comm() {
  static std::unique_ptr<Communicator> c = make_communicator(nullptr, nullptr);
  return *c;
}

// Pages of [p, p + bytes) resident in memory (whole pages inside the range).
size_t resident_pages(const float* p, size_t bytes) {
  const auto page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) / page * page;
  if (end <= begin) return 0;
  std::vector<unsigned char> in((end - begin) / page);
  EXPECT_EQ(mincore(reinterpret_cast<void*>(begin), end - begin, in.data()), 0);
  size_t n = 0;
  for (unsigned char c : in) n += c & 1;
  return n;
}

struct AfterExchange {
  std::vector<float> grads;
  size_t begin, end;            // this rank's shard
  size_t resident_outside = 0;  // pages outside the shard still resident
  size_t pages_outside = 0;
};

AfterExchange exchange(const std::string& name) {
  const ModelConfig mc{
      .vocab_size = 512, .context_length = 32, .n_layer = 4, .n_head = 4, .n_embd = 128};
  CpuBackend backend;
  Gpt model(mc, backend);
  model.init_weights(11);
  model.plan(2, 32, false);
  StrategyConfig sc;
  sc.name = name;
  sc.bucket_mb = 0.25f;  // many buckets: released while backward runs
  auto strategy = make_strategy(sc, comm(), model, OptimizerConfig{});
  auto* collective = dynamic_cast<CollectiveStrategy*>(strategy.get());
  EXPECT_NE(collective, nullptr);
  std::vector<int32_t> x(64), y(64);
  for (int i = 0; i < 64; ++i) x[i] = (i * 7 + comm().rank()) % 512, y[i] = (i * 3 + 1) % 512;
  model.forward(x.data(), y.data(), 2, 32, ForwardOptions{});
  model.backward(1.0f, strategy->grad_ready_hook());
  collective->finish_gradients();
  AfterExchange a;
  const auto counts = even_blocks(model.num_params(), comm().world());
  a.begin = 0;
  for (int r = 0; r < comm().rank(); ++r) a.begin += counts[size_t(r)];
  a.end = a.begin + counts[size_t(comm().rank())];
  const float* g = model.grads();
  // Residency before anything reads the pages (a read maps the shared zero page back).
  const auto page = size_t(sysconf(_SC_PAGESIZE));
  const size_t outside_bytes = (model.num_params() - (a.end - a.begin)) * sizeof(float);
  a.pages_outside = outside_bytes / page;
  a.resident_outside = resident_pages(g, a.begin * sizeof(float)) +
                       resident_pages(g + a.end, (model.num_params() - a.end) * sizeof(float));
  a.grads.assign(g, g + model.num_params());
  // The next step starts from zeros everywhere.
  strategy->zero_gradients(model);
  for (size_t i = 0; i < model.num_params(); ++i) {
    if (model.grads()[i] != 0.0f) {
      ADD_FAILURE() << name << ": gradient " << i << " not zero for the next step";
      break;
    }
  }
  return a;
}

TEST(Zero2, GradientsOutsideTheShardAreGivenBack) {
  ASSERT_EQ(comm().world(), 2) << "run under mpirun -np 2";
  const AfterExchange one = exchange("zero1"), two = exchange("zero2");
  ASSERT_EQ(one.begin, two.begin);
  for (size_t i = two.begin; i < two.end; ++i)
    ASSERT_EQ(one.grads[i], two.grads[i]) << "shard gradient " << i;
  size_t nonzero = 0;
  for (size_t i = 0; i < two.grads.size(); ++i)
    if ((i < two.begin || i >= two.end) && two.grads[i] != 0.0f) ++nonzero;
  EXPECT_EQ(nonzero, 0u) << "zero2 left gradients outside its shard";
  EXPECT_GT(one.resident_outside, one.pages_outside / 2) << "zero1 keeps them resident";
  EXPECT_LT(two.resident_outside, two.pages_outside / 10)
      << two.resident_outside << " of " << two.pages_outside << " pages still resident";
}

}  // namespace
}  // namespace cohort
