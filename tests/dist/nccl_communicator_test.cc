// NcclCommunicator on one GPU, one rank (NCCL refuses two ranks on one GPU, and the
// machines lent here have one): NCCL starts up from an id passed over the host
// communicator, each device-side collective runs and leaves the data as a one-rank sum
// leaves it, uneven ZeRO blocks included, and the host-side calls reach the host
// communicator. Skipped with a message without a device. Several GPUs: not tested here.
#include "dist/nccl_communicator.h"

#include <gtest/gtest.h>

#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_memory.h"

namespace cohort {
namespace {

TEST(NcclCommunicator, OneRankCollectivesOnDeviceMemory) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: the NCCL test needs a GPU";
  CudaBackend backend;  // makes GPU 0 current
  SoloCommunicator host;
  NcclCommunicator comm(host);
  EXPECT_EQ(comm.world(), 1);
  EXPECT_NE(comm.describe().find("NCCL"), std::string::npos) << comm.describe();

  std::vector<float> x(1001);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.5f * float(i) - 7.0f;
  cuda::DeviceBuffer d = cuda::upload(x);
  comm.all_reduce_sum(d.as<float>(), x.size());
  comm.all_reduce_sum_async(d.as<float>(), x.size())->wait();
  comm.reduce_scatter_sum(d.as<float>(), {x.size()});
  comm.all_gather(d.as<float>(), {x.size()});
  comm.broadcast(d.as<float>(), x.size() * sizeof(float), 0);
  EXPECT_EQ(cuda::download<float>(d, x.size()), x);

  // Work queued on the default stream before the collective is what it reduces.
  backend.scale(d.as<float>(), 2.0f, x.size());
  comm.all_reduce_sum_async(d.as<float>(), x.size())->wait();
  backend.scale(d.as<float>(), 0.5f, x.size());
  EXPECT_EQ(cuda::download<float>(d, x.size()), x);

  double norms[2] = {1.5, 2.5};
  comm.all_reduce_sum(norms, 2);  // host memory, through the host communicator
  EXPECT_EQ(norms[1], 2.5);
}

}  // namespace
}  // namespace cohort
