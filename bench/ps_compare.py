#!/usr/bin/env python3
"""Parameter server vs all-reduce on the Brown demo model, same token budget.

Each run trains configs/demo.toml's model (L2 C128, word-level Brown) for --steps steps of
a global batch of 16 x 64 tokens on 2 workers (8 sequences each, 1 thread per rank) and
scores the whole validation split at the end. Runs: all-reduce on 2 ranks; the
parameter server with 1 and 2 servers, synchronous and asynchronous (staleness 1, 4);
then sync vs async s=4 with stragglers (each worker in turn sleeps --stall-ms before
some steps). Prints tokens/s, validation loss, bytes per server per step, staleness.

    /usr/bin/python3 bench/ps_compare.py --steps 400
"""
import argparse, json, os, re, shutil, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--cohort", default="build/src/cohort")
ap.add_argument("--steps", type=int, default=400)
ap.add_argument("--stall-ms", type=int, default=600)
ap.add_argument("--out", default="runs/ps-compare")
ap.add_argument("--only", default="", help="comma-separated run names")
args = ap.parse_args()

env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
common = ["--config", "configs/demo.toml", "--steps", str(args.steps), "--batch-size", "8",
          "--threads", "1", "--set", "eval_every=0", "--set", f"train.warmup={args.steps // 10}"]
stalls = []
for i, step in enumerate(range(args.steps // 8, args.steps, args.steps // 8)):
    stalls += ["--test-slow-worker", f"{i % 2}:{step}:{args.stall_ms}"]

runs = [("allreduce", 2, [])]
for servers in (1, 2):
    for s in (0, 1, 4):
        runs.append((f"ps{servers}-{'sync' if s == 0 else f'async-s{s}'}", 2 + servers,
                     ["--ps-servers", str(servers), "--staleness", str(s)]))
runs.append(("allreduce-stragglers", 2, stalls))
runs.append(("ps1-sync-stragglers", 3, ["--ps-servers", "1"] + stalls))
runs.append(("ps1-async-s4-stragglers", 3, ["--ps-servers", "1", "--staleness", "4"] + stalls))
if args.only:
    runs = [r for r in runs if r[0] in args.only.split(",")]

rows = []
for name, np_, extra in runs:
    run_dir = os.path.join(args.out, name)
    shutil.rmtree(run_dir, ignore_errors=True)
    cmd = ["mpirun", "--oversubscribe", "-np", str(np_), args.cohort, "train", *common,
           "--run-dir", run_dir, *extra]
    t0 = time.time()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        print(f"{name}: failed ({p.returncode})\n{p.stderr[-2000:]}", file=sys.stderr)
        continue
    metrics = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    train = [m for m in metrics if m["kind"] == "train"]
    val = [m["val_loss"] for m in metrics if m["kind"] == "eval"][-1]
    train_s = sum(m["seconds"] for m in train)
    tokens = len(train) * 16 * 64
    servers = re.findall(r"server rank \d+: .*?staleness mean ([0-9.]+) max (\d+).*?"
                         r"per step: ([0-9.]+) MB in, ([0-9.]+) MB out", p.stdout)
    rows.append(dict(name=name, ranks=np_, tok_s=tokens / train_s, train_s=train_s, wall=wall,
                     val_loss=val, servers=servers))
    srv = "; ".join(f"{a} MB in {b} MB out" for _, _, a, b in servers)
    stale = ", ".join(f"mean {m} max {x}" for m, x, _, _ in servers[:1])
    print(f"{name:26s} ranks {np_} | {tokens / train_s:7.0f} tok/s | train {train_s:6.1f} s | "
          f"val_loss {val:.4f} | per server per step: {srv or '-'} | staleness {stale or '-'}",
          flush=True)
print("RESULT " + json.dumps(rows))
