#!/usr/bin/env python3
"""Writes gpt_small.safetensors: a PyTorch twin of cohort's GPT for the reference test.

Run only to regenerate the fixture (Debian's python3-torch; never in CI):
    /usr/bin/python3 tests/reference/make_reference.py

The twin is nanoGPT's GPT-2 (pre-LN, learned positions, fused QKV with bias, GELU-tanh,
tied LM head), computed in float64 from float32 initial weights, so the fixture holds
the exact answer and the C++ test measures only cohort's own float32 error.
Tensors are written in cohort's layout: HF names, linear weights (in, out) as HF's
Conv1D stores them (nn.Linear's weight transposed), wte with V rows (cohort pads to
Vp with zeros).

Contents: param.<name> (initial weights), tokens, targets (B, T), logits (B, T, V),
loss, grad.<name> (gradient of the mean loss at the initial weights), and
train_losses (10): the loss before each of 10 steps of clip-to-1.0 + AdamW
(lr 3e-3, betas 0.9/0.95, eps 1e-8, weight decay 0.1 on 2-D weights) on the same batch.
"""
import json
import math
import struct
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

CFG = dict(vocab_size=101, context_length=32, n_layer=2, n_head=4, n_embd=64)
B, T, STEPS = 3, 17, 10
ADAMW = dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
CLIP = 1.0


class Block(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.nh = NH
        self.ln_1 = nn.LayerNorm(C)
        self.c_attn = nn.Linear(C, 3 * C)
        self.attn_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C)
        self.c_fc = nn.Linear(C, 4 * C)
        self.mlp_proj = nn.Linear(4 * C, C)

    def attention(self, x):
        Bx, Tx, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        hs = C // self.nh
        q, k, v = (t.view(Bx, Tx, self.nh, hs).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        mask = torch.tril(torch.ones(Tx, Tx, dtype=torch.bool))
        att = F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(Bx, Tx, C)
        return self.attn_proj(y)

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, vocab_size, context_length, n_layer, n_head, n_embd):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(context_length, n_embd)
        self.h = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "ln_" in name:
                nn.init.ones_(p)
            elif name.endswith("proj.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * n_layer))
            else:
                nn.init.normal_(p, std=0.02)
            # Biases and LayerNorm get small random values too, so a kernel that
            # ignored them would be caught.
            if p.dim() == 1:
                with torch.no_grad():
                    p.add_(0.05 * torch.randn_like(p))

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for blk in self.h:
            x = blk(x)
        logits = self.ln_f(x) @ self.wte.weight.T
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return logits, loss


def cohort_tensors(model, grad=False):
    """(HF name, tensor in cohort's layout) for every parameter, or for its gradient."""
    def view(p, transpose=False):
        t = p.grad if grad else p
        return t.T if transpose else t
    out = [("wte.weight", view(model.wte.weight)), ("wpe.weight", view(model.wpe.weight))]
    for l, blk in enumerate(model.h):
        p = f"h.{l}."
        out += [
            (p + "ln_1.weight", view(blk.ln_1.weight)), (p + "ln_1.bias", view(blk.ln_1.bias)),
            (p + "attn.c_attn.weight", view(blk.c_attn.weight, True)), (p + "attn.c_attn.bias", view(blk.c_attn.bias)),
            (p + "attn.c_proj.weight", view(blk.attn_proj.weight, True)), (p + "attn.c_proj.bias", view(blk.attn_proj.bias)),
            (p + "ln_2.weight", view(blk.ln_2.weight)), (p + "ln_2.bias", view(blk.ln_2.bias)),
            (p + "mlp.c_fc.weight", view(blk.c_fc.weight, True)), (p + "mlp.c_fc.bias", view(blk.c_fc.bias)),
            (p + "mlp.c_proj.weight", view(blk.mlp_proj.weight, True)), (p + "mlp.c_proj.bias", view(blk.mlp_proj.bias)),
        ]
    out += [("ln_f.weight", view(model.ln_f.weight)), ("ln_f.bias", view(model.ln_f.bias))]
    return out


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        dtype = {torch.float32: "F32", torch.float64: "F64", torch.int32: "I32"}[t.dtype]
        raw = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    torch.manual_seed(20261127)
    model = Gpt(**CFG)
    with torch.no_grad():  # float32 initial values, then exact float64 arithmetic
        for p in model.parameters():
            p.copy_(p.float())
    model = model.double()
    tokens = torch.randint(0, CFG["vocab_size"], (B, T + 1))
    idx, targets = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()

    out = {}
    for name, t in cohort_tensors(model):
        out["param." + name] = t.float()
    logits, loss = model(idx, targets)
    loss.backward()
    for name, g in cohort_tensors(model, grad=True):
        out["grad." + name] = g.float()
    out["tokens"] = idx.int()
    out["targets"] = targets.int()
    out["logits"] = logits.detach().float()
    out["loss"] = loss.detach().reshape(1)

    model.zero_grad()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": ADAMW["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=ADAMW["lr"], betas=ADAMW["betas"], eps=ADAMW["eps"])
    losses = []
    for _ in range(STEPS):
        _, l = model(idx, targets)
        losses.append(l.item())
        opt.zero_grad()
        l.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
    out["train_losses"] = torch.tensor(losses, dtype=torch.float64)

    meta = {k: str(v) for k, v in CFG.items()}
    meta.update(batch=str(B), seq=str(T), lr=str(ADAMW["lr"]), beta1="0.9", beta2="0.95",
                eps=str(ADAMW["eps"]), weight_decay=str(ADAMW["weight_decay"]), grad_clip=str(CLIP),
                torch=torch.__version__)
    path = Path(__file__).with_name("gpt_small.safetensors")
    write_safetensors(path, out, meta)
    print(f"wrote {path} ({path.stat().st_size} bytes); loss {loss.item():.6f}; "
          f"10-step losses {losses[0]:.5f} -> {losses[-1]:.5f}")


if __name__ == "__main__":
    main()
