#!/usr/bin/env python3
"""cohort data parallelism vs PyTorch DDP (gloo), side by side on this host.

For each config, alternately RUNS times: cohort 1 rank x 2 threads; cohort under
`mpirun -np 2` (1 thread per rank) with allreduce, allreduce without the gradient
all-reduce (--no-comm: what communication costs), zero1, zero2 and fsdp (with the bytes
each rank sends a step); PyTorch DDP with 2
processes x 1 thread, and the same without DDP. The global batch is the same in every
row. Prints best/median tokens/s per row. Run with /usr/bin/python3 (Debian's torch).

    /usr/bin/python3 bench/compare_ddp.py [--runs 3] [--configs C,B]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {  # global batch
    "C": dict(layers=6, heads=6, dim=384, vocab=8192, batch=8, seq=256),
    "B": dict(layers=6, heads=6, dim=384, vocab=50304, batch=4, seq=256),
}
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def result_of(cmd):
    env = dict(os.environ, **MPI_ENV)
    out = subprocess.run([str(x) for x in cmd], check=True, capture_output=True, text=True,
                         env=env).stdout
    line = next(l for l in out.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--configs", default="C,B")
    ap.add_argument("--cohort", default=str(ROOT / "build/src/cohort"))
    args = ap.parse_args()
    for name in args.configs.split(","):
        c = CONFIGS[name]
        shape = ["--layers", c["layers"], "--heads", c["heads"], "--vocab", c["vocab"],
                 "--seq", c["seq"], "--steps", args.steps]
        ours = [args.cohort, "bench", "train", "--channels", c["dim"]] + shape
        mpi = ["mpirun", "--oversubscribe", "-np", 2]
        peer = [sys.executable, ROOT / "bench/peers/ddp_bench.py", "--mode", "train", "--nproc", 2,
                "--dim", c["dim"], "--threads", 1, "--batch", c["batch"] // 2] + shape
        rows = {
            "cohort 1 rank x 2 threads": ours + ["--batch", c["batch"], "--threads", 2],
            "cohort 2 ranks x 1 thread, allreduce": mpi + ours + ["--batch", c["batch"] // 2, "--threads", 1],
            "cohort 2 ranks x 1 thread, no gradient sync": mpi + ours + ["--batch", c["batch"] // 2, "--threads", 1, "--no-comm"],
            "cohort 2 ranks x 1 thread, zero1": mpi + ours + ["--batch", c["batch"] // 2, "--threads", 1, "--strategy", "zero1"],
            "cohort 2 ranks x 1 thread, zero2": mpi + ours + ["--batch", c["batch"] // 2, "--threads", 1, "--strategy", "zero2"],
            "cohort 2 ranks x 1 thread, fsdp": mpi + ours + ["--batch", c["batch"] // 2, "--threads", 1, "--strategy", "fsdp"],
            "PyTorch DDP (gloo) 2 procs x 1 thread": peer,
            "PyTorch 2 procs x 1 thread, no DDP": peer + ["--no-ddp"],
        }
        tok = {k: [] for k in rows}
        sent = {}
        for _ in range(args.runs):
            for k, cmd in rows.items():
                r = result_of(cmd)
                tok[k].append(r["tok_s_median"])
                if "bytes_sent_per_step" in r and "2 ranks" in k:
                    sent[k] = r["bytes_sent_per_step"]
        print(f"config {name}: L={c['layers']} C={c['dim']} V={c['vocab']} T={c['seq']}, "
              f"global batch {c['batch']}, {args.runs} runs")
        for k, v in tok.items():
            mb = f"  {sent[k] / 1e6:6.1f} MB sent a step per rank" if k in sent else ""
            print(f"  {k:<46} best {max(v):8.1f}  median {statistics.median(v):8.1f} tokens/s{mb}")
        print("RESULT " + json.dumps({"config": name, "tok_s": tok}))


if __name__ == "__main__":
    main()
