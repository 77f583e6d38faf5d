#!/usr/bin/env python3
"""Writes encoder_small.safetensors and seq2seq_small.safetensors: PyTorch twins of
cohort's encoder (BERT-style) and encoder-decoder for the reference tests.

Run only to regenerate the fixtures (Debian's python3-torch; never in CI):
    /usr/bin/python3 tests/reference/make_transformer_references.py

The twins are built from PyTorch's own nn.TransformerEncoderLayer and
nn.TransformerDecoderLayer (norm_first=True, GELU-tanh, dropout 0), with
key_padding_mask / memory_key_padding_mask for padding and a causal tgt_mask, computed
in float64 from float32 initial weights. Parameters are written under cohort's names
(see src/model/model_layout.cc): nn.MultiheadAttention's in_proj_weight (3C, C)
becomes attn.c_attn.weight (C, 3C); a decoder's cross-attention in_proj splits into
xattn.q (its first C rows) and xattn.kv (the other 2C), transposed.

Losses are cohort's: a sample's loss is the mean over its scored positions (masked
tokens; target tokens), the batch loss the mean over samples.
"""
import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from make_reference import write_safetensors

ENC = dict(vocab_size=61, context_length=16, n_layer=2, n_head=4, n_embd=32, n_classes=5)
S2S = dict(vocab_size=53, context_length=16, n_layer=2, n_decoder_layer=2, n_head=4, n_embd=32)
SMOOTHING = 0.1


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


def init_like_cohort(module, n_blocks):
    for name, p in module.named_parameters():
        with torch.no_grad():
            if p.dim() == 1:
                p.copy_(1.0 if "norm" in name or name.startswith("ln") else 0.0)
                p.add_(0.05 * torch.randn_like(p))  # so a kernel that ignored them is caught
            elif "out_proj" in name or "linear2" in name:
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * n_blocks))
            else:
                nn.init.normal_(p, std=0.02)


def enc_layer(C, NH):
    return nn.TransformerEncoderLayer(C, NH, 4 * C, dropout=0.0, activation=gelu_tanh,
                                      batch_first=True, norm_first=True)


def dec_layer(C, NH):
    return nn.TransformerDecoderLayer(C, NH, 4 * C, dropout=0.0, activation=gelu_tanh,
                                      batch_first=True, norm_first=True)


def block_tensors(prefix, layer, grad, cross):
    def v(p, transpose=False):
        t = p.grad if grad else p
        if t is None:
            t = torch.zeros_like(p)
        return t.T if transpose else t
    C = layer.linear1.in_features
    sa = layer.self_attn
    out = [(prefix + "ln_1.weight", v(layer.norm1.weight)), (prefix + "ln_1.bias", v(layer.norm1.bias)),
           (prefix + "attn.c_attn.weight", v(sa.in_proj_weight, True)),
           (prefix + "attn.c_attn.bias", v(sa.in_proj_bias)),
           (prefix + "attn.c_proj.weight", v(sa.out_proj.weight, True)),
           (prefix + "attn.c_proj.bias", v(sa.out_proj.bias))]
    ff_norm = layer.norm2
    if cross:
        ca = layer.multihead_attn
        w, b = v(ca.in_proj_weight), v(ca.in_proj_bias)
        out += [(prefix + "ln_x.weight", v(layer.norm2.weight)), (prefix + "ln_x.bias", v(layer.norm2.bias)),
                (prefix + "xattn.q.weight", w[:C].T), (prefix + "xattn.q.bias", b[:C]),
                (prefix + "xattn.kv.weight", w[C:].T), (prefix + "xattn.kv.bias", b[C:]),
                (prefix + "xattn.c_proj.weight", v(ca.out_proj.weight, True)),
                (prefix + "xattn.c_proj.bias", v(ca.out_proj.bias))]
        ff_norm = layer.norm3
    out += [(prefix + "ln_2.weight", v(ff_norm.weight)), (prefix + "ln_2.bias", v(ff_norm.bias)),
            (prefix + "mlp.c_fc.weight", v(layer.linear1.weight, True)),
            (prefix + "mlp.c_fc.bias", v(layer.linear1.bias)),
            (prefix + "mlp.c_proj.weight", v(layer.linear2.weight, True)),
            (prefix + "mlp.c_proj.bias", v(layer.linear2.bias))]
    return out


