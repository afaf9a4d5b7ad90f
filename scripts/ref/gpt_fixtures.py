#!/usr/bin/python3
"""Writes the golden fixtures that tests/golden/test_gpt_golden.cpp compares lmlab against:
for each tiny GPT, the initial weights, one batch of inputs, the logits, the loss, every
named gradient, and (for the first) a 10-step AdamW trajectory with warmup + cosine schedule,
weight decay and gradient clipping on, plus the weights after those 10 steps.

Run from the repository root:  /usr/bin/python3 scripts/ref/gpt_fixtures.py
Output: tests/golden/fixtures/gpt_<name>.safetensors + gpt_<name>.json (commit them).
Not for: CI (needs python3-torch); the fixtures are committed instead.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmlab_ref as ref  # noqa: E402

OUT = os.path.join("tests", "golden", "fixtures")

FIXTURES = {
    # Tied head, every position of the context used, a 10-step trajectory.
    "tied": dict(model=dict(vocab_size=37, d_model=32, n_layers=2, n_heads=4, n_ctx=16, tie_embeddings=True,
                            random_biases=True),
                 batch=3, seq=16, seed=1234, steps=10,
                 opt=dict(lr=1e-2, min_lr=1e-3, warmup=3, weight_decay=0.1, beta1=0.9, beta2=0.95, eps=1e-8,
                          grad_clip=0.5)),
    # Untied head, a sequence shorter than the context, an MLP width that is not 4x.
    "untied": dict(model=dict(vocab_size=23, d_model=24, n_layers=1, n_heads=3, n_ctx=16, d_mlp=40,
                              tie_embeddings=False, random_biases=True),
                   batch=2, seq=11, seed=99, steps=0, opt=None),
}


def build(name, spec):
    torch.manual_seed(spec["seed"])
    cfg = spec["model"]
    p = ref.init_params(cfg, spec["seed"])
    g = torch.Generator().manual_seed(spec["seed"] + 1)
    B, T, V = spec["batch"], spec["seq"], cfg["vocab_size"]
    n_batches = max(1, spec["steps"])
    # Learnable sequences (start + t * stride mod V) so that the trajectory goes down.
    starts = torch.randint(0, V, (n_batches, B, 1), generator=g)
    strides = torch.randint(1, 4, (n_batches, B, 1), generator=g)
    batches = (starts + strides * torch.arange(T + 1).view(1, 1, -1)) % V
    out = {f"init.{n}": t.detach().clone() for n, t in p.items()}
    out["batches"] = batches.to(torch.int32)

    loss, logits = ref.loss_fn(cfg, p, batches[0])
    loss.backward()
    out["logits"] = logits.detach()
    out["loss"] = loss.detach().reshape(())
    for n, t in p.items():
        out[f"grad.{n}"] = t.grad.detach().clone()
    info = {"model": {k: v for k, v in cfg.items() if k != "random_biases"}, "batch": B, "seq": T,
            "loss": loss.item(), "torch_version": torch.__version__}

    if spec["steps"]:
        o = spec["opt"]
        for t in p.values():
            t.grad = None
        opt = ref.make_optimizer(p, o["lr"], (o["beta1"], o["beta2"]), o["eps"], o["weight_decay"])
        losses, norms, lrs = [], [], []
        for s in range(spec["steps"]):
            lr = ref.lr_at(s, o["lr"], o["min_lr"], o["warmup"], spec["steps"])
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad(set_to_none=True)
            loss, _ = ref.loss_fn(cfg, p, batches[s])
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(list(p.values()), o["grad_clip"])
            opt.step()
            losses.append(loss.item())
            norms.append(norm.item())
            lrs.append(lr)
        out["trajectory.loss"] = torch.tensor(losses, dtype=torch.float32)
        out["trajectory.grad_norm"] = torch.tensor(norms, dtype=torch.float32)
        for n, t in p.items():
            out[f"final.{n}"] = t.detach().clone()
        info.update(steps=spec["steps"], optimizer=o, trajectory_loss=losses, trajectory_grad_norm=norms,
                    trajectory_lr=lrs)
    os.makedirs(OUT, exist_ok=True)
    ref.save_safetensors(os.path.join(OUT, f"gpt_{name}.safetensors"), out)
    with open(os.path.join(OUT, f"gpt_{name}.json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    print(f"gpt_{name}: loss {info['loss']:.6f}" + (f", trajectory {info['trajectory_loss']}" if spec["steps"] else ""))


if __name__ == "__main__":
    torch.set_num_threads(1)
    for name, spec in FIXTURES.items():
        build(name, spec)
