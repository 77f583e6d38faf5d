#!/usr/bin/env python3
"""PyTorch 2's GPT-2 124M training step on one CUDA GPU: the peer the CUDA backend is
measured against (issue 8). bf16 autocast with fp32 master weights, fused AdamW,
F.scaled_dot_product_attention (flash), torch.compile when it works (--compile auto).
Prints tokens/s and MFU against the GPU's dense bf16 peak (H100/H200 SXM: 989 TFLOP/s),
with flops/token = 6 N + 12 L C T (nanoGPT's estimate, N without the position table).

    python3 bench/gpu/gpt2_torch.py --batch 16 --seq 1024 --steps 10
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from kernel_category import kernel_category


class Block(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.nh = NH
        self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.nh, C // self.nh).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, V=50304, maxT=1024, L=12, NH=12, C=768):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(maxT, C)
        self.h = nn.ModuleList(Block(C, NH) for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        # GPT-2's initialization, as cohort's Model::init_weights: N(0, 0.02) weights and
        # embeddings, the residual projections' scaled by 1 / sqrt(2 L), zero biases.
        for name, p in self.named_parameters():
            if name.endswith(".bias"):
                nn.init.zeros_(p)
            elif p.dim() > 1:
                std = 0.02 / math.sqrt(2 * L) if "proj" in name else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for b in self.h:
            x = b(x)
        logits = self.ln_f(x) @ self.wte.weight.T
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.view(-1))


def compare_with_fp32(model, idx, tgt):
    """The first step's loss and gradients under bf16 autocast against fp32's (no TF32), on
    the same weights and batch, in the format of cohort's --compare-fp32."""
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    grads = []
    for autocast in (False, True):
        model.zero_grad(set_to_none=True)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=autocast):
            loss = model(idx, tgt)
        loss.backward()
        grads.append((loss.item(), {n: p.grad.double() for n, p in model.named_parameters()}))
    model.zero_grad(set_to_none=True)
    torch.backends.cuda.matmul.allow_tf32 = tf32
    (want_loss, want), (loss, got) = grads
    def rel(names):
        diff = sum(float((got[n] - want[n]).pow(2).sum()) for n in names)
        norm = sum(float(want[n].pow(2).sum()) for n in names)
        return math.sqrt(diff / norm) if norm > 0 else math.sqrt(diff)
    errors = sorted(((rel([n]), n) for n in want), reverse=True)[:5]
    total = sum(g.numel() for g in want.values())
    print(f"gradients vs fp32 (pytorch autocast bf16, same weights and batch): loss {loss:.6f} vs "
          f"{want_loss:.6f}; relative L2 error {rel(list(want)):.3e} over all {total} parameters; "
          "worst tensors: " + ", ".join(f"{n} {e:.3e}" for e, n in errors))


def profile_step(step, steps=2):
    """Where one step's GPU time goes, kernel by kernel (torch.profiler, CUDA activity): the
    per-category totals and the heaviest kernels, per step, to set beside cohort's ncu
    table in the same run."""
    from torch.profiler import ProfilerActivity, profile
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    total, count = {}, {}
    for e in prof.events():
        if str(getattr(e, "device_type", "")).endswith("CUDA") and e.time_range.elapsed_us() > 0:
            total[e.name] = total.get(e.name, 0.0) + e.time_range.elapsed_us() / steps
            count[e.name] = count.get(e.name, 0) + 1
    s = sum(total.values())
    if s <= 0:
        print("pytorch profile: no CUDA kernel events")
        return
    cats = {}
    for name, t in total.items():
        cats[kernel_category(name)] = cats.get(kernel_category(name), 0.0) + t
    print(f"pytorch profile: {s / 1e3:.2f} ms of kernel time a step; " + ", ".join(
        f"{c} {t / 1e3:.2f} ms" for c, t in sorted(cats.items(), key=lambda x: -x[1])))
    for name, t in sorted(total.items(), key=lambda x: -x[1])[:30]:
        print(f"  {100 * t / s:5.1f}%  {t / 1e3:7.3f} ms  {count[name] // steps:4d}x  "
              f"[{kernel_category(name)}] {name[:90]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--compile", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU")
    ap.add_argument("--compare-fp32", action="store_true",
                    help="first print how far autocast's gradients are from fp32's (relative L2)")
    ap.add_argument("--profile", action="store_true",
                    help="then print where two more steps' GPU time went, kernel by kernel")
    a = ap.parse_args()
    torch.manual_seed(0)
    dev = "cuda"
    model = Gpt().to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1,
                            fused=True)
    step_model = model
    compiled = False
    if a.compile != "off":
        try:
            step_model = torch.compile(model)
            compiled = True
        except Exception as e:  # noqa: BLE001 - report and go on uncompiled
            print(f"torch.compile unavailable: {e}")
            if a.compile == "on":
                raise
    x = torch.randint(0, 50257, (a.batch, a.seq + 1), device=dev)
    idx, tgt = x[:, :-1].contiguous(), x[:, 1:].contiguous()

    if a.compare_fp32:
        compare_with_fp32(model, idx, tgt)

    def step():
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            loss = step_model(idx, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    try:
        first_loss = step().item()  # torch.compile compiles here, so its failures show here
    except Exception as e:  # noqa: BLE001 - report and go on uncompiled
        if not compiled or a.compile == "on":
            raise
        print(f"torch.compile failed, running eagerly: {type(e).__name__}: {e}"[:400])
        step_model, compiled = model, False
        opt.zero_grad(set_to_none=True)
        first_loss = step().item()
    for _ in range(2):  # warm-up
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        last_loss = step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    n = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    flops_per_token = 6 * n + 12 * 12 * 768 * a.seq
    best = min(times)
    tok_s = a.batch * a.seq / best
    mfu = tok_s * flops_per_token / (a.peak_tflops * 1e12)
    print(f"pytorch {torch.__version__} {torch.cuda.get_device_name()}: GPT-2 124M bf16 B={a.batch} "
          f"T={a.seq} compile={compiled}: {tok_s:,.0f} tok/s (best of {a.steps}; median "
          f"{a.batch * a.seq / sorted(times)[len(times) // 2]:,.0f}), MFU {100 * mfu:.1f}%; "
          f"loss {first_loss:.4f} -> {last_loss.item():.4f} after {3 + a.steps} steps")
    print("RESULT " + json.dumps({"tokens_per_s": tok_s, "mfu": mfu, "compile": compiled,
                                  "device": torch.cuda.get_device_name(), "torch": torch.__version__}))
    if a.profile:
        try:
            profile_step(step)
        except Exception as e:  # noqa: BLE001 - the figures above stand without it
            print(f"pytorch profile unavailable: {type(e).__name__}: {e}"[:300])


if __name__ == "__main__":
    main()
