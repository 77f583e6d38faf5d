#!/usr/bin/env python3
"""CPU training-step benchmark of the encoder (masked LM) and the encoder-decoder
(translation) in PyTorch, at the shapes of cohort's configs/brown-genre-mlm.toml and
configs/brown-translate.toml: the peer of bench/compare_tasks.py.

Written like gpt_bench.py for Debian's PyTorch 1.13: nn.TransformerEncoder /
nn.TransformerDecoder layers, pre-LayerNorm (norm_first=True), GELU, dropout 0.1, learned
position embeddings, the output layer tied to the token embedding, AdamW (lr 1e-3, wd 0.01
on >=2-D weights), gradient clipping at 1.0. Each batch has the lengths of B samples
drawn from the dataset's train split (--data), padded to the batch's longest, as cohort's
batches are (random token ids: the values do not change the work); mlm: 15% of the real
positions masked and only those rows through the output layer, as cohort does; translate:
every real target position, label smoothing 0.1.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def layer(cls, dim, heads):
    return cls(dim, heads, 4 * dim, dropout=0.1, activation="gelu", batch_first=True,
               norm_first=True)


class Encoder(nn.Module):
    def __init__(self, vocab, T, layers, heads, dim):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(T, dim)
        self.drop = nn.Dropout(0.1)
        self.blocks = nn.TransformerEncoder(layer(nn.TransformerEncoderLayer, dim, heads), layers,
                                            norm=nn.LayerNorm(dim), enable_nested_tensor=False)

    def forward(self, idx, pad):
        pos = torch.arange(idx.shape[1])
        return self.blocks(self.drop(self.wte(idx) + self.wpe(pos)), src_key_padding_mask=pad)


class Seq2Seq(nn.Module):
    def __init__(self, vocab, T, layers, dec_layers, heads, dim):
        super().__init__()
        self.encoder = Encoder(vocab, T, layers, heads, dim)
        self.decoder = nn.TransformerDecoder(layer(nn.TransformerDecoderLayer, dim, heads),
                                             dec_layers, norm=nn.LayerNorm(dim))
        self.causal = torch.triu(torch.full((T, T), float("-inf")), diagonal=1)

    def forward(self, src, src_pad, tgt, tgt_pad):
        memory = self.encoder(src, src_pad)
        e = self.encoder
        x = e.drop(e.wte(tgt) + e.wpe(torch.arange(tgt.shape[1])))
        T = tgt.shape[1]
        return self.decoder(x, memory, tgt_mask=self.causal[:T, :T], tgt_key_padding_mask=tgt_pad,
                            memory_key_padding_mask=src_pad)


def pad_mask(lengths):
    n = torch.tensor(lengths)
    return torch.arange(int(n.max()))[None, :] >= n[:, None]


def sample_lengths(records, B, g):
    """Per sample: (source or passage length, target length) as cohort's batches count them."""
    picked = torch.randint(0, len(records), (B,), generator=g).tolist()
    return [records[i] for i in picked]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", choices=["mlm", "translate"], required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--data", required=True, help="the task dataset directory (its train.jsonl)")
    args = ap.parse_args()
    records = []
    for line in open(f"{args.data}/train.jsonl"):
        r = json.loads(line)
        if args.task == "mlm":
            records.append((len(r["ids"]) + 1, 0))  # [CLS] first
        else:
            records.append((len(r["src"]) + 1, len(r["tgt"]) + 1))  # EOS; BOS
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    if args.task == "mlm":  # configs/brown-genre-mlm.toml
        B, T = 32, 128
        model = Encoder(args.vocab, T, 4, 4, 128)
    else:  # configs/brown-translate.toml
        B, T = 48, 96
        model = Seq2Seq(args.vocab, T, 3, 3, 4, 128)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": rest, "weight_decay": 0.0}], lr=1e-3)
    model.train()
    times = []
    for step in range(args.warmup + args.steps):
        lengths = sample_lengths(records, B, g)
        pad = pad_mask([a for a, _ in lengths])
        idx = torch.randint(0, args.vocab, pad.shape, generator=g)
        t0 = time.perf_counter()
        if args.task == "mlm":
            h = model(idx, pad)
            masked = (torch.rand(pad.shape, generator=g) < 0.15) & ~pad
            rows = h[masked]
            logits = rows @ model.wte.weight.t()
            loss = F.cross_entropy(logits, idx[masked])
        else:
            tgt_pad = pad_mask([b for _, b in lengths])
            tgt = torch.randint(0, args.vocab, tgt_pad.shape, generator=g)
            h = model(idx, pad, tgt, tgt_pad)
            logits = h @ model.encoder.wte.weight.t()
            target = torch.randint(0, args.vocab, tgt_pad.shape, generator=g).masked_fill(tgt_pad,
                                                                                         -100)
            loss = F.cross_entropy(logits.view(-1, args.vocab), target.view(-1), ignore_index=-100,
                                   label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print("RESULT " + json.dumps({"bench": "pytorch_" + args.task, "threads": args.threads,
                                  "batch": B, "seq": T, "ms_step_median": med * 1e3,
                                  "ms_step_min": min(times) * 1e3, "samples_s_median": B / med,
                                  "torch": torch.__version__}))


if __name__ == "__main__":
    main()
