#!/usr/bin/env python3
"""Measures, on the CPU, the error the CUDA backend's 16-bit matmuls must show on the GPT
fixture (gpt_small.safetensors), so gpt_reference_test's bf16 and fp16 tolerances rest
on a measurement rather than a guess:

    /usr/bin/python3 tests/reference/measure_half_precision_error.py

It runs make_reference.py's twin in float64 with every matmul that CudaBackend sends to
a 16-bit GEMM (the four linears of each block and the tied LM head, forward and both
backward products) taking operands rounded to bf16 or fp16, exactly as CudaBackend
rounds them; the products are then exact and summed in float64 (the GPU sums in fp32,
whose error is ~1e-7 relative, far below 16-bit rounding). Everything else (attention,
LayerNorm, softmax, AdamW) is exact here and fp32 on the GPU. fp16 backward runs with
the dynamic loss scaler's initial scale, 2^16. Prints the same measures as the C++
test: per-tensor max|got - want| / max|want| for logits and every gradient, the loss
error, and the largest error of the 10 AdamW-step losses.
"""
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import make_reference as ref  # noqa: E402


def load_fixture():
    import json
    import struct
    raw = Path(__file__).with_name("gpt_small.safetensors").read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        dtype = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32}[h["dtype"]]
        out[name] = torch.frombuffer(bytearray(raw[8 + n + a:8 + n + b]), dtype=dtype).reshape(h["shape"])
    return out


class RoundedMatmul(torch.autograd.Function):
    """a @ b with both operands rounded to `half` in forward and in both backward products."""
    half = torch.bfloat16
    grad_scale = 1.0
    # The products whose input is a LayerNorm's output (c_attn, c_fc, the LM head) store
    # that input's gradient in 16 bits for the LayerNorm's backward (Backend::
    # pass_gradient), as autocast's bf16 linears do.
    pass_ln_grads = True
    # The blocks' output projections (attn_proj, mlp_proj) write the residual branch in 16
    # bits, their bias added in 16 bits in cuBLASLt's epilogue, and the residual add widens
    # it (Backend::pass_branch), as autocast's linears output bf16.
    pass_branches = True

    @staticmethod
    def forward(ctx, a, b, round_da=False):
        ctx.save_for_backward(a, b)
        ctx.round_da = round_da
        r = RoundedMatmul.round
        return r(a) @ r(b)

    @staticmethod
    def backward(ctx, g):
        return (*RoundedMatmul.products(*ctx.saved_tensors, g, ctx.round_da)[:2], None)

    @staticmethod
    def products(a, b, g, round_da=False):
        """da, db and the rounded scaled gradient's row sum (a bias gradient, unscaled).
        round_da: da stored in 16 bits (scaled), as the GPU passes a LayerNorm's input
        gradient to its backward (Backend::pass_gradient)."""
        r = RoundedMatmul.round
        # The GPU rounds the scaled gradient (loss scaling), then unscaling is exact.
        s = RoundedMatmul.grad_scale
        gs = r(g * s)
        da = gs @ r(b).transpose(-2, -1)
        return ((r(da) if round_da else da) / s, (r(a).transpose(-2, -1) @ gs) / s,
                gs.reshape(-1, gs.shape[-1]).sum(0) / s)

    @staticmethod
    def round(x):
        return x.to(RoundedMatmul.half).to(torch.float64)


class FusedLmHead(torch.autograd.Function):
    """Training's LM head on the GPU (cuda_lm_head_loss.cu): the logits themselves are
    rounded to 16 bits before the softmax, and the backward's dlogits is stored as
    round16((softmax - onehot) * store_scale), the products then scaled by
    dloss / store_scale (store_scale: 1 for bf16, 2^10 for fp16)."""
    rows = 1  # B * T: the mean's denominator, so dL/dlogits * rows = softmax - onehot

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        r = RoundedMatmul.round
        return r(r(x) @ r(w).transpose(-2, -1))

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        r = RoundedMatmul.round
        store = 1024.0 if RoundedMatmul.half == torch.float16 else 1.0
        k = FusedLmHead.rows * store
        gs = r(g * k)
        dx = gs @ r(w)
        if RoundedMatmul.pass_ln_grads:  # stored in 16 bits at the loss scale
            s = RoundedMatmul.grad_scale
            dx = r(dx / k * s) * k / s
        return dx / k, (gs.transpose(-2, -1) @ r(x)).sum(0) / k


class RoundedOutput(torch.autograd.Function):
    """x rounded to 16 bits on the way forward; the gradient passes as it is (a stored
    output: autocast's bf16 linear output, Backend::pass_branch)."""

    @staticmethod
    def forward(ctx, x):
        return RoundedMatmul.round(x)

    @staticmethod
    def backward(ctx, g):
        return g


