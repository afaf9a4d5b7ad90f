#!/usr/bin/python3
"""The PyTorch run beside `lmlab train`: the same GPT, initialisation rule, AdamW groups,
warmup + cosine schedule, clipping, batch size, sequence length and steps, on the same
prepared token files (lmlab's LMLABTOK format), then the validation loss over every
non-overlapping window of val.bin exactly as `lmlab eval` computes it. Batches are drawn
with torch's RNG (not lmlab's Philox), so the two runs see different samples of the same data.

  /usr/bin/python3 scripts/ref/train_ref.py --config configs/gpt-brown.toml \
      --data ~/.cache/lmlab/prepared/brown-char [--threads 1] [--steps N]
Not for: CI (needs python3-torch).
"""
import os

# One BLAS thread pool only: Debian's torch links OpenBLAS, whose own threads otherwise fight
# torch's (issue 2); must be set before numpy/torch load.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import math
import struct
import sys
import time
import tomllib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmlab_ref as ref  # noqa: E402


def read_tokens(path):
    with open(path, "rb") as f:
        head = f.read(64)
        assert head[:8] == b"LMLABTOK", f"{path}: not an lmlab token file"
        width, = struct.unpack("<I", head[12:16])
        count, = struct.unpack("<Q", head[16:24])
        vocab, = struct.unpack("<I", head[24:28])
        a = np.frombuffer(f.read(), dtype=np.uint16 if width == 2 else np.uint32, count=count)
    return torch.from_numpy(a.astype(np.int64)), vocab


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0)
    a = ap.parse_args()
    with open(a.config, "rb") as f:
        c = tomllib.load(f)
    m, t = c["model"], c["train"]
    torch.set_num_threads(a.threads)
    train, vocab = read_tokens(os.path.join(a.data, "train.bin"))
    val, _ = read_tokens(os.path.join(a.data, "val.bin"))
    cfg = dict(vocab_size=m.get("vocab_size") or vocab, d_model=m["d_model"], n_layers=m["n_layers"],
               n_heads=m["n_heads"], n_ctx=m["n_ctx"], tie_embeddings=m.get("tie_embeddings", True))
    steps = a.steps or t["steps"]
    B, T = t["batch_size"], t.get("seq_len") or m["n_ctx"]
    seed = t.get("seed", 1337)
    torch.manual_seed(seed)
    p = ref.init_params(cfg, seed)
    opt = ref.make_optimizer(p, t["lr"], (t.get("beta1", 0.9), t.get("beta2", 0.95)), t.get("eps", 1e-8),
                             t.get("weight_decay", 0.1))
    g = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for s in range(steps):
        lr = ref.lr_at(s, t["lr"], t["min_lr"], t["warmup_steps"], steps)
        for group in opt.param_groups:
            group["lr"] = lr
        off = torch.randint(0, len(train) - T - 1, (B,), generator=g)
        batch = torch.stack([train[o:o + T + 1] for o in off.tolist()])
        opt.zero_grad(set_to_none=True)
        loss, _ = ref.loss_fn(cfg, p, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(p.values()), t.get("grad_clip", 1.0))
        opt.step()
        if (s + 1) % 50 == 0 or s + 1 == steps:
            el = time.time() - t0
            print(f"step {s + 1}/{steps} | loss {loss.item():.4f} | {B * T * (s + 1) / el:.0f} tok/s", flush=True)
    # Validation exactly as lmlab's evaluate_split: windows k*T .. k*T+T, in batches of B.
    n_win = (len(val) - 1) // T
    nats, toks = 0.0, 0
    with torch.no_grad():
        for k0 in range(0, n_win, B):
            ks = range(k0, min(n_win, k0 + B))
            batch = torch.stack([val[k * T:k * T + T + 1] for k in ks])
            loss, _ = ref.loss_fn(cfg, p, batch)
            nats += loss.item() * batch.shape[0] * T
            toks += batch.shape[0] * T
    print(f"torch {torch.__version__}: {steps} steps, val loss {nats / toks:.4f} over {toks} tokens "
          f"(ppl {math.exp(nats / toks):.3f}), train time {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
