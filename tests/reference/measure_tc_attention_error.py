#!/usr/bin/env python3
"""The error the tensor-core attention (src/backend/cuda/cuda_flash_attention_tc.cu) should
show against exact attention, emulated on the CPU: q, k, v, dO, P and dS rounded to bf16 or
fp16, fp32 sums (the scores times scale * log2(e) in fp32: the kernels' softmax runs in
base 2), the forward's online softmax over 64-key tiles. Random N(0, 1)
inputs at T = 150, HS = 64, as tests/backend/cuda_ops_test.cc; prints, per tensor, the
worst of four draws of max |got - exact| / max |exact|. The test's bounds are about 3x these.

    /usr/bin/python3 tests/reference/measure_tc_attention_error.py
"""
import numpy as np
def bf16(x):
    x = np.asarray(x, np.float32); u = x.view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)
def fp16(x): return np.asarray(x, np.float32).astype(np.float16).astype(np.float32)
rng = np.random.default_rng(4321)
T, HS = 150, 64
sc = 1/np.sqrt(HS)
for name, rd in (("bf16", bf16), ("fp16", fp16)):
  errs = {}
  for trial in range(4):
    q, k, v, do = (rng.standard_normal((T, HS)).astype(np.float32) for _ in range(4))
    mask = np.tril(np.ones((T, T), bool))
    # exact (float64)
    S = (q.astype(np.float64) * sc) @ k.T.astype(np.float64); S[~mask] = -np.inf
    P = np.exp(S - S.max(1, keepdims=True)); P /= P.sum(1, keepdims=True)
    O = P @ v; dP = do @ v.T; D = (do * O).sum(1, keepdims=True); dS = P * (dP - D)
    dq = dS @ k * sc; dk = dS.T @ (q * sc); dv = P.T @ do
    # emulated: 16-bit operands, fp32 sums, tile-online forward (64-key tiles)
    qs, ks, vs, dos = rd(q), rd(k), rd(v), rd(do)
    Se = (qs @ ks.T).astype(np.float32) * np.float32(sc); Se[~mask] = -np.inf  # natural units
    m = np.full((T, 1), -np.inf, np.float32); l = np.zeros((T, 1), np.float32); acc = np.zeros((T, HS), np.float32)
    for j0 in range(0, T, 64):
        blk = Se[:, j0:j0+64]
        mn = np.maximum(m, blk.max(1, keepdims=True))
        mn_safe = np.where(np.isinf(mn), 0, mn)
        corr = np.exp(np.where(np.isinf(m), -np.inf, m - mn_safe)); p = np.exp(blk - mn_safe)
        l = l * corr + p.sum(1, keepdims=True); acc = acc * corr + rd(p) @ vs[j0:j0+64]; m = mn
    Oe = acc / l; lse = m + np.log(l)
    De = (do * Oe).sum(1, keepdims=True)
    Pe = np.exp(Se - lse); Pe[~mask] = 0
    dPe = dos @ vs.T; dSe = rd(Pe * (dPe - De))
    dqe = dSe @ ks * sc; dke = dSe.T @ qs * sc; dve = rd(Pe).T @ dos
    for key, got, want in (("out", Oe, O), ("dq", dqe, dq), ("dk", dke, dk), ("dv", dve, dv)):
        e = np.abs(got - want).max() / np.abs(want).max()
        errs[key] = max(errs.get(key, 0), e)
  print(name, {k: f"{v:.2e}" for k, v in errs.items()})
