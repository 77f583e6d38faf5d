#!/usr/bin/env python3
"""The memory planner (train/memory_plan.h) against the process it plans: for four runs
(a small GPT, the same with recompute = block, a wider one, and the wider one under fsdp
on 2 ranks), the plan's total printed at start-up is within 10% of the run's peak RSS
(its own, from wait4; under mpirun the larger rank's, as wait4 reports mpirun's children); a run over
--memory-limit is refused with exit 2 and one line naming the largest term, before any
run directory is made; cohort plan prints every term.

    memory_plan_test.py COHORT
"""
import os
import re
import subprocess
import sys
import tempfile

cohort = sys.argv[1]
failures = []


MPI = ["mpirun", "--oversubscribe", "-np", "2"]
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def run(args, launcher=()):
    """(exit code, stdout + stderr, peak RSS in MB) of one cohort run."""
    with tempfile.TemporaryFile(mode="w+") as out:
        p = subprocess.Popen([*launcher, cohort, *args], stdout=out, stderr=subprocess.STDOUT,
                             env=dict(os.environ, OMP_NUM_THREADS="2", **MPI_ENV))
        _, status, usage = os.wait4(p.pid, 0)
        out.seek(0)
        return os.waitstatus_to_exitcode(status), out.read(), usage.ru_maxrss * 1024 / 1e6


def model(layers, dim, heads, vocab, batch, seq):
    return ["--synthetic", "--set", f"model.n_layer={layers}", "--set", f"model.n_embd={dim}",
            "--set", f"model.n_head={heads}", "--set", f"model.vocab_size={vocab}",
            "--set", f"model.context_length={seq}", "--set", f"train.batch_size={batch}",
            "--set", f"train.seq_len={seq}", "--threads", "2"]


small = model(4, 256, 4, 8192, 8, 128)
wide = model(6, 512, 8, 16384, 4, 256)
for name, args, launcher in [
        ("small", small, ()), ("small, recompute block", small + ["--recompute", "block"], ()),
        ("wide", wide, ()),
        ("wide, fsdp on 2 ranks", wide[:-2] + ["--threads", "1", "--strategy", "fsdp"], MPI)]:
    with tempfile.TemporaryDirectory() as d:
        rc, text, rss = run(["train", *args, "--steps", "3", "--run-dir", d + "/run"], launcher)
    m = re.search(r"memory plan per rank.*: ([0-9.]+) MB total", text)
    if rc != 0 or not m:
        failures.append(f"{name}: exit {rc} or no plan line:\n{text[-2000:]}")
        continue
    plan = float(m.group(1))
    error = (plan - rss) / rss
    print(f"{name}: plan {plan:.1f} MB, peak RSS {rss:.1f} MB, error {100 * error:+.1f}%")
    if abs(error) > 0.10:
        failures.append(f"{name}: plan {plan:.1f} MB is {100 * error:+.1f}% off peak RSS {rss:.1f} MB")

with tempfile.TemporaryDirectory() as d:
    rc, text, _ = run(["train", *wide, "--steps", "3", "--run-dir", d + "/run",
                       "--memory-limit", "150M"])
    refused = [l for l in text.splitlines() if l.startswith("cohort: error: memory plan:")]
    if rc != 2 or len(refused) != 1 or "the largest term is" not in refused[0]:
        failures.append(f"over --memory-limit: exit {rc}, expected 2 and one line:\n{text}")
    elif os.path.exists(d + "/run"):
        failures.append("over --memory-limit: the run directory was made before the refusal")
    else:
        print("refused:", refused[0])

rc, text, _ = run(["plan", *small, "--world", "4", "--strategy", "zero1"])
terms = ["parameters", "gradients", "optimizer (AdamW)", "activations", "communication buffers",
         "process", "total", "zero1 on 4 ranks"]
missing = [t for t in terms if t not in text]
if rc != 0 or missing:
    failures.append(f"cohort plan: exit {rc}, missing {missing}:\n{text}")
else:
    print(text.strip())

for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
