// Communicator collectives under a real mpirun (this test is started with -np 3, so
// blocks are uneven): every rank checks what it received.
#include "dist/communicator.h"

#include <gtest/gtest.h>

#include <memory>
#include <numeric>

namespace cohort {
namespace {

Communicator& comm() {
  static std::unique_ptr<Communicator> c = make_communicator(nullptr, nullptr);
  return *c;
}

TEST(Communicator, RunsUnderMpirun) { EXPECT_GT(comm().world(), 1) << "start with mpirun -np 3"; }

TEST(Communicator, AllReduceSumsOnEveryRank) {
  const int R = comm().world(), r = comm().rank();
  std::vector<float> x(1001);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(r + 1) * float(i);
  comm().all_reduce_sum(x.data(), x.size());
  const float ranks_sum = float(R * (R + 1) / 2);
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], ranks_sum * float(i)) << i;
  double d = r;
  comm().all_reduce_sum(&d, 1);
  EXPECT_EQ(d, R * (R - 1) / 2.0);
}

TEST(Communicator, AsyncAllReducesCompleteInOrderWhileTheMainThreadWorks) {
  const int R = comm().world(), r = comm().rank();
  std::vector<std::vector<float>> bufs(4, std::vector<float>(50000, float(r)));
  std::vector<std::unique_ptr<CommRequest>> reqs;
  for (auto& b : bufs) reqs.push_back(comm().all_reduce_sum_async(b.data(), b.size()));
  std::vector<float> other(100, 1.0f);
  comm().all_reduce_sum(other.data(), other.size());  // a main-thread collective meanwhile
  for (auto& q : reqs) q->wait();
  for (auto& b : bufs) EXPECT_EQ(b[49999], float(R * (R - 1) / 2));
  EXPECT_EQ(other[0], float(R));
}

TEST(Communicator, ReduceScatterAndAllGatherWithUnevenBlocks) {
  const int R = comm().world(), r = comm().rank();
  const auto counts = even_blocks(10, R);
  std::vector<float> x(10);
  std::iota(x.begin(), x.end(), 0.0f);
  comm().reduce_scatter_sum(x.data(), counts);
  size_t begin = 0;
  for (int q = 0; q < r; ++q) begin += counts[size_t(q)];
  for (size_t i = begin; i < begin + counts[size_t(r)]; ++i) EXPECT_EQ(x[i], float(R) * float(i));
  // Each rank fills its own block with its rank; all-gather spreads them.
  std::vector<float> y(10, -1.0f);
  for (size_t i = begin; i < begin + counts[size_t(r)]; ++i) y[i] = float(r);
  comm().all_gather(y.data(), counts);
  size_t i = 0;
  for (int q = 0; q < R; ++q) {
    for (size_t k = 0; k < counts[size_t(q)]; ++k, ++i) EXPECT_EQ(y[i], float(q));
  }
}

// ZeRO's buckets: asynchronous reduce-scatters queued behind an all-reduce, each over a
// bucket that meets only some ranks' shards (zero counts), every result at its rank's
// offset in the bucket.
TEST(Communicator, AsyncReduceScattersOfBucketsThatMissSomeRanks) {
  const int R = comm().world(), r = comm().rank();
  std::vector<float> first(1000, 1.0f);
  auto before = comm().all_reduce_sum_async(first.data(), first.size());
  // Bucket a: 5 floats for rank 0 only; bucket b: 3 for every rank, then 4 more for the last.
  std::vector<size_t> a_counts(size_t(R), 0), b_counts(size_t(R), 3);
  a_counts[0] = 5;
  b_counts.back() += 4;
  std::vector<float> a(5), b(3 * size_t(R) + 4);
  std::iota(a.begin(), a.end(), float(r));
  std::iota(b.begin(), b.end(), float(10 * r));
  auto ra = comm().reduce_scatter_sum_async(a.data(), a_counts);
  auto rb = comm().reduce_scatter_sum_async(b.data(), b_counts);
  before->wait();
  ra->wait();
  rb->wait();
  EXPECT_EQ(first[999], float(R));
  const float rank_sum = float(R * (R - 1) / 2);
  if (r == 0)
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], float(R) * float(i) + rank_sum) << i;
  const size_t begin = 3 * size_t(r);
  for (size_t i = begin; i < begin + b_counts[size_t(r)]; ++i)
    EXPECT_EQ(b[i], float(R) * float(i) + 10 * rank_sum) << i;
}

TEST(Communicator, BroadcastSendRecvAndStrings) {
  const int R = comm().world(), r = comm().rank();
  int v = r == 1 ? 42 : 0;
  comm().broadcast(&v, sizeof v, 1);
  EXPECT_EQ(v, 42);
  if (r == 0) {
    const int msg = 7;
    comm().send(&msg, sizeof msg, R - 1, 3);
  } else if (r == R - 1) {
    int msg = 0;
    comm().recv(&msg, sizeof msg, 0, 3);
    EXPECT_EQ(msg, 7);
  }
  const auto all = comm().all_gather_strings(std::string(size_t(r), 'x'));
  ASSERT_EQ(int(all.size()), R);
  for (int q = 0; q < R; ++q) EXPECT_EQ(all[size_t(q)], std::string(size_t(q), 'x'));
  comm().barrier();
}

TEST(Communicator, EvenBlocks) {
  const std::vector<size_t> ten_by_three = {4, 3, 3}, two_by_four = {1, 1, 0, 0};
  EXPECT_EQ(even_blocks(10, 3), ten_by_three);
  EXPECT_EQ(even_blocks(2, 4), two_by_four);
}

}  // namespace
}  // namespace cohort
