#include "dist/ps_protocol.h"

#include "core/backoff.h"

namespace cohort {

int wait_for_message(Communicator& comm, int source, int tag) {
  for (Backoff backoff;; backoff.pause()) {
    const int from = comm.probe(source, tag);
    if (from >= 0) return from;
  }
}

}  // namespace cohort
