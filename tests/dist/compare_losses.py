#!/usr/bin/env python3
"""Checks that runs follow the reference run "solo" (1 rank x batch 12) step by step.

    compare_losses.py [--tol T] TMP NAME... : each TMP/NAME/metrics.jsonl has 20 training
    losses within T relative of TMP/solo's (default 1e-5), and 20 global gradient norms (the
    norm clipping uses) within 1e-5: gradients summed over ranks in another order differ in
    fp32's last bits (2e-6 here), while a norm over one rank's shard alone would be off by
    tens of percent. Exit 1 naming the first run that does not.
"""
import json, os, sys


def column(tmp, name, key):
    rows = [json.loads(l) for l in open(os.path.join(tmp, name, "metrics.jsonl"))]
    return [r[key] for r in rows if r.get("kind") == "train"]


def losses(tmp, name):
    return column(tmp, name, "loss")


def main():
    args = sys.argv[1:]
    tol = 1e-5
    if args[0] == "--tol":
        tol, args = float(args[1]), args[2:]
    tmp, names = args[0], args[1:]
    ref = losses(tmp, "solo")
    ref_norm = column(tmp, "solo", "grad_norm")
    assert len(ref) == 20, ref
    for name in names:
        got, norm = losses(tmp, name), column(tmp, name, "grad_norm")
        assert len(got) == 20 and len(norm) == 20, (name, got)
        rel = max(abs(a - b) / abs(a) for a, b in zip(ref, got))
        rel_norm = max(abs(a - b) / abs(a) for a, b in zip(ref_norm, norm))
        print(f"ok: {name}: 20 losses within {rel:.2e}, gradient norms within {rel_norm:.2e} "
              f"of 1 rank x batch 12")
        assert rel < tol, f"{name}: losses {rel}"
        assert rel_norm < 1e-5, f"{name}: gradient norms {rel_norm}"


if __name__ == "__main__":
    main()
