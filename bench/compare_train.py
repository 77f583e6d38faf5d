#!/usr/bin/env python3
"""cohort vs PyTorch, side by side: training-step throughput on the same shapes.

For each config, runs `cohort bench train` and bench/peers/gpt_bench.py alternately,
RUNS times each, same threads, and prints best/median tokens/s of each and the ratio
of medians. Needs Debian's python3-torch and libopenblas0-openmp for the peer
(`apt-get install python3-torch libopenblas0-openmp`); run with /usr/bin/python3.

    /usr/bin/python3 bench/compare_train.py [--runs 3] [--threads 2] [--configs A,C]
"""
import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {
    "A": dict(layers=12, heads=12, dim=768, vocab=50257, batch=4, seq=64),   # GPT-2 124M
    "B": dict(layers=6, heads=6, dim=384, vocab=50304, batch=4, seq=256),
    "C": dict(layers=6, heads=6, dim=384, vocab=8192, batch=8, seq=256),
}


def result_of(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--configs", default="A,C")
    ap.add_argument("--cohort", default=str(ROOT / "build/src/cohort"))
    args = ap.parse_args()
    rows = []
    for name in args.configs.split(","):
        c = CONFIGS[name]
        ours = [
            args.cohort, "bench", "train", "--layers", c["layers"], "--heads", c["heads"],
            "--channels", c["dim"], "--vocab", c["vocab"], "--batch", c["batch"], "--seq", c["seq"],
            "--threads", args.threads, "--steps", args.steps,
        ]
        peer = [
            sys.executable, str(ROOT / "bench/peers/gpt_bench.py"), "--layers", c["layers"],
            "--heads", c["heads"], "--dim", c["dim"], "--vocab", c["vocab"], "--batch", c["batch"],
            "--seq", c["seq"], "--threads", args.threads, "--steps", args.steps,
        ]
        tok = {"cohort": [], "pytorch": []}
        gflops = {"cohort": [], "pytorch": []}
        for _ in range(args.runs):
            for who, cmd in (("cohort", ours), ("pytorch", peer)):
                r = result_of([str(x) for x in cmd])
                tok[who].append(r["tok_s_median"])
                gflops[who].append(r["gflops_median"])
        for who in ("cohort", "pytorch"):
            print(f"{name} {who:8s} tokens/s best {max(tok[who]):8.1f} median {statistics.median(tok[who]):8.1f}"
                  f" | GFLOP/s median {statistics.median(gflops[who]):6.1f}   runs: {[round(x, 1) for x in tok[who]]}")
        ratio = statistics.median(tok["cohort"]) / statistics.median(tok["pytorch"])
        print(f"{name} ratio cohort/pytorch (median tokens/s): {ratio:.2f}x")
        rows.append((name, ratio))
        sys.stdout.flush()
    print("RESULT " + json.dumps({n: r for n, r in rows}))


if __name__ == "__main__":
    main()
