#!/usr/bin/python3
"""Writes the golden fixture that tests/align/test_align.cpp compares the alignment lab's DPO
loss against: sequence log-probabilities gathered from random policy logits (B, T, V) at
target tokens (-100 = not part of the response), the DPO loss of Rafailov et al. 2023 eq. 7
for several beta, and its gradient with respect to the policy's logits, in float64.

Run from the repository root:  /usr/bin/python3 scripts/ref/align_fixtures.py
Output: tests/golden/fixtures/align_dpo.json (commit it).
Not for: CI (needs python3-torch); the fixture is committed instead.
"""
import json
import os

import torch
import torch.nn.functional as F

OUT = os.path.join("tests", "golden", "fixtures", "align_dpo.json")


def seq_logprob(logits, targets):
    # sum over supervised positions of log_softmax(logits)[target]
    logp = F.log_softmax(logits, dim=-1)
    mask = targets != -100
    safe = torch.where(mask, targets, torch.zeros_like(targets))
    picked = logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(-1)


def main():
    torch.manual_seed(14)
    B, T, V = 3, 5, 7
    g = torch.Generator().manual_seed(14)
    logits_w = torch.randn(B, T, V, generator=g, dtype=torch.float64)
    logits_l = torch.randn(B, T, V, generator=g, dtype=torch.float64)
    targets_w = torch.randint(0, V, (B, T), generator=g)
    targets_l = torch.randint(0, V, (B, T), generator=g)
    # prompt positions (first two) and one padded tail are not part of the response
    targets_w[:, :2] = -100
    targets_l[:, :2] = -100
    targets_w[1, 4] = -100
    targets_l[2, 3:] = -100
    ref_w = -torch.rand(B, generator=g, dtype=torch.float64) * 6
    ref_l = -torch.rand(B, generator=g, dtype=torch.float64) * 6
    cases = []
    for beta in [0.05, 0.1, 0.5, 2.0]:
        lw = logits_w.clone().requires_grad_(True)
        ll = logits_l.clone().requires_grad_(True)
        pw, pl = seq_logprob(lw, targets_w), seq_logprob(ll, targets_l)
        # ref: Rafailov et al. 2023 eq. 7
        loss = -F.logsigmoid(beta * ((pw - ref_w) - (pl - ref_l))).mean()
        loss.backward()
        cases.append(dict(beta=beta, loss=loss.item(), grad_logits_w=lw.grad.flatten().tolist(),
                          grad_logits_l=ll.grad.flatten().tolist(), pi_w=pw.tolist(), pi_l=pl.tolist()))
    out = dict(B=B, T=T, V=V, logits_w=logits_w.flatten().tolist(), logits_l=logits_l.flatten().tolist(),
               targets_w=targets_w.flatten().tolist(), targets_l=targets_l.flatten().tolist(),
               ref_w=ref_w.tolist(), ref_l=ref_l.tolist(), cases=cases,
               torch_version=torch.__version__)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp, OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
