"""PyTorch peer for bench/train_bench: trains lmlab's GPT (scripts/ref/lmlab_ref.py: the same
architecture, initialisation, AdamW groups and gradient clipping) on random token batches and
prints one JSON line: tokens/s over --steps steps after --warmup steps, and the process CPU
utilisation (getrusage user+sys CPU seconds / wall seconds) over the timed steps.

The BLAS is whatever the dynamic loader gives torch: Debian's default (OpenBLAS), or BLIS when
run with LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blis-openmp (train_bench does both).
Needs Debian's python3-torch; exits with status 3 and a hint when it is missing.
Not for: correctness (scripts/ref/gpt_fixtures.py), or training on real text (train_ref.py).
"""
import argparse
import json
import os
import sys

from torch_timing import timed_steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--d-model", type=int, required=True)
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    try:
        import torch
    except ImportError:
        print(json.dumps({"error": "python3-torch is not installed",
                          "hint": "bash scripts/deps.sh --torch"}))
        return 3
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
    import lmlab_ref as ref

    torch.set_num_threads(a.threads)
    cfg = {"vocab_size": a.vocab, "d_model": a.d_model, "n_layers": a.layers, "n_heads": a.heads,
           "n_ctx": a.seq, "tie_embeddings": True}
    p = ref.init_params(cfg, a.seed)
    opt = ref.make_optimizer(p, 1e-3, (0.9, 0.999), 1e-8, 0.1)
    params = list(p.values())
    g = torch.Generator().manual_seed(a.seed)
    batches = [torch.randint(0, a.vocab, (a.batch, a.seq + 1), generator=g) for _ in range(4)]

    def step(i):
        opt.zero_grad(set_to_none=True)
        loss, _ = ref.loss_fn(cfg, p, batches[i % len(batches)])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    loss, seconds, cpu_util = timed_steps(step, a.warmup, a.steps)
    # Which libblas.so.3 the loader picked is decided by LD_LIBRARY_PATH (train_bench sets it).
    blas = "blis-openmp" if "blis" in os.environ.get("LD_LIBRARY_PATH", "") else "default"
    print(json.dumps({"tokens_per_s": a.steps * a.batch * a.seq / seconds, "seconds": seconds,
                      "cpu_util": cpu_util, "loss": loss, "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "blas": blas}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
