#!/usr/bin/env python3
"""cohort vs PyTorch, side by side: training-step throughput on the same shapes.

For each config, runs `cohort bench train` and bench/peers/gpt_bench.py alternately,
RUNS times each, same threads, and prints best/median tokens/s of each and the ratio
of medians. Needs Debian's python3-torch and libopenblas0-openmp for the peer
(`apt-get install python3-torch libopenblas0-openmp`); run with /usr/bin/python3.

    /usr/bin/python3 bench/compare_train.py [--runs 3] [--threads 2] [--configs A,C]

With --baseline PATH a second cohort binary (say, the commit before a refactor) runs in
the same rotation, and each config also prints the ratio cohort/baseline; --no-peer
leaves PyTorch out. --via-train times `cohort train --synthetic` at the config's shape
instead of `cohort bench train` (the median of metrics.jsonl's step seconds after the
first three): the same step for binaries whose `bench train` loops differ.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {
    "A": dict(layers=12, heads=12, dim=768, vocab=50257, batch=4, seq=64),   # GPT-2 124M
    "B": dict(layers=6, heads=6, dim=384, vocab=50304, batch=4, seq=256),
    "C": dict(layers=6, heads=6, dim=384, vocab=8192, batch=8, seq=256),
}


def result_of(cmd):
    """The RESULT json of a run, with the process's peak RSS (MB) from /usr/bin/time."""
    p = subprocess.run(["/usr/bin/time", "-f", "PEAK_RSS_KB %M"] + cmd, check=True,
                       capture_output=True, text=True)
    line = next(l for l in p.stdout.splitlines() if l.startswith("RESULT "))
    r = json.loads(line[len("RESULT "):])
    rss = [l for l in p.stderr.splitlines() if l.startswith("PEAK_RSS_KB ")]
    r["process_peak_rss_mb"] = int(rss[-1].split()[1]) * 1024 / 1e6 if rss else float("nan")
    return r


def train_result_of(cmd):
    """`cohort train --synthetic`'s tokens/s: cmd is the bench train command line."""
    binary, flags = cmd[0], dict(zip(cmd[3::2], cmd[4::2]))
    with tempfile.TemporaryDirectory() as run:
        subprocess.run([binary, "train", "--synthetic", "--run-dir", run,
                        "--set", f"model.n_layer={flags['--layers']}",
                        "--set", f"model.n_head={flags['--heads']}",
                        "--set", f"model.n_embd={flags['--channels']}",
                        "--set", f"model.vocab_size={flags['--vocab']}",
                        "--set", f"model.context_length={flags['--seq']}",
                        "--batch-size", flags["--batch"], "--seq-len", flags["--seq"],
                        "--threads", flags["--threads"], "--steps", str(int(flags["--steps"]) + 3),
                        "--set", "eval_every=0", "--set", "checkpoint_every=0"],
                       check=True, capture_output=True, text=True)
        rows = [json.loads(l) for l in open(Path(run) / "metrics.jsonl")]
    secs = statistics.median([r["seconds"] for r in rows if r["kind"] == "train"][3:])
    tokens = int(flags["--batch"]) * int(flags["--seq"])
    return {"tok_s_median": tokens / secs, "gflops_median": float("nan"),
            "process_peak_rss_mb": float("nan"), "activation_mb": float("nan")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--configs", default="A,C")
    ap.add_argument("--cohort", default=str(ROOT / "build/src/cohort"))
    ap.add_argument("--baseline", help="another cohort binary, timed in the same rotation")
    ap.add_argument("--no-peer", action="store_true", help="leave PyTorch out")
    ap.add_argument("--via-train", action="store_true",
                    help="time cohort train --synthetic instead of cohort bench train")
    args = ap.parse_args()
    rows = []
    def sgemm_1024():
        out = subprocess.run([args.cohort, "bench", "gemm", "--threads", str(args.threads),
                              "--reps", "5"], check=True, capture_output=True, text=True).stdout
        r = json.loads(next(l for l in out.splitlines() if l.startswith("RESULT "))[7:])
        return next(g["gflops_median"] for g in r["gemm"] if g["shape"] == "1024^3")
    sgemm = [sgemm_1024()]
    print(f"sgemm 1024^3 on {args.threads} threads: {sgemm[0]:.1f} GFLOP/s (median of 5)")
    model_gflops = {}
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
        contenders = [("cohort", ours)]
        if args.baseline:
            contenders.append(("baseline", [args.baseline] + ours[1:]))
        if not args.no_peer:
            contenders.append(("pytorch", peer))
        names = [who for who, _ in contenders]
        tok = {who: [] for who in names}
        gflops = {who: [] for who in names}
        rss = {who: [] for who in names}
        activations = []
        for _ in range(args.runs):
            for who, cmd in contenders:
                cmd = [str(x) for x in cmd]
                r = train_result_of(cmd) if args.via_train and who != "pytorch" else result_of(cmd)
                tok[who].append(r["tok_s_median"])
                gflops[who].append(r["gflops_median"])
                rss[who].append(r["process_peak_rss_mb"])
                if who == "cohort":
                    activations.append(r.get("activation_mb", float("nan")))
        for who in names:
            print(f"{name} {who:8s} tokens/s best {max(tok[who]):8.1f} median {statistics.median(tok[who]):8.1f}"
                  f" | GFLOP/s median {statistics.median(gflops[who]):6.1f}   runs: {[round(x, 1) for x in tok[who]]}")
        model_gflops[name] = statistics.median(gflops["cohort"])
        ratios = {}
        for other in names[1:]:
            ratios[other] = statistics.median(tok["cohort"]) / statistics.median(tok[other])
            print(f"{name} ratio cohort/{other} (median tokens/s): {ratios[other]:.3f}x")
        print(f"{name} memory: peak RSS " + " | ".join(
            f"{who} {statistics.median(rss[who]):.0f} MB" for who in names) +
            f" (cohort's activations planned: {activations[0]:.0f} MB)")
        rows.append((name, ratios))
        sys.stdout.flush()
    sgemm.append(sgemm_1024())
    limit = statistics.median(sgemm)
    print(f"sgemm 1024^3 again: {sgemm[1]:.1f} GFLOP/s")
    for name, g in model_gflops.items():
        print(f"{name} model FLOP/s: {g:.1f} GFLOP/s = {100 * g / limit:.0f}% of sgemm 1024^3 "
              f"({limit:.1f}, the mean of the two measurements)")
    print("RESULT " + json.dumps({n: r for n, r in rows}))


if __name__ == "__main__":
    main()
