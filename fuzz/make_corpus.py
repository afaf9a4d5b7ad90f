#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<name>/ (committed; rerun only
to change the seeds). Small, valid inputs of each format plus a few near misses, so that the
fuzzer starts from the structure instead of finding it byte by byte.
Not for: crash inputs (save those beside the seeds by hand, named crash-<what>)."""
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def out(name, file, data):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, file), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None, pad=True):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def fnv1a64(data, h=0xCBF29CE484222325):
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def token_file(ids, vocab):
    width = 2 if vocab <= 65536 else 4
    payload = b"".join(struct.pack("<H" if width == 2 else "<I", i) for i in ids)
    h = b"LMLABTOK" + struct.pack("<IIQII", 1, width, len(ids), vocab, 0) + struct.pack("<Q", fnv1a64(payload)) + b"\0" * 16
    return h + struct.pack("<Q", fnv1a64(h)) + payload


def gpt2_bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


GGUF_STR, GGUF_ARR, GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL = 8, 9, 4, 5, 6, 7


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_value(t, v):
    if t == GGUF_STR:
        return gguf_str(v)
    if t == GGUF_ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gguf_value(et, x) for x in items)
    return struct.pack({GGUF_U32: "<I", GGUF_I32: "<i", GGUF_F32: "<f", GGUF_BOOL: "<?"}[t], v)


def gguf(kvs, tensors, version=3, alignment=32):
    """GGUF (spec: ggml's docs/gguf.md): header, metadata, tensor infos (ne0 first), padding to
    the alignment, then each tensor's bytes at an aligned offset."""
    head = b"GGUF" + struct.pack("<I", version) + struct.pack("<QQ", len(tensors), len(kvs))
    head += b"".join(gguf_str(k) + struct.pack("<I", t) + gguf_value(t, v) for k, t, v in kvs)
    data, infos = b"", b""
    for name, ne, ggml_type, raw in tensors:
        data += b"\0" * ((alignment - len(data) % alignment) % alignment)
        infos += gguf_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        infos += struct.pack("<IQ", ggml_type, len(data))
        data += raw
    data += b"\0" * ((alignment - len(data) % alignment) % alignment)  # the last tensor is padded too
    body = head + infos
    return body + b"\0" * ((alignment - len(body) % alignment) % alignment) + data


def gguf_seeds():
    """Seeds for fuzz_gguf: F32/F16/Q8_0/Q4_0 tensors, v2 and v3, and the two vocabulary kinds
    (SentencePiece-style 'llama' with byte tokens, GPT-2 byte-level BPE with merges)."""
    q8 = struct.pack("<e", 0.5) + bytes(range(32))                    # Q8_0: f16 scale + 32 int8
    q4 = struct.pack("<e", 0.25) + bytes((i * 17) & 255 for i in range(16))  # Q4_0: f16 + 16 nibble pairs
    f16 = b"".join(struct.pack("<e", x) for x in (1.0, -2.0, 0.5, 3.0))
    tensors = [("w", [2, 2], 0, struct.pack("<4f", 1, 2, 3, 4)), ("h", [4], 1, f16), ("q8", [32], 8, q8), ("q4", [32], 2, q4)]
    out("gguf", "tensors_v3", gguf([("general.architecture", GGUF_STR, "llama")], tensors))
    out("gguf", "tensors_v2_align64", gguf([("general.alignment", GGUF_U32, 64)], tensors[:2], version=2, alignment=64))
    spm = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + ["\u2581", "\u2581a", "b", "ab"]
    out("gguf", "vocab_llama", gguf([
        ("tokenizer.ggml.model", GGUF_STR, "llama"),
        ("tokenizer.ggml.tokens", GGUF_ARR, (GGUF_STR, spm)),
        ("tokenizer.ggml.scores", GGUF_ARR, (GGUF_F32, [0.0] * 259 + [-1.0, -2.0, -3.0, -4.0])),
        ("tokenizer.ggml.token_type", GGUF_ARR, (GGUF_I32, [2, 3, 3] + [6] * 256 + [1] * 4)),
        ("tokenizer.ggml.add_bos_token", GGUF_BOOL, True)], []))
    b2u = gpt2_bytes_to_unicode()
    gpt2 = [b2u[b] for b in range(256)] + ["He", "ll", "Hell"]
    out("gguf", "vocab_gpt2", gguf([
        ("tokenizer.ggml.model", GGUF_STR, "gpt2"),
        ("tokenizer.ggml.tokens", GGUF_ARR, (GGUF_STR, gpt2)),
        ("tokenizer.ggml.merges", GGUF_ARR, (GGUF_STR, ["H e", "l l", "He ll"]))], []))


def main():
    shutil.rmtree(os.path.join(HERE, "corpus"), ignore_errors=True)
    f32 = lambda *v: struct.pack("<%df" % len(v), *v)
    out("safetensors", "one_f32", safetensors({"w": ("F32", [2, 2], f32(1, 2, 3, 4))}))
    out("safetensors", "three_dtypes_metadata", safetensors(
        {"a": ("F32", [3], f32(0.5, -1, 2)), "b": ("I32", [2], struct.pack("<2i", -7, 1 << 30)),
         "c": ("F64", [1], struct.pack("<d", 0.1))}, {"format": "pt"}))
    out("safetensors", "empty_header", safetensors({}))
    out("safetensors", "zero_size_tensor", safetensors({"e": ("F32", [0, 4], b""), "x": ("F32", [1], f32(7))}))
    out("safetensors", "unpadded", safetensors({"w": ("F32", [1], f32(1))}, pad=False))

    lm = {"model_type": "lmlab-lm", "architectures": ["LmlabLM"], "vocab_size": 13, "hidden_size": 16,
          "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 32, "intermediate_size": 64,
          "tie_word_embeddings": True, "dropout": 0.0, "layer_norm_eps": 1e-5, "initializer_range": 0.02,
          "num_key_value_heads": 2, "bias": True, "layer_pattern": "A", "norm": "layernorm", "ffn": "gelu",
          "pos_encoding": "learned", "rope_theta": 10000.0, "rope_scaling": None, "sliding_window": 0,
          "attn_conv": 0, "num_experts": 8, "num_experts_per_tok": 2, "capacity_factor": 0.0,
          "router_aux_loss_coef": 0.01, "mod_capacity": 0.0, "mod_every": 2, "mod_aux_loss_coef": 0.01,
          "d_state": 4, "d_conv": 4, "expand": 2, "dt_rank": 0, "lru_width": 0, "torch_dtype": "float32"}
    out("config_json", "lmlab_lm_gpt", json.dumps(lm, indent=1))
    hybrid = dict(lm, layer_pattern="MA", pos_encoding="rope", ffn="moe", num_experts=4,
                  rope_scaling={"rope_type": "yarn", "factor": 2.0, "original_max_position_embeddings": 16})
    out("config_json", "lmlab_lm_hybrid_moe", json.dumps(hybrid, indent=1))
    out("config_json", "lmlab_lm_rwkv_retnet", json.dumps(dict(lm, layer_pattern="WT", ffn="swiglu", intermediate_size=0,
                                                                 norm="rmsnorm"), indent=1))
    out("config_json", "lmlab_gpt", json.dumps({"model_type": "lmlab-gpt", "vocab_size": 13, "hidden_size": 16,
                                                 "num_hidden_layers": 1, "num_attention_heads": 2,
                                                 "max_position_embeddings": 8, "intermediate_size": 32}))
    for m in ["llama-3-8b", "mixtral-8x7b", "deepseek-v3", "mamba-2.8b", "jamba-v0.1", "recurrentgemma-2b",
              "rwkv-4-169m", "falcon-7b", "gemma-2-9b"]:
        src = os.path.join(ROOT, "data", "plan", "models", m + ".json")
        if os.path.exists(src):
            with open(src, "rb") as f:
                out("config_json", "hf_" + m, f.read())

    chars = sorted(set(map(ord, "Hello, world! caf\u00e9"))) + [0xDCFF]  # the target's text; U+DCFF = raw 0xFF
    out("tokenizer_json", "char", json.dumps({"type": "char", "version": 1, "vocab_size": len(chars), "chars": chars}))
    b2u = gpt2_bytes_to_unicode()
    vocab = [b2u[b] for b in range(256)] + ["he", "ll", "hell", b2u[32] + "w"]
    merges = ["h e", "l l", "he ll", b2u[32] + " w"]
    out("tokenizer_json", "byte_bpe", json.dumps({"type": "byte_bpe", "version": 1, "pre_tokenizer": "gpt2",
                                                  "vocab": vocab, "merges": merges,
                                                  "special_tokens": {"<|endoftext|>": 260}}, ensure_ascii=False))

    out("token_file", "u16", token_file([0, 1, 2, 65535, 7], 65536))
    out("token_file", "u32", token_file([0, 50256, 65536, 100000], 100277))
    out("token_file", "empty", token_file([], 10))
    out("token_file", "short", token_file(list(range(40)), 50))

    import zlib
    out("corpus_text", "brown", b"\0The/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd ./.\n\n\tIt/pps said/vbd ./.")
    rx = b"X\n" + struct.pack(">iii", 2, 0x040200, 0x020300) + struct.pack(">ii", 16, 2) + \
        b"".join(struct.pack(">ii", 0x00040009, len(w)) + w for w in [b"Emma", b"Woodhouse"])
    out("corpus_text", "rdata_strsxp", b"\1" + rx)
    raw = b"It is a truth universally acknowledged." * 3
    out("corpus_text", "zlib", b"\2" + struct.pack("<H", len(raw)) + zlib.compress(raw))
    out("corpus_text", "osis", b"\3<w lemma=\"strong:H07225\">In the beginning</w> <transChange type=\"added\">God</transChange>"
        b" created<note>a note</note> the heaven.<milestone type=\"x-p\"/>")
    out("corpus_text", "html", b"\4<html><head><title>T</title><style>p{}</style></head><body><h1>Help &amp; "
        b"\xed\x95\x9c\xea\xb8\x80</h1><p>Text&nbsp;here &#x41;&#66;</p><script>x</script></body></html>")
    out("corpus_text", "jsonl", b'\5{"name": "a", "group": "g", "text": "one"}\n{"name": "b", "group": "g", "text": "two\\n"}\n')

    for src in ["tests/lab/fixtures/recall.toml", "tests/lab/fixtures/bad_unknown_key.toml", "configs/gpt-brown.toml"] + \
            ["experiments/" + f for f in sorted(os.listdir(os.path.join(ROOT, "experiments"))) if f.endswith(".toml")]:
        with open(os.path.join(ROOT, src), "rb") as f:
            out("toml_spec", os.path.basename(src).replace(".toml", ""), f.read())

    gguf_seeds()
    vlm_image_seeds()


def png_chunk(t, d):
    import zlib
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def png_bytes(w, h, depth, colour_type, rows, extra=b""):
    """A PNG of filter-0 rows (bytes each), with optional chunks (PLTE, tRNS) before IDAT."""
    import zlib
    chunk = png_chunk
    raw = b"".join(b"\0" + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def vlm_image_seeds():
    """fuzz_vlm_images: the first byte picks the reader (0 PNG, 1 JPEG, 2 IDX, 3 font, 4 emoji-test)."""
    chunk = png_chunk
    pal = png_bytes(2, 2, 4, 3, [b"\x01", b"\x10"], chunk(b"PLTE", b"\xff\0\0\0\0\xff") + chunk(b"tRNS", b"\x80"))
    out("vlm_images", "png_palette4", b"\0" + pal)
    out("vlm_images", "png_rgb", b"\0" + png_bytes(1, 1, 8, 2, [b"\xff\0\0"]))
    out("vlm_images", "png_grey2", b"\0" + png_bytes(3, 1, 2, 0, [b"\x1b"]))
    out("vlm_images", "jpeg_soi_only", b"\1\xff\xd8\xff\xd9")
    out("vlm_images", "idx", b"\2" + b"\0\0\x08\x02" + struct.pack(">II", 2, 3) + b"abcdef")
    # A colour bitmap font: cmap format 12 (U+1F600 -> glyph 1), CBLC (index format 1, image
    # format 17) and CBDT with the palette PNG above.
    cmap = struct.pack(">HHHHI", 0, 1, 3, 10, 12) + struct.pack(">HHIII", 12, 0, 28, 0, 1) + struct.pack(">III", 0x1F600, 0x1F600, 1)
    cbdt = struct.pack(">I", 0x30000) + b"\x10" * 5 + struct.pack(">I", len(pal)) + pal
    cblc = struct.pack(">HHI", 3, 0, 1) + struct.pack(">IIII", 56, 0, 1, 0) + b"\0" * 24 + struct.pack(">HHBBBb", 1, 1, 109, 109, 32, 1)
    cblc += struct.pack(">HHI", 1, 1, 8) + struct.pack(">HHI", 1, 17, 4) + struct.pack(">II", 0, len(cbdt) - 4)
    tables = [(b"CBDT", cbdt), (b"CBLC", cblc), (b"cmap", cmap)]
    font, body, at = struct.pack(">IH", 0x10000, len(tables)) + b"\0" * 6, b"", 12 + 16 * len(tables)
    for tag, d in tables:
        font += tag + struct.pack(">III", 0, at, len(d))
        body += d
        at += len(d)
    out("vlm_images", "font", b"\3" + font + body)
    out("vlm_images", "emoji_test", b"\4# group: Smileys & Emotion\n1F600 ; fully-qualified # \xf0\x9f\x98\x80 E1.0 grinning face\n"
        b"2764 FE0F ; fully-qualified # x E0.6 red heart\n1F44B 1F3FB ; fully-qualified # x E1.0 waving hand: light skin tone\n")


if __name__ == "__main__":
    main()