class RoundedMatmulBias(torch.autograd.Function):
    """RoundedMatmul plus a bias whose gradient sums the rounded output gradient: the MLP's
    fc layer on the GPU (cuda_mlp.cu), whose GELU backward writes its gradient in 16 bits
    only (PyTorch's autocast does the same); with round_da, its input gradient is stored
    in 16 bits too."""

    @staticmethod
    def forward(ctx, a, b, bias, round_da):
        ctx.save_for_backward(a, b)
        ctx.round_da = round_da
        r = RoundedMatmul.round
        return r(a) @ r(b) + bias

    @staticmethod
    def backward(ctx, g):
        return (*RoundedMatmul.products(*ctx.saved_tensors, g, ctx.round_da), None)


class RoundedLinear(torch.nn.Module):
    """Stands in for one of the twin's nn.Linear layers: the product through RoundedMatmul,
    the bias added after it in full precision, as CudaBackend adds it in fp32 (with
    rounded_bias_grad, through RoundedMatmulBias). round_da: its input is a LayerNorm's
    output, whose gradient is passed in 16 bits (when pass_ln_grads)."""

    def __init__(self, layer, rounded_bias_grad=False, round_da=False, round_out=False):
        super().__init__()
        self.weight, self.bias = layer.weight, layer.bias  # the same parameters
        self.rounded_bias_grad = rounded_bias_grad
        self.round_da = round_da
        self.round_out = round_out

    def forward(self, x):
        round_da = self.round_da and RoundedMatmul.pass_ln_grads
        if self.rounded_bias_grad:
            return RoundedMatmulBias.apply(x, self.weight.T, self.bias, round_da)
        if self.round_out and RoundedMatmul.pass_branches:
            return RoundedOutput.apply(RoundedMatmul.apply(x, self.weight.T, round_da) +
                                       RoundedOutput.apply(self.bias))
        return RoundedMatmul.apply(x, self.weight.T, round_da) + self.bias


def patch_model(model, fused_head):
    for blk in model.h:
        for name in ("c_attn", "attn_proj", "c_fc", "mlp_proj"):
            setattr(blk, name, RoundedLinear(getattr(blk, name), rounded_bias_grad=name == "c_fc",
                                             round_da=name in ("c_attn", "c_fc"),
                                             round_out=name in ("attn_proj", "mlp_proj")))

    def gpt_forward(idx, targets):  # the tied LM head is a matmul too
        x = model.wte(idx) + model.wpe(torch.arange(idx.shape[1]))
        for blk in model.h:
            x = blk(x)
        if fused_head:
            FusedLmHead.rows = idx.numel()
            logits = FusedLmHead.apply(model.ln_f(x), model.wte.weight)
        else:
            logits = RoundedMatmul.apply(model.ln_f(x), model.wte.weight.T,
                                         RoundedMatmul.pass_ln_grads)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 targets.reshape(-1))
        return logits, loss
    model.forward = gpt_forward


def rel(got, want):
    return ((got.double() - want.double()).abs().max() / want.double().abs().max()).item()


def measure(half, grad_scale, fused_head=False):
    RoundedMatmul.half, RoundedMatmul.grad_scale = half, grad_scale
    f = load_fixture()
    model = ref.Gpt(**ref.CFG).double()
    with torch.no_grad():
        for name, p in ref.cohort_tensors(model):
            p.copy_(f["param." + name].double())
    patch_model(model, fused_head)
    idx, targets = f["tokens"].long(), f["targets"].long()
    logits, loss = model(idx, targets)
    loss.backward()
    grad_err = max(rel(g, f["grad." + name]) for name, g in ref.cohort_tensors(model, grad=True))
    worst = max(((rel(g, f["grad." + name]), name) for name, g in ref.cohort_tensors(model, grad=True)))
    model.zero_grad()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": ref.ADAMW["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=ref.ADAMW["lr"], betas=ref.ADAMW["betas"], eps=ref.ADAMW["eps"])
    step_err = 0.0
    for s in range(ref.STEPS):
        _, l = model(idx, targets)
        step_err = max(step_err, abs(l.item() - f["train_losses"][s].item()))
        opt.zero_grad()
        l.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), ref.CLIP)
        opt.step()
    head = "fused LM head, 16-bit logits" if fused_head else "separate LM head"
    print(f"{str(half).split('.')[-1]:9s} (grad scale {grad_scale:g}, {head}): logits {rel(logits.detach(), f['logits']):.2e}, "
          f"loss {abs(loss.item() - f['loss'].item()):.2e}, gradients max {grad_err:.2e} "
          f"({worst[1]}), 10-step losses max {step_err:.2e}")


if __name__ == "__main__":
    torch.manual_seed(0)
    RoundedMatmul.pass_branches = "--fp32-branches" not in sys.argv[1:]
    print("residual branches:", "16-bit" if RoundedMatmul.pass_branches else "fp32")
    for fused in (False, True):
        measure(torch.bfloat16, 1.0, fused)
        measure(torch.float16, 65536.0, fused)
        measure(torch.float16, 1.0, fused)
