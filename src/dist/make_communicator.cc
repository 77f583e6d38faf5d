// make_communicator lives apart from communicator.cc so the communicator base and the
// single-rank one build without MPI (the NCCL communicator's GPU-only build needs them).
#include "dist/communicator.h"
#include "dist/mpi_communicator.h"

namespace cohort {

std::unique_ptr<Communicator> make_communicator(int* argc, char*** argv) {
  if (launched_by_mpi()) return std::make_unique<MpiCommunicator>(argc, argv);
  return std::make_unique<SoloCommunicator>();
}

}  // namespace cohort
