// The start-up checks of rank_agreement.h under a real mpirun (-np 3): every rank throws
// the same CollectiveError, naming the ranks, or none does.
#include "dist/rank_agreement.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "core/error.h"

namespace cohort {
namespace {

Communicator& comm() {
  static std::unique_ptr<Communicator> c = make_communicator(nullptr, nullptr);
  return *c;
}

TEST(RankAgreement, RunsUnderMpirun) { EXPECT_EQ(comm().world(), 3) << "start with mpirun -np 3"; }

TEST(RankAgreement, DistinctGpusPass) {
  EXPECT_NO_THROW(check_devices_distinct(
      comm(), "00000000:1" + std::to_string(comm().rank()) + ":00.0 on node-a"));
  // The same bus on different hosts is a different GPU.
  EXPECT_NO_THROW(
      check_devices_distinct(comm(), "00000000:19:00.0 on node-" + std::to_string(comm().rank())));
}

TEST(RankAgreement, ASharedGpuStopsEveryRankNamingTheRanks) {
  // Ranks 0 and 2 on one GPU (three ranks on a two-GPU host); rank 1 alone.
  const std::string device =
      comm().rank() == 1 ? "00000000:2A:00.0 on node-a" : "00000000:19:00.0 on node-a";
  try {
    check_devices_distinct(comm(), device);
    FAIL() << "rank " << comm().rank() << " did not throw";
  } catch (const CollectiveError& e) {
    EXPECT_EQ(std::string(e.what()),
              "ranks 0 and 2 both use GPU 00000000:19:00.0 on node-a: NCCL needs a GPU of its own "
              "for each rank; start at most as many ranks on a host as it has GPUs (nvidia-smi -L "
              "lists them)");
  }
}

}  // namespace
}  // namespace cohort
