#!/usr/bin/env bash
# A second, shorter GPU run beside scripts/gpu-check.sh (docs/gpu.md), for a machine with
# an NVIDIA GPU, about one minute after the build:
#  1. cuda_ops_test and gpt_reference_test;
#  2. compute-sanitizer memcheck on the GPU fixture cases and on the MLP, fused-loss and
#     linear op tests (small shapes: the sanitizer is slow);
#  3. Nsight Compute on 400 launches of a GPT-2 124M bf16 step that are not GEMMs or the
#     attention kernels: each launch's time and DRAM bytes, and the totals per kernel, so
#     a memory-bound kernel's bandwidth can be read against the card's.
# With the device tool: run(carry=[".gpu-deps"], command="scripts/gpu-kernel-report.sh")
# after scripts/gpu-deps.sh here. Writes its log to $OUT when set, else runs/gpu-report/.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=scripts/gpu-deps-env.sh
. scripts/gpu-deps-env.sh
start_gpu_log gpu-kernel-report runs/gpu-report
status=0
start=$(date +%s)
build_gpu_check "$logs" gpu-kernel-report || exit 1

run_gpu_op_tests "$out" || status=1

sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
memcheck() {  # memcheck TEST FILTER: fails on any error the sanitizer reports
  timeout 120 "$sanitizer" --tool memcheck --leak-check no --error-exitcode 9 \
    "$1" --gtest_brief=1 --gtest_filter="$2" 2>&1 | tail -8
  local rc=${PIPESTATUS[0]}
  echo "gpu-kernel-report: memcheck $(basename "$1") '$2': status $rc"
  [ "$rc" -eq 0 ] || status=1
}
memcheck ./build-gpu/tests/model/gpt_reference_test '*cuda*:*TensorCoreRoute*'
memcheck ./build-gpu/tests/backend/cuda_ops_test '*FusedLmHead*:*LinearAndLmHead*:*LayerNorm*:*PassedGradient*:*HeldGradient*'
memcheck ./build-gpu/tests/backend/cuda_mlp_test '*'

timeout 150 ncu --clock-control none --csv \
  --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum \
  -k 'regex:^(?!nvjet|splitK|tc_forward|tc_backward)' --launch-count 400 \
  ./build-gpu/bench/gpu/gpt2_cohort_bench --backend cuda --precision bf16 --batch 16 \
  --seq 1024 --steps 1 >/tmp/cohort-ncu-launches.csv 2>/tmp/cohort-ncu-launches.err ||
  { tail -5 /tmp/cohort-ncu-launches.err; status=1; }
python3 - /tmp/cohort-ncu-launches.csv <<'PY'
import collections, csv, sys
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if len(rows) < 2:
    sys.exit("gpu-kernel-report: ncu gave no rows")
head = rows[0]
col = {n: head.index(n) for n in ("ID", "Kernel Name", "Grid Size", "Metric Name", "Metric Unit",
                                  "Metric Value")}
to_base = {"ns": 1e-9, "nsecond": 1e-9, "us": 1e-6, "usecond": 1e-6, "ms": 1e-3, "msecond": 1e-3,
           "s": 1.0, "second": 1.0, "byte": 1.0, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9}
launches = collections.defaultdict(dict)
for r in rows[1:]:
    d = launches[r[col["ID"]]]
    d["name"], d["grid"] = r[col["Kernel Name"]].split("(")[0][:48], r[col["Grid Size"]]
    d[r[col["Metric Name"]]] = float(r[col["Metric Value"]].replace(",", "")) * to_base[r[col["Metric Unit"]]]
total = collections.defaultdict(lambda: [0, 0.0, 0.0])
for d in launches.values():
    s = d.get("gpu__time_duration.sum", 0.0)
    moved = d.get("dram__bytes_read.sum", 0.0) + d.get("dram__bytes_write.sum", 0.0)
    print(f"{d['name']:48s} grid {d['grid']:>14s} {s * 1e6:8.1f} us {moved / 1e6:8.1f} MB "
          f"{moved / s / 1e12 if s else 0:5.2f} TB/s")
    t = total[d["name"]]
    t[0] += 1; t[1] += s; t[2] += moved
print(f"gpu-kernel-report: {len(launches)} launches, totals per kernel:")
for name, (n, s, moved) in sorted(total.items(), key=lambda kv: -kv[1][1]):
    print(f"  {name:48s} {n:4d}x {s * 1e3:7.2f} ms {moved / 1e9:6.2f} GB {moved / s / 1e12:5.2f} TB/s")
PY
echo "gpu-kernel-report: done in $(( $(date +%s) - start )) s, status $status"
exit $status
