#!/usr/bin/env python3
"""Reference numbers for tests/ops/test_posenc.cpp: RoPE inverse frequencies and attention
factors under each Hugging Face rope_type, and ALiBi slopes.

The rules are re-derived from transformers' src/transformers/modeling_rope_utils.py
(_compute_default/linear_scaling/dynamic_ntk/ntk/yarn/llama3_parameters, v4.4x) and from the
ALiBi authors' get_slopes (Press et al. 2022). Pure Python double precision (HF itself computes
in float32, so HF's tensors agree with these to ~1e-7 relative). Run: python3 scripts/ref/rope_ref.py
"""
import math


def default(theta, dim):
    return [1.0 / theta ** (2 * i / dim) for i in range(dim // 2)]


def linear(theta, dim, factor):
    return [f / factor for f in default(theta, dim)]


def dynamic(theta, dim, factor, max_pos, seq_len):
    length = seq_len if seq_len > max_pos else max_pos
    base = theta * (factor * length / max_pos - (factor - 1)) ** (dim / (dim - 2))
    return default(base, dim)


def ntk(theta, dim, factor):
    return default(theta * factor ** (dim / (dim - 2)), dim)


def yarn(theta, dim, factor, max_pos, beta_fast=32.0, beta_slow=1.0):
    mscale = 1.0 if factor <= 1 else 0.1 * math.log(factor) + 1.0

    def corr(rot):  # dimension index completing `rot` rotations over max_pos tokens
        return dim * math.log(max_pos / (rot * 2 * math.pi)) / (2 * math.log(theta))

    low = max(math.floor(corr(beta_fast)), 0)
    high = min(math.ceil(corr(beta_slow)), dim - 1)
    if low == high:
        high += 0.001
    out = []
    for i in range(dim // 2):
        pos = theta ** (2 * i / dim)
        ramp = min(max((i - low) / (high - low), 0.0), 1.0)
        keep = 1.0 - ramp
        out.append((1.0 / (factor * pos)) * (1 - keep) + (1.0 / pos) * keep)
    return out, mscale, low, high


def llama3(theta, dim, factor, low_ff, high_ff, old_ctx):
    out = []
    for f in default(theta, dim):
        wl = 2 * math.pi / f
        if wl > old_ctx / low_ff:
            out.append(f / factor)
        elif wl < old_ctx / high_ff:
            out.append(f)
        else:
            s = (old_ctx / wl - low_ff) / (high_ff - low_ff)
            out.append((1 - s) * f / factor + s * f)
    return out


def alibi(n):
    def pow2(m):
        start = 2 ** (-8.0 / m)
        return [start ** (i + 1) for i in range(m)]
    if math.log2(n).is_integer():
        return pow2(n)
    c = 2 ** math.floor(math.log2(n))
    return pow2(c) + alibi(2 * c)[0::2][: n - c]


def show(name, xs):
    print(f"{name}: {{{', '.join(repr(x) for x in xs)}}}")


if __name__ == "__main__":
    show("default theta=10000 dim=8", default(10000.0, 8))
    show("linear theta=10000 dim=8 factor=4", linear(10000.0, 8, 4.0))
    show("dynamic theta=10000 dim=8 factor=2 max_pos=2048 seq_len=4096", dynamic(10000.0, 8, 2.0, 2048, 4096))
    show("dynamic (seq_len 1000 <= max_pos: unscaled)", dynamic(10000.0, 8, 2.0, 2048, 1000))
    show("ntk theta=10000 dim=8 factor=4", ntk(10000.0, 8, 4.0))
    f, m, lo, hi = yarn(10000.0, 32, 4.0, 2048)
    print(f"yarn theta=10000 dim=32 factor=4 max_pos=2048: attention_factor {m!r}, ramp [{lo}, {hi}]")
    show("yarn inv_freq", f)
    show("llama3 theta=500000 dim=32 factor=8 low=1 high=4 old_ctx=8192", llama3(500000.0, 32, 8.0, 1.0, 4.0, 8192))
    show("alibi 8", alibi(8))
    show("alibi 12", alibi(12))
