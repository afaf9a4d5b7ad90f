#!/usr/bin/python3
"""Golden fixture for the VLM lab's CLIP loss (src/vlm/model.hpp clip_loss): random image and
text embeddings, a learned log temperature, the symmetric contrastive loss written as in
Radford et al. 2021 (CLIP) Figure 3, and its gradients from torch.autograd, in float64.
tests/vlm/test_model.cpp loads the JSON and compares loss and every gradient.

Run from the repository root:  /usr/bin/python3 scripts/ref/vlm_fixtures.py
Output: tests/vlm/fixtures/clip_loss.json (commit it).
Not for: CI (needs python3-torch); the fixture is committed instead.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

OUT = os.path.join("tests", "vlm", "fixtures", "clip_loss.json")


def clip_loss(img, txt, log_scale):
    i = img / img.norm(dim=1, keepdim=True)
    t = txt / txt.norm(dim=1, keepdim=True)
    logits = log_scale.exp() * i @ t.T
    labels = torch.arange(img.shape[0])
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def main():
    g = torch.Generator().manual_seed(17)
    cases = []
    for n, d, scale in ((4, 5, 1 / 0.07), (6, 3, 2.0)):
        img = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
        txt = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
        log_scale = torch.tensor(math.log(scale), dtype=torch.float64, requires_grad=True)
        loss = clip_loss(img, txt, log_scale)
        loss.backward()
        cases.append({
            "n": n, "d": d,
            "img": img.detach().flatten().tolist(), "txt": txt.detach().flatten().tolist(),
            "log_scale": log_scale.item(), "loss": loss.item(),
            "grad_img": img.grad.flatten().tolist(), "grad_txt": txt.grad.flatten().tolist(),
            "grad_log_scale": log_scale.grad.item(),
        })
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT + ".tmp", "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f, indent=1)
    os.replace(OUT + ".tmp", OUT)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
