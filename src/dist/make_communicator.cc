// make_communicator lives apart from communicator.cc so the communicator base and the
// single-rank one build without MPI (the NCCL communicator's GPU-only build needs them).
// A build without MPI (COHORT_MPI=OFF) runs one process and refuses a launch by mpirun,
// whose ranks would otherwise each train alone and write the same files.
#include <cstdlib>

#include "core/error.h"
#include "dist/communicator.h"
#include "dist/launcher.h"
#ifdef COHORT_HAVE_MPI
#include "dist/mpi_communicator.h"
#endif

namespace cohort {

std::unique_ptr<Communicator> make_communicator(int* argc, char*** argv) {
#ifdef COHORT_HAVE_MPI
  if (launched_by_mpi()) return std::make_unique<MpiCommunicator>(argc, argv);
#else
  if (launched_by_mpi())
    throw Error(
        "this cohort was built without MPI (cmake -DCOHORT_MPI=OFF): run it as one "
        "process, not under mpirun");
#endif
  return std::make_unique<SoloCommunicator>();
}

void abort_every_rank(int exit_code) {
#ifdef COHORT_HAVE_MPI
  if (launched_by_mpi()) MpiCommunicator::abort_all(exit_code);
#endif
  std::_Exit(exit_code);  // one process: nothing else to stop
}

}  // namespace cohort
