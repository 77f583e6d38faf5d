// One knob for the CPU thread count: OpenMP and OpenBLAS (its OpenMP build) share
// one pool, so setting OpenMP's count sets both.
#pragma once

namespace cohort {

// n <= 0 keeps the default (OMP_NUM_THREADS, else all cores).
void set_thread_count(int n);
int thread_count();

}  // namespace cohort
