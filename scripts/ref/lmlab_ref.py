"""PyTorch reference for lmlab's GPT (src/models/lm.hpp, default config): the same architecture, parameter
names, initialisation rule, AdamW parameter groups, learning-rate schedule and gradient
clipping, written plainly so that a reader can check lmlab against it line by line.

Used by gpt_fixtures.py (golden fixtures for tests/golden) and train_ref.py (the PyTorch run
beside `lmlab train` on the same tokens). Needs Debian's python3-torch and python3-numpy only.
Not for: CI (the fixtures it writes are committed), or anything lmlab itself runs.
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn.functional as F


def param_shapes(cfg):
    """Named parameters in lmlab's order (gpt::named_parameters) -> shape."""
    V, C, L, N = cfg["vocab_size"], cfg["d_model"], cfg["n_layers"], cfg["n_ctx"]
    M = cfg.get("d_mlp", 4 * C)
    out = {"wte.weight": (V, C), "wpe.weight": (N, C)}
    for i in range(L):
        p = f"blocks.{i}."
        out[p + "ln1.weight"] = (C,)
        out[p + "ln1.bias"] = (C,)
        for w in ("q", "k", "v", "o"):
            out[p + f"attn.w_{w}"] = (C, C)
            out[p + f"attn.b_{w}"] = (C,)
        out[p + "ln2.weight"] = (C,)
        out[p + "ln2.bias"] = (C,)
        out[p + "mlp.w_in"] = (M, C)
        out[p + "mlp.b_in"] = (M,)
        out[p + "mlp.w_out"] = (C, M)
        out[p + "mlp.b_out"] = (C,)
    out["ln_f.weight"] = (C,)
    out["ln_f.bias"] = (C,)
    if not cfg.get("tie_embeddings", True):
        out["lm_head.weight"] = (V, C)
    return out


def init_params(cfg, seed):
    """GPT-2 initialisation: N(0, 0.02) for matrices and embeddings, N(0, 0.02/sqrt(2L)) for
    the two residual projections, zero biases, unit LayerNorm gains. (lmlab draws its own
    initial weights from Philox; the fixtures carry these ones so both start identical.)"""
    g = torch.Generator().manual_seed(seed)
    std = cfg.get("init_std", 0.02)
    params = {}
    for name, shape in param_shapes(cfg).items():
        if name.endswith("ln1.weight") or name.endswith("ln2.weight") or name == "ln_f.weight":
            t = torch.ones(shape)
        elif len(shape) == 1:
            # Small random biases (not zeros) so the fixture checks every bias path.
            t = torch.randn(shape, generator=g) * 0.02 if cfg.get("random_biases") else torch.zeros(shape)
        else:
            s = std / math.sqrt(2 * cfg["n_layers"]) if name.endswith("w_o") or name.endswith("w_out") else std
            t = torch.randn(shape, generator=g) * s
        params[name] = t.float().requires_grad_(True)
    return params


def forward(cfg, p, ids):
    """ids (B, T) int64 -> logits (B, T, V). Pre-LN GPT with learned positions."""
    B, T = ids.shape
    C, H = cfg["d_model"], cfg["n_heads"]
    D = C // H
    eps = cfg.get("layer_norm_eps", 1e-5)
    x = p["wte.weight"][ids] + p["wpe.weight"][:T]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for i in range(cfg["n_layers"]):
        q_ = f"blocks.{i}."
        h = F.layer_norm(x, (C,), p[q_ + "ln1.weight"], p[q_ + "ln1.bias"], eps)
        q = F.linear(h, p[q_ + "attn.w_q"], p[q_ + "attn.b_q"]).view(B, T, H, D).transpose(1, 2)
        k = F.linear(h, p[q_ + "attn.w_k"], p[q_ + "attn.b_k"]).view(B, T, H, D).transpose(1, 2)
        v = F.linear(h, p[q_ + "attn.w_v"], p[q_ + "attn.b_v"]).view(B, T, H, D).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        z = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + F.linear(z, p[q_ + "attn.w_o"], p[q_ + "attn.b_o"])
        h = F.layer_norm(x, (C,), p[q_ + "ln2.weight"], p[q_ + "ln2.bias"], eps)
        h = F.gelu(F.linear(h, p[q_ + "mlp.w_in"], p[q_ + "mlp.b_in"]))
        x = x + F.linear(h, p[q_ + "mlp.w_out"], p[q_ + "mlp.b_out"])
    x = F.layer_norm(x, (C,), p["ln_f.weight"], p["ln_f.bias"], eps)
    head = p["wte.weight"] if cfg.get("tie_embeddings", True) else p["lm_head.weight"]
    return F.linear(x, head)


def loss_fn(cfg, p, batch):
    """batch (B, T+1): inputs are the first T tokens, targets the last T."""
    logits = forward(cfg, p, batch[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1)), logits


def lr_at(step, max_lr, min_lr, warmup, total):
    """Linear warmup over `warmup` steps (step 0 gets max_lr/warmup), then cosine from max_lr
    to min_lr at step `total` (Loshchilov & Hutter 2017, SGDR eq. 5, one cycle)."""
    if warmup > 0 and step < warmup:
        return max_lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def make_optimizer(p, lr, betas, eps, weight_decay):
    """AdamW with decay on matrices and embeddings only (dim >= 2), as lmlab's trainer, and
    never on Mamba's A_log and D (the Mamba reference's _no_weight_decay; nn::weight_decay::never)."""
    def decays(n, t):
        return t.dim() >= 2 and not n.endswith((".A_log", ".D"))
    decay = [t for n, t in p.items() if decays(n, t)]
    no_decay = [t for n, t in p.items() if not decays(n, t)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=betas, eps=eps)


_DT = {np.dtype("float32"): "F32", np.dtype("int32"): "I32", np.dtype("float64"): "F64"}


def save_safetensors(path, tensors, metadata=None):
    """Minimal safetensors writer (8-byte LE header size, JSON header, raw little-endian data).
    A value is a tensor/array, or an encoded (dtype name, shape, bytes) tuple."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        if isinstance(t, tuple):  # already encoded: (dtype name, shape, bytes), e.g. BF16
            dt, shape, b = t
        else:
            a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
            a = np.ascontiguousarray(a)
            dt, shape, b = _DT[a.dtype], list(a.shape), a.tobytes()
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    inv = {"F32": np.float32, "I32": np.int32, "F64": np.float64}
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=inv[h["dtype"]]).reshape(h["shape"]).copy())
    return out
