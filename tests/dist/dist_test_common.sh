# Sourced by the mpirun test scripts after `cohort=...`: a scratch directory, OpenMPI as
# root, mpi N ... (mpirun with a timeout: a hang fails the test), the small dropout
# model whose 1-rank x batch 12 losses the strategies are compared against, and
# run NAME CMD... (runs CMD with that model and --run-dir $tmp/NAME, log in $tmp/NAME.log).
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mpi() { timeout 120 mpirun --oversubscribe -np "$@"; }
model=(--synthetic --set model.n_layer=2 --set model.n_embd=48 --set model.n_head=4
       --set model.context_length=16 --set model.vocab_size=96 --set model.dropout=0.1
       --seq-len 16 --steps 20 --threads 1 --set train.warmup=3 --lr 3e-3)
run() {
  local name=$1
  shift
  if ! "$@" "${model[@]}" --run-dir "$tmp/$name" >"$tmp/$name.log" 2>&1; then
    echo "FAIL: $name: $*"; cat "$tmp/$name.log"; exit 1
  fi
}
