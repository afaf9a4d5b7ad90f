"""PyTorch peer for bench/mixer_bench: trains the zoo LM (src/models/lm.hpp) with one mixer kind
(or a pattern) built from the plain-PyTorch blocks of scripts/ref/zoo_fixtures.py (lmlab's
parameter names and shapes) on random token batches: forward, cross-entropy, backward,
clip_grad_norm_ 1.0, torch.optim.AdamW (weight decay 0.1 on matrices, as lmlab's trainer).
Prints one JSON line: tokens/s over --steps steps after --warmup steps and the process CPU
utilisation (getrusage user+sys CPU seconds / wall seconds) over the timed steps.

What the reference is, per mixer (printed as "reference" in the JSON line):
  A  attention with RoPE: batched matmuls, softmax over a masked (T, T) score matrix.
  T  RetNet: the parallel form, (T, T) decay mask, batched matmuls.
  M  Mamba: the selective scan as a Python loop over timesteps (Gu & Dao 2023, Alg. 2), as the
     official mamba_ssm selective_scan_ref is; autograd records every step.
  R  Griffin RG-LRU: a Python loop over timesteps.
  W  RWKV-4: the O(T) recurrent WKV (Peng et al. 2023, eq. 19-22, with the running-maximum
     exponent of the official RWKV-4 code) as a Python loop over timesteps, because
     zoo_fixtures' literal sum of eq. 16 is O(T^2) Python steps; --rwkv literal selects it.
Needs Debian's python3-torch; exits with status 3 and a hint when it is missing.
Not for: correctness (scripts/ref/zoo_fixtures.py), or GPT configs (torch_gpt.py).
"""
import argparse
import json
import os
import sys

from torch_timing import timed_steps


REFERENCE = {
    "A": "attention: batched matmul + masked softmax",
    "T": "retention: parallel form (T x T decay mask)",
    "M": "mamba: per-timestep Python loop (as mamba_ssm selective_scan_ref)",
    "R": "rg-lru: per-timestep Python loop",
    "W": "rwkv-4: per-timestep Python loop, O(T) recurrent wkv",
}


def rwkv_time_mix_recurrent(zf, torch, F):
    """RWKV-4 time-mix with the O(T) recurrence of the WKV sum (the state a, b and the running
    maximum exponent p of the official RWKV-4 code), same parameters as zf.rwkv_time_mix."""
    def block(c, p, q_, x):
        k, v, r, w, u = zf.rwkv_time_mix_inputs(p, q_, x)
        B, T, C = k.shape
        a = torch.zeros(B, C)
        b = torch.zeros(B, C)
        pp = torch.full((B, C), -1e38)
        outs = []
        for t in range(T):
            kt, vt = k[:, t], v[:, t]
            ww = u + kt  # output at t: (a + e^{u+k_t} v_t) / (b + e^{u+k_t}), scaled by e^{-q}
            q = torch.maximum(pp, ww)
            e1, e2 = torch.exp(pp - q), torch.exp(ww - q)
            outs.append((e1 * a + e2 * vt) / (e1 * b + e2))
            ww = pp + w  # state: a <- e^w a + e^{k_t} v_t, b <- e^w b + e^{k_t}
            q = torch.maximum(ww, kt)
            e1, e2 = torch.exp(ww - q), torch.exp(kt - q)
            a, b, pp = e1 * a + e2 * vt, e1 * b + e2, q
        return F.linear(r * torch.stack(outs, 1), p[q_ + "output.weight"])
    return block


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pattern", required=True, help="mixer letters from A, M, R, W, T (e.g. M or MMMA)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=256)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rwkv", choices=["recurrent", "literal"], default="recurrent")
    a = ap.parse_args()

    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        print(json.dumps({"error": "python3-torch is not installed", "hint": "bash scripts/deps.sh --torch"}))
        return 3
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
    import zoo_fixtures as zf
    import lmlab_ref as ref

    if a.rwkv == "recurrent":
        zf.MIXERS["W"] = rwkv_time_mix_recurrent(zf, torch, F)
    torch.set_num_threads(a.threads)
    # The keys zoo_fixtures reads, with lmlab's defaults (models/lm_config.hpp): GELU MLP of
    # 4*d_model, layernorm, biases, tied head; Mamba d_state 16, d_conv 4, expand 2.
    cfg = {"vocab_size": a.vocab, "d_model": a.d_model, "n_layers": a.layers, "n_heads": a.heads, "n_ctx": a.seq,
           "d_mlp": 4 * a.d_model, "layer_norm_eps": 1e-5, "pattern": a.pattern,
           "pos_encoding": "rope" if "A" in a.pattern else "none", "rope_theta": 10000.0,
           "d_state": 16, "d_conv": 4, "expand": 2}
    p = zf.init_params(cfg, a.seed)  # leaf tensors with requires_grad
    opt = ref.make_optimizer(p, 1e-3, (0.9, 0.999), 1e-8, 0.1)
    params = list(p.values())
    g = torch.Generator().manual_seed(a.seed)
    batches = [torch.randint(0, a.vocab, (a.batch, a.seq + 1), generator=g) for _ in range(2)]

    def step(i):
        opt.zero_grad(set_to_none=True)
        batch = batches[i % len(batches)]
        logits = zf.forward(cfg, p, batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    loss, seconds, cpu_util = timed_steps(step, a.warmup, a.steps)
    ref_text = "; ".join(REFERENCE[k] if not (k == "W" and a.rwkv == "literal") else "rwkv-4: O(T^2) literal sum"
                         for k in dict.fromkeys(a.pattern))
    print(json.dumps({"tokens_per_s": a.steps * a.batch * a.seq / seconds, "seconds": seconds,
                      "cpu_util": cpu_util, "loss": loss, "n_params": sum(t.numel() for t in params),
                      "reference": ref_text, "torch": torch.__version__, "threads": torch.get_num_threads()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
