#!/usr/bin/env python3
"""The encoder (masked LM) and the encoder-decoder (translation), side by side: training
samples/s of `cohort train` at configs/brown-genre-mlm.toml's and
configs/brown-translate.toml's shapes on their Brown datasets, against
bench/peers/task_bench.py (PyTorch, the same shapes and per-batch lengths) and, with --baseline,
another cohort binary in the same rotation. Each run's figure is the median of its steps'
times after the first three (metrics.jsonl's `seconds`).

    /usr/bin/python3 bench/compare_tasks.py [--runs 3] [--steps 20] [--baseline OLD_COHORT]

Needs data/brown-genre and data/brown-en-es (scripts/brown-tasks.sh makes them; the
translation set may be smaller: `cohort prepare translation --max-sentences 6000`).
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASKS = {"mlm": ("configs/brown-genre-mlm.toml", "data/brown-genre"),
         "translate": ("configs/brown-translate.toml", "data/brown-en-es")}


def cohort_samples_s(binary, config, data, steps, threads):
    with tempfile.TemporaryDirectory() as run:
        subprocess.run([binary, "train", "-c", str(ROOT / config), "--data", str(ROOT / data),
                        "--steps", str(steps), "--threads", str(threads), "--run-dir", run,
                        "--set", "eval_every=0", "--set", "checkpoint_every=0"],
                       check=True, capture_output=True, text=True)
        rows = [json.loads(l) for l in open(Path(run) / "metrics.jsonl")]
    seconds = [r["seconds"] for r in rows if r["kind"] == "train"][3:]
    batch = int(next(l.split("=")[1] for l in open(ROOT / config) if l.startswith("batch_size")))
    return batch / statistics.median(seconds)


def peer_samples_s(task, vocab, data, steps, threads):
    out = subprocess.run([sys.executable, str(ROOT / "bench/peers/task_bench.py"), "--task", task,
                          "--vocab", str(vocab), "--data", str(ROOT / data), "--steps", str(steps),
                          "--threads", str(threads)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(next(l for l in out.splitlines() if l.startswith("RESULT "))[7:])[
        "samples_s_median"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tasks", default="mlm,translate")
    ap.add_argument("--cohort", default=str(ROOT / "build/src/cohort"))
    ap.add_argument("--baseline", help="another cohort binary, timed in the same rotation")
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    result = {}
    for task in args.tasks.split(","):
        config, data = TASKS[task]
        vocab = json.load(open(ROOT / data / "tokenizer/task.json"))["vocab_size"]
        who = {"cohort": lambda: cohort_samples_s(args.cohort, config, data, args.steps, args.threads)}
        if args.baseline:
            who["baseline"] = lambda: cohort_samples_s(args.baseline, config, data, args.steps,
                                                       args.threads)
        if not args.no_peer:
            who["pytorch"] = lambda: peer_samples_s(task, vocab, data, args.steps, args.threads)
        runs = {name: [] for name in who}
        for _ in range(args.runs):
            for name, run in who.items():
                runs[name].append(run())
        for name, xs in runs.items():
            print(f"{task} {name:8s} samples/s best {max(xs):7.1f} median {statistics.median(xs):7.1f}"
                  f"   runs: {[round(x, 1) for x in xs]}")
        result[task] = {}
        for name in list(who)[1:]:
            r = statistics.median(runs["cohort"]) / statistics.median(runs[name])
            result[task][name] = r
            print(f"{task} ratio cohort/{name} (median samples/s): {r:.3f}x")
        sys.stdout.flush()
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
