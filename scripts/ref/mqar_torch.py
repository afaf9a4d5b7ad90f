#!/usr/bin/python3
"""MQAR (multi-query associative recall) with a 2-layer GPT in plain PyTorch, with or without a
short causal conv before attention: the check behind docs/lab.md "Recall" that plain 2-layer
attention stays on the ln 4 plateau at the quick recall budget in PyTorch too (so it is the
task, not lmlab's engine), and that `attn_conv` removes the plateau.

The model is scripts/ref/zoo_fixtures.py's (lmlab's zoo LM: learned positions, layernorm, GELU
MLP, tied head; `--conv K` sets attn_conv = K) with GPT-2's initialisation (N(0, 0.02), residual
projections / sqrt(2L), the conv at identity plus that noise). The data follow lmlab's MQAR
generator (src/tasks/mqar.cpp, zoology's multiquery_ar): keys in [1, V/2), values in [V/2, V),
kv pairs then queries at power-law gaps (a = 0.01), zeros elsewhere (random_non_queries off),
loss on the query positions only. Settings as experiments/recall.toml's quick size: V 64,
T 32, 4 pairs, d_model 64, 2 heads, batch 32, AdamW lr 5e-3 (wd 0.1, warmup 100, cosine to
lr/10), clipping 1.0. Prints step, loss and per-query test accuracy every 250 steps.

Run from the repository root:  /usr/bin/python3 scripts/ref/mqar_torch.py [--steps 3000] [--conv 3]
Not for: CI or the golden fixtures (it only prints).
"""
import argparse
import math
import os
import random
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmlab_ref as ref  # noqa: E402  (schedule, AdamW groups)
import zoo_fixtures as zf  # noqa: E402  (the zoo LM in PyTorch)

V, L, KV = 64, 32, 4


def example(r):
    keys, vals = r.sample(range(1, V // 2), KV), r.sample(range(V // 2, V), KV)
    space = (L - 2 * KV) // 2
    # KV gaps drawn without replacement with weight a * i^(a-1) (Efraimidis-Spirakis keys).
    w = [0.01 * (i ** (0.01 - 1)) for i in range(1, space + 1)]
    gaps = [g for _, g in sorted(((math.log(1 - r.random()) / w[i], i) for i in range(space)), reverse=True)[:KV]]
    inp, tgt = [0] * L, [-100] * L
    for i in range(KV):
        inp[2 * i], inp[2 * i + 1] = keys[i], vals[i]
        inp[2 * KV + 2 * gaps[i]], tgt[2 * KV + 2 * gaps[i]] = keys[i], vals[i]
    return inp, tgt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--conv", type=int, default=0, help="attn_conv kernel (0 = plain attention)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    r = random.Random(a.seed)
    data, test = [example(r) for _ in range(50000)], [example(r) for _ in range(400)]
    cfg = dict(vocab_size=V, d_model=64, n_layers=2, n_heads=2, n_ctx=L, d_mlp=256, layer_norm_eps=1e-5,
               attn_conv=a.conv)
    p = {}
    for name, shape in zf.param_shapes(cfg).items():
        if len(shape) == 1:
            t = torch.ones(shape) if name.endswith("ln1.weight") or name.endswith("ln2.weight") or name == "ln_f.weight" \
                else torch.zeros(shape)
        else:
            std = 0.02 / math.sqrt(2 * cfg["n_layers"]) if name.endswith("w_o") or name.endswith("w_out") else 0.02
            t = torch.randn(shape) * std
            if name.endswith("conv1d.weight"):
                t[:, -1] += 1.0
        p[name] = t.requires_grad_(True)
    opt = ref.make_optimizer(p, a.lr, (0.9, 0.98), 1e-8, 0.1)
    xt, yt = torch.tensor([e[0] for e in test]), torch.tensor([e[1] for e in test])
    for s in range(a.steps):
        for g in opt.param_groups:
            g["lr"] = ref.lr_at(s, a.lr, a.lr * 0.1, 100, a.steps)
        b = [data[r.randrange(len(data))] for _ in range(32)]
        logits = zf.forward(cfg, p, torch.tensor([e[0] for e in b]))
        loss = F.cross_entropy(logits.reshape(-1, V), torch.tensor([e[1] for e in b]).reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(p.values()), 1.0)
        opt.step()
        if s % 250 == 0 or s == a.steps - 1:
            with torch.no_grad():
                pred, mask = zf.forward(cfg, p, xt).argmax(-1), yt != -100
                acc = ((pred == yt) & mask).sum().item() / mask.sum().item()
            print(f"step {s} loss {loss.item():.3f} test per-query accuracy {acc:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
