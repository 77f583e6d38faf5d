// OpenMPI's collectives on one buffer of config C's gradient size (14M floats): all-reduce,
// reduce-scatter (separate and in place, and the _block form), all-gather, and a memcpy
// for scale; min and median of 5 after one untimed call. What zero1's exchange costs.
//   mpicxx -O2 -o /tmp/mpi_collectives bench/mpi_collectives.cc
//   OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np 2 /tmp/mpi_collectives
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>
int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int r, R;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  MPI_Comm_size(MPI_COMM_WORLD, &R);
  const size_t n = 14000000;
  std::vector<float> x(n, 1.0f), mine(n / R);
  std::vector<int> counts(R, int(n / R)), displs(R);
  for (int q = 1; q < R; ++q) displs[q] = displs[q - 1] + counts[q - 1];
  auto t = [&](const char* what, auto f) {
    f();
    std::vector<double> ts;
    for (int i = 0; i < 5; ++i) {
      MPI_Barrier(MPI_COMM_WORLD);
      auto t0 = std::chrono::steady_clock::now();
      f();
      ts.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ts.begin(), ts.end());
    if (r == 0) std::printf("%-28s min %.1f ms median %.1f ms\n", what, ts[0] * 1e3, ts[2] * 1e3);
  };
  t("allreduce in place",
    [&] { MPI_Allreduce(MPI_IN_PLACE, x.data(), int(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); });
  t("reduce_scatter separate", [&] {
    MPI_Reduce_scatter(x.data(), mine.data(), counts.data(), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  });
  t("reduce_scatter in place", [&] {
    MPI_Reduce_scatter(MPI_IN_PLACE, x.data(), counts.data(), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  });
  t("reduce_scatter_block", [&] {
    MPI_Reduce_scatter_block(x.data(), mine.data(), counts[0], MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  });
  t("allgatherv in place", [&] {
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x.data(), counts.data(), displs.data(),
                   MPI_FLOAT, MPI_COMM_WORLD);
  });
  t("memcpy n floats", [&] { std::copy(x.begin(), x.end(), std::vector<float>(n).begin()); });
  MPI_Finalize();
}
