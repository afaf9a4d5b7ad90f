# Hostile-input campaign (docs/reliability.md): mutated model files against the built binary.
import json, os, random, re, shutil, struct, subprocess, sys, tempfile, collections
# Usage: mutate_files.py LMLAB CHECKPOINT GGUF WORKDIR N [SEED]. Each mutated file is loaded by
# `lmlab sample`; a signal, an exit status other than 0/1/2, or an escaped C++ exception is a
# finding, as is a safetensors file accepted although its tensors' offsets changed.
BIN, SRC, GGUF, WORK = sys.argv[1:5]; N = int(sys.argv[5]); random.seed(int(sys.argv[6]) if len(sys.argv) > 6 else 7)
HOSTILE = [0, -1, 1, 2**31, 2**31 - 1, 2**32 + 1, 2**62, 2**63 - 1, 2**63, 2**64 + 5, -2**63, 1e308, 1e-308, 0.5, "x", None, True, [], {}]
BAD = ("terminate called", "Sanitizer", "Segmentation", "double free", "corrupted", "Aborted", "what():")
res = collections.Counter(); bad = []
def run(args, tag):
    try:
        p = subprocess.run([BIN] + args, capture_output=True, timeout=60, text=True, errors="replace")
    except subprocess.TimeoutExpired:
        res[tag + ":timeout"] += 1; bad.append((tag, "timeout", args)); return None
    crash = p.returncode < 0 or p.returncode > 2 or any(b in p.stderr for b in BAD)
    if crash: bad.append((tag, p.returncode, p.stderr[-300:])); res[tag + ":CRASH"] += 1
    else: res[tag + (":ok" if p.returncode == 0 else ":rejected")] += 1
    if p.returncode != 0 and "error" not in p.stderr: res[tag + ":nonzero-without-error-line"] += 1
    return p
def mutate_json(obj):
    o = json.loads(json.dumps(obj))
    def paths(x, pre=()):
        if isinstance(x, dict):
            for k, v in x.items(): yield pre + (k,); yield from paths(v, pre + (k,))
        elif isinstance(x, list) and len(x) < 50:
            for i, v in enumerate(x): yield pre + (i,); yield from paths(v, pre + (i,))
    ps = list(paths(o))
    for _ in range(random.randint(1, 3)):
        p = random.choice(ps); parent = o
        for k in p[:-1]: parent = parent[k]
        try:
            if random.random() < 0.15 and isinstance(parent, dict): parent.pop(p[-1], None)
            else: parent[p[-1]] = random.choice(HOSTILE)
        except (KeyError, IndexError, TypeError): pass
    return o
def mutate_bytes(b, hot=None):
    b = bytearray(b)
    for _ in range(random.randint(1, 4)):
        r = random.random(); pos = random.randrange(hot if hot and random.random() < 0.8 else len(b))
        if r < 0.5: b[pos] = random.randrange(256)
        elif r < 0.7: del b[pos:pos + random.randint(1, 8)]
        elif r < 0.85: b[pos:pos] = bytes(random.randrange(256) for _ in range(random.randint(1, 8)))
        else:
            v = random.choice([0, 1, 2**31, 2**32 - 1, 2**63, 2**64 - 1, 0xFFFFFFFF0])
            b[pos:pos + 8] = struct.pack("<Q", v)
    return bytes(b)
work = tempfile.mkdtemp(prefix="mutate", dir=WORK)
def fresh():
    d = os.path.join(work, "ck"); shutil.rmtree(d, ignore_errors=True); shutil.copytree(SRC, d); return d
cfg = json.load(open(os.path.join(SRC, "config.json")))
tok = json.load(open(os.path.join(SRC, "tokenizer.json")))
st = open(os.path.join(SRC, "model.safetensors"), "rb").read(); hl = struct.unpack("<Q", st[:8])[0]
gg = open(GGUF, "rb").read()
for i in range(N):
    d = fresh(); json.dump(mutate_json(cfg), open(os.path.join(d, "config.json"), "w"))
    run(["sample", d, "--max-new-tokens", "3", "--prompt", "the"], "config.json")
for i in range(N):
    d = fresh(); json.dump(mutate_json(tok), open(os.path.join(d, "tokenizer.json"), "w"))
    run(["sample", d, "--max-new-tokens", "3", "--prompt", "the"], "tokenizer.json")
hdr_ok = 0
for i in range(N):
    d = fresh(); m = mutate_bytes(st, hot=8 + hl); open(os.path.join(d, "model.safetensors"), "wb").write(m)
    p = run(["sample", d, "--max-new-tokens", "3", "--prompt", "the"], "safetensors")
    if p is not None and p.returncode == 0 and m[:8 + hl] != st[:8 + hl] and len(m) == len(st):
        # accepted with a changed header: must be a change that keeps the layout (e.g. a name char)
        try:
            h = json.loads(m[8:8 + struct.unpack("<Q", m[:8])[0]])
            h0 = json.loads(st[8:8 + hl])
            if {k: v.get("data_offsets") for k, v in h.items() if isinstance(v, dict)} != {k: v.get("data_offsets") for k, v in h0.items() if isinstance(v, dict)}:
                bad.append(("safetensors", "accepted changed offsets", "")); res["safetensors:ACCEPTED-CHANGED-LAYOUT"] += 1
            else: hdr_ok += 1
        except Exception:
            bad.append(("safetensors", "accepted unparsable header", "")); res["safetensors:ACCEPTED-BAD-HEADER"] += 1
g = os.path.join(work, "m.gguf")
for i in range(N):
    open(g, "wb").write(mutate_bytes(gg, hot=min(len(gg), 60000)))
    run(["sample", g, "--max-new-tokens", "3", "--prompt", "Once"], "gguf")
for k, v in sorted(res.items()): print(f"{k}: {v}")
print("safetensors header changes accepted with identical layout:", hdr_ok)
for b in bad[:20]: print("FINDING", b)
shutil.rmtree(work, ignore_errors=True)
sys.exit(1 if bad else 0)
