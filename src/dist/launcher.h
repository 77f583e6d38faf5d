// What the process launcher's environment says, without MPI: whether mpirun (or another
// PMI launcher) started this process, and its rank there. MPI-free, so a build without
// MPI (COHORT_MPI=OFF) can still recognize, and refuse, a launch under mpirun.
#pragma once

namespace cohort {

// True when this process was started by mpirun (OpenMPI) or another PMI launcher.
bool launched_by_mpi();
// This process's rank from the launcher's environment (0 without one).
int launcher_rank();

}  // namespace cohort
