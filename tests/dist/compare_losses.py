#!/usr/bin/env python3
"""Checks that runs follow the reference run "solo" (1 rank x batch 12) step by step.

    compare_losses.py TMP NAME... : each TMP/NAME/metrics.jsonl has 20 training losses
    within 1e-5 relative of TMP/solo's. Exit 1 naming the first run that does not.
"""
import json, os, sys


def losses(tmp, name):
    rows = [json.loads(l) for l in open(os.path.join(tmp, name, "metrics.jsonl"))]
    return [r["loss"] for r in rows if r.get("kind") == "train"]


def main():
    tmp, names = sys.argv[1], sys.argv[2:]
    ref = losses(tmp, "solo")
    assert len(ref) == 20, ref
    for name in names:
        got = losses(tmp, name)
        assert len(got) == 20, (name, got)
        rel = max(abs(a - b) / abs(a) for a, b in zip(ref, got))
        print(f"ok: {name}: 20 losses within {rel:.2e} of 1 rank x batch 12")
        assert rel < 1e-5, f"{name}: {rel}"


if __name__ == "__main__":
    main()