class Encoder(nn.Module):
    def __init__(self, vocab_size, context_length, n_layer, n_head, n_embd, n_classes):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(context_length, n_embd)
        self.h = nn.ModuleList(enc_layer(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.pooler = nn.Linear(n_embd, n_embd)
        self.classifier = nn.Linear(n_embd, n_classes)
        init_like_cohort(self, n_layer)

    def body(self, idx, lengths):
        T = idx.shape[1]
        pad = torch.arange(T)[None, :] >= lengths[:, None]
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for blk in self.h:
            x = blk(x, src_key_padding_mask=pad)
        return self.ln_f(x)

    def mlm_loss(self, idx, lengths, mlm_targets):
        logits = self.body(idx, lengths) @ self.wte.weight.T
        per = F.cross_entropy(logits.transpose(1, 2), mlm_targets, ignore_index=-1, reduction="none")
        counts = (mlm_targets >= 0).sum(1)
        return (per.sum(1) / counts).mean()

    def class_logits(self, idx, lengths):
        return self.classifier(torch.tanh(self.pooler(self.body(idx, lengths)[:, 0])))

    def tensors(self, grad=False):
        def v(p, transpose=False):
            t = p.grad if grad else p
            if t is None:
                t = torch.zeros_like(p)
            return t.T if transpose else t
        out = [("wte.weight", v(self.wte.weight)), ("wpe.weight", v(self.wpe.weight))]
        for l, blk in enumerate(self.h):
            out += block_tensors(f"h.{l}.", blk, grad, False)
        out += [("ln_f.weight", v(self.ln_f.weight)), ("ln_f.bias", v(self.ln_f.bias)),
                ("pooler.weight", v(self.pooler.weight, True)), ("pooler.bias", v(self.pooler.bias)),
                ("classifier.weight", v(self.classifier.weight, True)),
                ("classifier.bias", v(self.classifier.bias))]
        return out


class Seq2Seq(nn.Module):
    def __init__(self, vocab_size, context_length, n_layer, n_decoder_layer, n_head, n_embd):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(context_length, n_embd)
        self.enc = nn.ModuleList(enc_layer(n_embd, n_head) for _ in range(n_layer))
        self.enc_ln_f = nn.LayerNorm(n_embd)
        self.dec = nn.ModuleList(dec_layer(n_embd, n_head) for _ in range(n_decoder_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        init_like_cohort(self, n_layer + n_decoder_layer)

    def forward(self, src, src_len, tgt_in):
        S, T = src.shape[1], tgt_in.shape[1]
        pad = torch.arange(S)[None, :] >= src_len[:, None]
        x = self.wte(src) + self.wpe(torch.arange(S))
        for blk in self.enc:
            x = blk(x, src_key_padding_mask=pad)
        memory = self.enc_ln_f(x)
        causal = torch.triu(torch.full((T, T), float("-inf"), dtype=torch.float64), diagonal=1)
        y = self.wte(tgt_in) + self.wpe(torch.arange(T))
        for blk in self.dec:
            y = blk(y, memory, tgt_mask=causal, memory_key_padding_mask=pad)
        return self.ln_f(y) @ self.wte.weight.T

    def loss(self, logits, tgt_out):
        per = F.cross_entropy(logits.transpose(1, 2), tgt_out, ignore_index=-1, reduction="none",
                              label_smoothing=SMOOTHING)
        return (per.sum(1) / (tgt_out >= 0).sum(1)).mean()

    def tensors(self, grad=False):
        def v(p):
            t = p.grad if grad else p
            return torch.zeros_like(p) if t is None else t
        out = [("wte.weight", v(self.wte.weight)), ("wpe.weight", v(self.wpe.weight))]
        for l, blk in enumerate(self.enc):
            out += block_tensors(f"enc.{l}.", blk, grad, False)
        out += [("enc_ln_f.weight", v(self.enc_ln_f.weight)), ("enc_ln_f.bias", v(self.enc_ln_f.bias))]
        for l, blk in enumerate(self.dec):
            out += block_tensors(f"dec.{l}.", blk, grad, True)
        out += [("ln_f.weight", v(self.ln_f.weight)), ("ln_f.bias", v(self.ln_f.bias))]
        return out


def to_double(model):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.float())
    return model.double()


def make_encoder():
    torch.manual_seed(1127)
    model = to_double(Encoder(**ENC))
    B, T = 3, 11
    idx = torch.randint(0, ENC["vocab_size"], (B, T))
    lengths = torch.tensor([11, 7, 4])
    mlm = torch.full((B, T), -1)
    for b, positions in enumerate([[1, 4, 9], [0, 6], [2]]):
        for t in positions:
            mlm[b, t] = torch.randint(0, ENC["vocab_size"], (1,)).item()
    labels = torch.tensor([4, 0, 2])
    out = {"param." + n: t.float() for n, t in model.tensors()}
    loss = model.mlm_loss(idx, lengths, mlm)
    loss.backward()
    out.update({"grad_mlm." + n: t.float() for n, t in model.tensors(grad=True)})
    out["loss_mlm"] = loss.detach().reshape(1)
    model.zero_grad()
    logits = model.class_logits(idx, lengths)
    closs = F.cross_entropy(logits, labels)
    closs.backward()
    out.update({"grad_cls." + n: t.float() for n, t in model.tensors(grad=True)})
    out["loss_cls"] = closs.detach().reshape(1)
    out["class_logits"] = logits.detach().float()
    out["tokens"], out["lengths"] = idx.int(), lengths.int()
    out["mlm_targets"], out["labels"] = mlm.int(), labels.int()
    meta = {k: str(v) for k, v in ENC.items()}
    meta.update(batch=str(B), seq=str(T), torch=torch.__version__)
    path = Path(__file__).with_name("encoder_small.safetensors")
    write_safetensors(path, out, meta)
    print(f"wrote {path}: mlm loss {loss.item():.6f}, classification loss {closs.item():.6f}")


def make_seq2seq():
    torch.manual_seed(2711)
    model = to_double(Seq2Seq(**S2S))
    B, S, T = 3, 9, 7
    src = torch.randint(0, S2S["vocab_size"], (B, S))
    src_len = torch.tensor([9, 5, 2])
    tgt_in = torch.randint(0, S2S["vocab_size"], (B, T))
    tgt_out = torch.randint(0, S2S["vocab_size"], (B, T))
    for b, n in enumerate([7, 3, 5]):
        tgt_out[b, n:] = -1
    out = {"param." + n: t.float() for n, t in model.tensors()}
    logits = model(src, src_len, tgt_in)
    loss = model.loss(logits, tgt_out)
    loss.backward()
    out.update({"grad." + n: t.float() for n, t in model.tensors(grad=True)})
    out["loss"] = loss.detach().reshape(1)
    out["logits"] = logits.detach().float()
    out["src"], out["src_len"] = src.int(), src_len.int()
    out["tgt_in"], out["tgt_out"] = tgt_in.int(), tgt_out.int()
    meta = {k: str(v) for k, v in S2S.items()}
    meta.update(batch=str(B), src_seq=str(S), tgt_seq=str(T), label_smoothing=str(SMOOTHING),
                torch=torch.__version__)
    path = Path(__file__).with_name("seq2seq_small.safetensors")
    write_safetensors(path, out, meta)
    print(f"wrote {path}: loss {loss.item():.6f}")


if __name__ == "__main__":
    make_encoder()
    make_seq2seq()
