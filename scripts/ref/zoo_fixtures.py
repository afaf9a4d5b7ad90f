#!/usr/bin/python3
"""Golden fixtures for the architecture zoo model (src/models/lm.hpp): for a tiny model per
mixer, plain PyTorch reimplementations of each block (written from the papers, with lmlab's
parameter names), random initial weights, one batch, the logits, the loss and every named
gradient. tests/golden/test_zoo_golden.cpp loads the weights into lmlab and compares.

Run from the repository root:  /usr/bin/python3 scripts/ref/zoo_fixtures.py [NAME...]
Output: tests/golden/fixtures/zoo_<name>.safetensors + zoo_<name>.json (commit them).
Not for: CI (needs python3-torch); the fixtures are committed instead.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmlab_ref as ref  # noqa: E402  (safetensors writer)

OUT = os.path.join("tests", "golden", "fixtures")

BASE = dict(vocab_size=11, d_model=16, n_layers=2, n_heads=2, n_ctx=8, d_mlp=24, layer_norm_eps=1e-5)

FIXTURES = {
    # LLaMA-style attention: RoPE, GQA (4 query heads, 2 kv heads), RMSNorm, SwiGLU, no biases, untied.
    "attn_rope": dict(BASE, n_heads=4, n_kv_heads=2, pos_encoding="rope", rope_theta=10000.0, norm="rmsnorm",
                      ffn="swiglu", bias=False, tie_embeddings=False),
    # Mamba blocks with a GELU MLP, layernorm, tied head.
    "mamba": dict(BASE, pattern="M", pos_encoding="none", d_state=4, d_conv=3, expand=2),
    # RWKV-4: time-mix + channel-mix.
    "rwkv": dict(BASE, pattern="W", pos_encoding="none"),
    # RetNet retention + Griffin recurrent block, one of each.
    "retnet_griffin": dict(BASE, pattern="TR", pos_encoding="none", d_conv=3),
    # Attention with a short causal conv on its input (attn_conv), learned positions, GELU MLP.
    "attn_conv": dict(BASE, attn_conv=3),
}


# ---- parameter shapes (lmlab's names and order: lm::named_parameters) --------------------

def mixer_shapes(c, kind, p):
    C, H = c["d_model"], c["n_heads"]
    D = C // H
    bias = c.get("bias", True)
    out = {}
    if kind == "A":
        Hkv = c.get("n_kv_heads", 0) or H
        out[p + "w_q"] = (H * D, C)
        if bias: out[p + "b_q"] = (H * D,)
        out[p + "w_k"] = (Hkv * D, C)
        if bias: out[p + "b_k"] = (Hkv * D,)
        out[p + "w_v"] = (Hkv * D, C)
        if bias: out[p + "b_v"] = (Hkv * D,)
        out[p + "w_o"] = (C, H * D)
        if bias: out[p + "b_o"] = (C,)
        if c.get("attn_conv", 0):
            out[p + "conv1d.weight"] = (C, c["attn_conv"])
            out[p + "conv1d.bias"] = (C,)
    elif kind == "M":
        Di, N, K = c["expand"] * C, c["d_state"], c["d_conv"]
        R = c.get("dt_rank", 0) or (C + 15) // 16
        out.update({p + "in_proj.weight": (2 * Di, C), p + "conv1d.weight": (Di, K), p + "conv1d.bias": (Di,),
                    p + "x_proj.weight": (R + 2 * N, Di), p + "dt_proj.weight": (Di, R), p + "dt_proj.bias": (Di,),
                    p + "A_log": (Di, N), p + "D": (Di,), p + "out_proj.weight": (C, Di)})
    elif kind == "R":
        Dr, K = c.get("lru_width", 0) or C, c["d_conv"]
        out.update({p + "w_y": (Dr, C), p + "b_y": (Dr,), p + "w_x": (Dr, C), p + "b_x": (Dr,), p + "conv_w": (Dr, K),
                    p + "conv_b": (Dr,), p + "w_a": (Dr, Dr), p + "b_a": (Dr,), p + "w_i": (Dr, Dr), p + "b_i": (Dr,),
                    p + "lambda": (Dr,), p + "w_out": (C, Dr), p + "b_out": (C,)})
    elif kind == "W":
        for n in ("time_decay", "time_first", "time_mix_k", "time_mix_v", "time_mix_r"):
            out[p + n] = (C,)
        for n in ("key", "value", "receptance", "output"):
            out[p + n + ".weight"] = (C, C)
    elif kind == "T":
        for n in ("w_q", "w_k", "w_v", "w_g", "w_o"):
            out[p + n] = (C, C)
    return out


def ffn_shapes(c, kind, p):
    C, M = c["d_model"], c["d_mlp"]
    bias = c.get("bias", True)
    if kind == "channel_mix":
        return {p + "time_mix_k": (C,), p + "time_mix_r": (C,), p + "key.weight": (M, C),
                p + "receptance.weight": (C, C), p + "value.weight": (C, M)}
    if kind == "swiglu":
        return {p + "w_gate": (M, C), p + "w_in": (M, C), p + "w_out": (C, M)}
    out = {p + "w_in": (M, C)}
    if bias: out[p + "b_in"] = (M,)
    out[p + "w_out"] = (C, M)
    if bias: out[p + "b_out"] = (C,)
    return out


MIXER_NAME = {"A": "attn", "M": "ssm", "R": "rglru", "W": "time_mix", "T": "retention"}


def layout(c):
    pattern = c.get("pattern", "A")
    blocks = []
    for i in range(c["n_layers"]):
        mk = pattern[i % len(pattern)]
        fk = "channel_mix" if mk == "W" else c.get("ffn", "gelu")
        blocks.append((mk, fk))
    return blocks


def param_shapes(c):
    C, V = c["d_model"], c["vocab_size"]
    rms = c.get("norm", "layernorm") == "rmsnorm"
    out = {"wte.weight": (V, C)}
    if c.get("pos_encoding", "learned") == "learned":
        out["wpe.weight"] = (c["n_ctx"], C)

    def norm(p):
        out[p + ".weight"] = (C,)
        if not rms:
            out[p + ".bias"] = (C,)

    for i, (mk, fk) in enumerate(layout(c)):
        b = f"blocks.{i}."
        norm(b + "ln1")
        out.update(mixer_shapes(c, mk, b + MIXER_NAME[mk] + "."))
        norm(b + "ln2")
        out.update(ffn_shapes(c, fk, b + ("channel_mix" if fk == "channel_mix" else "mlp") + "."))
    norm("ln_f")
    if not c.get("tie_embeddings", True):
        out["lm_head.weight"] = (V, C)
    return out


def init_params(c, seed):
    """Random weights of moderate size (O(1) logits) and the special parameters in their ranges."""
    g = torch.Generator().manual_seed(seed)
    p = {}
    for name, shape in param_shapes(c).items():
        if name.endswith("ln1.weight") or name.endswith("ln2.weight") or name == "ln_f.weight":
            t = 1.0 + 0.1 * torch.randn(shape, generator=g)
        elif name.endswith("A_log"):
            t = torch.log(torch.arange(1, shape[1] + 1, dtype=torch.float32)).repeat(shape[0], 1)
            t = t + 0.1 * torch.randn(shape, generator=g)
        elif name.endswith("dt_proj.bias"):
            t = -3.0 + 0.5 * torch.randn(shape, generator=g)  # softplus -> about 0.05
        elif name.endswith(".D"):
            t = 1.0 + 0.1 * torch.randn(shape, generator=g)
        elif name.endswith("lambda"):
            t = 2.0 + torch.rand(shape, generator=g) * 3.0  # sigma(lambda) in (0.88, 0.99)
        elif name.endswith("time_decay"):
            t = -1.0 + torch.randn(shape, generator=g)
        elif name.endswith("time_first"):
            t = math.log(0.3) + 0.5 * torch.randn(shape, generator=g)
        elif "time_mix" in name and len(shape) == 1:
            t = torch.rand(shape, generator=g)
        elif len(shape) == 1:
            t = 0.1 * torch.randn(shape, generator=g)
        else:
            t = torch.randn(shape, generator=g) / math.sqrt(shape[-1])
        p[name] = t.float().requires_grad_(True)
    return p


# ---- blocks ------------------------------------------------------------------------------

def norm(c, p, name, x):
    eps = c.get("layer_norm_eps", 1e-5)
    if c.get("norm", "layernorm") == "rmsnorm":
        # Zhang & Sennrich 2019 eq. 4
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * p[name + ".weight"]
    return F.layer_norm(x, (x.shape[-1],), p[name + ".weight"], p[name + ".bias"], eps)


def rotate(x, theta):
    """HF half-split rotary on (B, H, T, D)."""
    T, D = x.shape[2], x.shape[3]
    inv = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], -1)
    cos, sin = emb.cos().float(), emb.sin().float()
    rh = torch.cat([-x[..., D // 2:], x[..., :D // 2]], -1)
    return x * cos + rh * sin


def causal_conv(x, w, b):
    """x (B,T,D), w (D,K): depthwise causal conv (nn.Conv1d groups=D, padding K-1, first T)."""
    B, T, D = x.shape
    K = w.shape[1]
    y = F.conv1d(x.transpose(1, 2), w.unsqueeze(1), b, padding=K - 1, groups=D)[..., :T]
    return y.transpose(1, 2)


def attention(c, p, q_, x):
    B, T, C = x.shape
    H = c["n_heads"]
    Hkv = c.get("n_kv_heads", 0) or H
    D = C // H
    if c.get("attn_conv", 0):  # short causal depthwise conv on the attention input
        x = causal_conv(x, p[q_ + "conv1d.weight"], p[q_ + "conv1d.bias"])
    lin = lambda n: F.linear(x, p[q_ + "w_" + n], p.get(q_ + "b_" + n))
    q = lin("q").view(B, T, H, D).transpose(1, 2)
    k = lin("k").view(B, T, Hkv, D).transpose(1, 2)
    v = lin("v").view(B, T, Hkv, D).transpose(1, 2)
    if c.get("pos_encoding") == "rope":
        q, k = rotate(q, c["rope_theta"]), rotate(k, c["rope_theta"])
    k = k.repeat_interleave(H // Hkv, 1)
    v = v.repeat_interleave(H // Hkv, 1)
    att = (q @ k.transpose(-2, -1)) / math.sqrt(D)
    att = att.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")).softmax(-1)
    z = (att @ v).transpose(1, 2).reshape(B, T, H * D)
    return F.linear(z, p[q_ + "w_o"], p.get(q_ + "b_o"))


def mamba(c, p, q_, x):
    """Gu & Dao 2023, sec. 3.4 / Alg. 2, sequential scan."""
    C = c["d_model"]
    Di, N = c["expand"] * C, c["d_state"]
    R = c.get("dt_rank", 0) or (C + 15) // 16
    xz = F.linear(x, p[q_ + "in_proj.weight"])
    u = F.silu(causal_conv(xz[..., :Di], p[q_ + "conv1d.weight"], p[q_ + "conv1d.bias"]))
    z = xz[..., Di:]
    dbc = F.linear(u, p[q_ + "x_proj.weight"])
    delta = F.softplus(F.linear(dbc[..., :R], p[q_ + "dt_proj.weight"], p[q_ + "dt_proj.bias"]))
    Bm, Cm = dbc[..., R:R + N], dbc[..., R + N:]
    A = -torch.exp(p[q_ + "A_log"])
    h = torch.zeros(x.shape[0], Di, N)
    ys = []
    for t in range(x.shape[1]):
        h = torch.exp(delta[:, t, :, None] * A) * h + delta[:, t, :, None] * Bm[:, t, None, :] * u[:, t, :, None]
        ys.append((h * Cm[:, t, None, :]).sum(-1) + p[q_ + "D"] * u[:, t])
    y = torch.stack(ys, 1)
    return F.linear(y * F.silu(z), p[q_ + "out_proj.weight"])


def griffin(c, p, q_, x):
    """De et al. 2024, fig. 2 and eq. 1-6 (c = 8)."""
    y = F.gelu(F.linear(x, p[q_ + "w_y"], p[q_ + "b_y"]), approximate="tanh")
    xb = causal_conv(F.linear(x, p[q_ + "w_x"], p[q_ + "b_x"]), p[q_ + "conv_w"], p[q_ + "conv_b"])
    r = torch.sigmoid(F.linear(xb, p[q_ + "w_a"], p[q_ + "b_a"]))
    i = torch.sigmoid(F.linear(xb, p[q_ + "w_i"], p[q_ + "b_i"]))
    a = torch.exp(-8.0 * r * F.softplus(-p[q_ + "lambda"]))
    h = torch.zeros(xb.shape[0], xb.shape[2])
    hs = []
    for t in range(x.shape[1]):
        h = a[:, t] * h + torch.sqrt(1 - a[:, t] ** 2) * (i[:, t] * xb[:, t])
        hs.append(h)
    return F.linear(torch.stack(hs, 1) * y, p[q_ + "w_out"], p[q_ + "b_out"])


def shift(x):
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], 1)


def rwkv_time_mix_inputs(p, q_, x):
    """Peng et al. 2023, eq. 11-13: token shift, the k, v, r projections, the per-step log decay
    w = -exp(time_decay) and the bonus u = time_first."""
    xx = shift(x)
    mix = lambda n: x * p[q_ + "time_mix_" + n] + xx * (1 - p[q_ + "time_mix_" + n])
    k = F.linear(mix("k"), p[q_ + "key.weight"])
    v = F.linear(mix("v"), p[q_ + "value.weight"])
    r = torch.sigmoid(F.linear(mix("r"), p[q_ + "receptance.weight"]))
    return k, v, r, -torch.exp(p[q_ + "time_decay"]), p[q_ + "time_first"]


def rwkv_time_mix(c, p, q_, x):
    """Peng et al. 2023, eq. 11-16 (the WKV sum written literally)."""
    k, v, r, w, u = rwkv_time_mix_inputs(p, q_, x)
    T = x.shape[1]
    outs = []
    for t in range(T):
        num = torch.exp(u + k[:, t]) * v[:, t]
        den = torch.exp(u + k[:, t])
        for i in range(t):
            e = torch.exp((t - 1 - i) * w + k[:, i])
            num = num + e * v[:, i]
            den = den + e
        outs.append(num / den)
    return F.linear(r * torch.stack(outs, 1), p[q_ + "output.weight"])


def rwkv_channel_mix(c, p, q_, x):
    """Peng et al. 2023, eq. 17-18."""
    xx = shift(x)
    xk = x * p[q_ + "time_mix_k"] + xx * (1 - p[q_ + "time_mix_k"])
    xr = x * p[q_ + "time_mix_r"] + xx * (1 - p[q_ + "time_mix_r"])
    r = torch.sigmoid(F.linear(xr, p[q_ + "receptance.weight"]))
    k = torch.relu(F.linear(xk, p[q_ + "key.weight"])) ** 2
    return r * F.linear(k, p[q_ + "value.weight"])


def retention(c, p, q_, x):
    """Sun et al. 2023, eq. 5 and 8-9: parallel retention, rotary q/k, per-head GroupNorm, swish gate."""
    B, T, C = x.shape
    H = c["n_heads"]
    D = C // H
    proj = lambda n: F.linear(x, p[q_ + n]).view(B, T, H, D).transpose(1, 2)
    q, k, v = rotate(proj("w_q"), 10000.0), rotate(proj("w_k"), 10000.0) / math.sqrt(D), proj("w_v")
    gam = torch.tensor([1 - 2.0 ** (-5 - h) for h in range(H)], dtype=torch.float64)
    n = torch.arange(T)
    diff = (n[:, None] - n[None, :]).double()
    dec = torch.where(diff >= 0, gam[:, None, None] ** diff.clamp(min=0), torch.zeros(1, dtype=torch.float64)).float()
    o = ((q @ k.transpose(-2, -1)) * dec) @ v  # (B,H,T,D)
    y = F.layer_norm(o.transpose(1, 2), (D,), eps=c.get("layer_norm_eps", 1e-5)).reshape(B, T, C)
    return F.linear(F.silu(F.linear(x, p[q_ + "w_g"])) * y, p[q_ + "w_o"])


def ffn(c, p, q_, kind, x):
    if kind == "channel_mix":
        return rwkv_channel_mix(c, p, q_, x)
    if kind == "swiglu":
        return F.linear(F.silu(F.linear(x, p[q_ + "w_gate"])) * F.linear(x, p[q_ + "w_in"]), p[q_ + "w_out"])
    return F.linear(F.gelu(F.linear(x, p[q_ + "w_in"], p.get(q_ + "b_in"))), p[q_ + "w_out"], p.get(q_ + "b_out"))


MIXERS = {"A": attention, "M": mamba, "R": griffin, "W": rwkv_time_mix, "T": retention}


def forward(c, p, ids):
    x = p["wte.weight"][ids]
    if "wpe.weight" in p:
        x = x + p["wpe.weight"][:ids.shape[1]]
    for i, (mk, fk) in enumerate(layout(c)):
        b = f"blocks.{i}."
        x = x + MIXERS[mk](c, p, b + MIXER_NAME[mk] + ".", norm(c, p, b + "ln1", x))
        x = x + ffn(c, p, b + ("channel_mix" if fk == "channel_mix" else "mlp") + ".", fk, norm(c, p, b + "ln2", x))
    x = norm(c, p, "ln_f", x)
    return F.linear(x, p["lm_head.weight"] if "lm_head.weight" in p else p["wte.weight"])


def build(name, cfg, seed):
    p = init_params(cfg, seed)
    g = torch.Generator().manual_seed(seed + 1)
    B, T = 2, cfg["n_ctx"]
    batch = torch.randint(0, cfg["vocab_size"], (B, T + 1), generator=g)
    logits = forward(cfg, p, batch[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
    loss.backward()
    out = {f"init.{n}": t.detach().clone() for n, t in p.items()}
    out["batch"] = batch.to(torch.int32)
    out["logits"] = logits.detach()
    out["loss"] = loss.detach().reshape(())
    for n, t in p.items():
        out[f"grad.{n}"] = t.grad.detach().clone()
    os.makedirs(OUT, exist_ok=True)
    ref.save_safetensors(os.path.join(OUT, f"zoo_{name}.safetensors"), out)
    info = {"model": cfg, "loss": loss.item(), "torch_version": torch.__version__}
    with open(os.path.join(OUT, f"zoo_{name}.json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    print(f"zoo_{name}: loss {loss.item():.6f}, {len(p)} parameters")


if __name__ == "__main__":
    torch.set_num_threads(1)
    only = sys.argv[1:]  # fixture names to (re)write; default all
    for i, (name, cfg) in enumerate(FIXTURES.items()):
        if not only or name in only:
            build(name, cfg, 100 + i)
