#!/usr/bin/python3
"""Golden fixtures for loading Hugging Face LLaMA-family checkpoints (src/models/hf_llama.hpp):
tiny randomly initialised models written exactly as Hugging Face lays them out (config.json +
model.safetensors, or shards + model.safetensors.index.json, parameter names
model.layers.N.self_attn.q_proj.weight, ...), and the logits of a plain-PyTorch LLaMA forward
written here from the architecture (RMSNorm, rotate_half RoPE, GQA by repeating KV heads,
SwiGLU MLP, Qwen2's q/k/v biases, tied or untied head). No transformers library is used.

Weights are rounded to the stored dtype (BF16 or F16) before the forward runs in float32, so
the C++ loader (which widens them to f32) must reproduce the logits to float rounding.
tests/golden/test_hf_llama.cpp loads each folder and compares |a-b| <= atol + rtol*|b|.

Run from the repository root:  /usr/bin/python3 scripts/ref/hf_llama_ref.py
Output: tests/golden/fixtures/hf_<name>/ (commit them; about 100 KB in all).
Not for: CI (needs python3-torch); the fixtures are committed instead.
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmlab_ref as ref  # noqa: E402  (safetensors writer)

OUT = os.path.join("tests", "golden", "fixtures")

BASE = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-6, rope_theta=10000.0,
            hidden_act="silu")

FIXTURES = {
    # LLaMA: GQA 4/2, untied head, BF16, one file.
    "llama": dict(config=dict(BASE, architectures=["LlamaForCausalLM"], model_type="llama", tie_word_embeddings=False,
                              torch_dtype="bfloat16"), dtype="BF16", shards=1),
    # Qwen2: q/k/v biases, tied embeddings, F16, two shards with an index.
    "qwen2": dict(config=dict(BASE, architectures=["Qwen2ForCausalLM"], model_type="qwen2", tie_word_embeddings=True,
                              rope_theta=1000000.0, torch_dtype="float16", use_sliding_window=False),
                  dtype="F16", shards=2),
    # Mistral: MQA (1 KV head), linear RoPE scaling factor 2, BF16.
    "mistral": dict(config=dict(BASE, architectures=["MistralForCausalLM"], model_type="mistral", num_key_value_heads=1,
                                tie_word_embeddings=False, sliding_window=None, torch_dtype="bfloat16",
                                rope_scaling={"type": "linear", "factor": 2.0}), dtype="BF16", shards=1),
}

IDS = [[1, 5, 9, 17, 33, 2, 40, 63, 0, 12, 7, 21]]


def make_weights(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    C, V, M = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
    H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = C // H
    bias = cfg["model_type"] == "qwen2"
    w = {"model.embed_tokens.weight": torch.randn(V, C, generator=g) * 0.5}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(C, generator=g)
        w[p + "self_attn.q_proj.weight"] = torch.randn(H * D, C, generator=g) * 0.2
        w[p + "self_attn.k_proj.weight"] = torch.randn(Hkv * D, C, generator=g) * 0.2
        w[p + "self_attn.v_proj.weight"] = torch.randn(Hkv * D, C, generator=g) * 0.2
        if bias:
            w[p + "self_attn.q_proj.bias"] = torch.randn(H * D, generator=g) * 0.1
            w[p + "self_attn.k_proj.bias"] = torch.randn(Hkv * D, generator=g) * 0.1
            w[p + "self_attn.v_proj.bias"] = torch.randn(Hkv * D, generator=g) * 0.1
        w[p + "self_attn.o_proj.weight"] = torch.randn(C, H * D, generator=g) * 0.2
        w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(C, generator=g)
        w[p + "mlp.gate_proj.weight"] = torch.randn(M, C, generator=g) * 0.2
        w[p + "mlp.up_proj.weight"] = torch.randn(M, C, generator=g) * 0.2
        w[p + "mlp.down_proj.weight"] = torch.randn(C, M, generator=g) * 0.2
    w["model.norm.weight"] = 1 + 0.1 * torch.randn(C, generator=g)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = torch.randn(V, C, generator=g) * 0.2
    return w


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def forward(cfg, w, ids):
    """Plain LLaMA forward: ids (B, T) -> logits (B, T, V), float32."""
    C, H, Hkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = C // H
    eps = cfg["rms_norm_eps"]
    B, T = ids.shape
    # ref: Su et al. 2021 (RoFormer) eq. 34 with the half-split pairing of HF's rotate_half;
    # linear scaling (Chen et al. 2023, position interpolation) divides positions by the factor.
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    pos = torch.arange(T, dtype=torch.float64)
    rs = cfg.get("rope_scaling")
    if rs:
        pos = pos / rs["factor"]
    ang = torch.outer(pos, inv)
    cos = torch.cat([ang.cos(), ang.cos()], -1).float()
    sin = torch.cat([ang.sin(), ang.sin()], -1).float()
    x = w["model.embed_tokens.weight"][ids]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)

        def proj(name, heads):
            y = h @ w[p + name + ".weight"].T
            if p + name + ".bias" in w:
                y = y + w[p + name + ".bias"]
            return y.view(B, T, heads, D).transpose(1, 2)

        q, k, v = proj("self_attn.q_proj", H), proj("self_attn.k_proj", Hkv), proj("self_attn.v_proj", Hkv)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // Hkv, dim=1)
        v = v.repeat_interleave(H // Hkv, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D) + mask, dim=-1)
        z = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + z @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].T)
        x = x + (gate * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return x @ head.T


def write_safetensors(path, tensors, dtype):
    """Safetensors with every tensor in `dtype` (F16/BF16 raw bits, little-endian), or F32/I32."""
    enc = {}
    for name, t in tensors.items():
        if dtype == "BF16":
            b = t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
        elif dtype == "F16":
            b = t.to(torch.float16).numpy().tobytes()
        elif dtype == "I32":
            b = t.to(torch.int32).numpy().tobytes()
        else:
            b = t.to(torch.float32).numpy().tobytes()
        enc[name] = (dtype, list(t.shape), b)
    ref.save_safetensors(path, enc, {"format": "pt"})


def main():
    for seed, (name, fx) in enumerate(FIXTURES.items()):
        cfg = fx["config"]
        d = os.path.join(OUT, "hf_" + name)
        os.makedirs(d, exist_ok=True)
        w = make_weights(cfg, 1234 + seed)
        tdt = torch.bfloat16 if fx["dtype"] == "BF16" else torch.float16
        w = {k: v.to(tdt).float() for k, v in w.items()}  # the stored values
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        names = list(w)
        if fx["shards"] == 1:
            write_safetensors(os.path.join(d, "model.safetensors"), w, fx["dtype"])
        else:
            n, cut = fx["shards"], (len(names) + 1) // 2
            parts = [names[:cut], names[cut:]]
            weight_map = {}
            for i, part in enumerate(parts):
                fn = f"model-{i + 1:05d}-of-{n:05d}.safetensors"
                write_safetensors(os.path.join(d, fn), {k: w[k] for k in part}, fx["dtype"])
                weight_map.update({k: fn for k in part})
            with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {"total_size": sum(v.numel() * 2 for v in w.values())}, "weight_map": weight_map}, f,
                          indent=2)
                f.write("\n")
        ids = torch.tensor(IDS)
        with torch.no_grad():
            logits = forward(cfg, w, ids)
        write_safetensors(os.path.join(d, "golden.safetensors"), {"ids": ids}, "I32")
        # logits in F32 (a second file keeps the writer one-dtype-per-file).
        write_safetensors(os.path.join(d, "golden_logits.safetensors"), {"logits": logits}, "F32")
        print(f"{d}: {sum(v.numel() for v in w.values())} parameters, logits {tuple(logits.shape)}")


if __name__ == "__main__":
    main()
