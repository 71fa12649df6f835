#!/usr/bin/python3
"""Independent numpy reference for the dense DeepSeek-R1-Distill architectures.

The distilled R1 models are plain Qwen2 (R1-Distill-Qwen-*) and Llama (R1-Distill-Llama-*)
decoders. This script writes tiny random checkpoints in the Hugging Face layout (config.json +
model.safetensors) and computes their logits in float64, following the published semantics of
transformers' Qwen2ForCausalLM / LlamaForCausalLM:

  x = embed_tokens[ids]
  per layer:  h = x + o_proj(attn(rope(q_proj(n1(x))), rope(k_proj(n1(x))), v_proj(n1(x))))
              x = h + down_proj(silu(gate_proj(n2(h))) * up_proj(n2(h)))
  logits = lm_head(norm(x))        (lm_head = embed_tokens when tie_word_embeddings)

with y = x @ W^T for every projection (W is {out, in}), RMSNorm x / sqrt(mean(x^2) + eps) * w,
half-split ("rotate_half") RoPE, grouped-query attention in which query head h reads KV head
h // (n_head / n_head_kv), a causal softmax scaled by 1/sqrt(head_dim), and q/k/v biases
for Qwen2 only.

It uses nothing but the standard library and numpy (Debian's /usr/bin/python3 has numpy 1.24)
and none of dsrt's code, so it can check dsrt's engine from the outside.

Commands:
  make      --arch qwen2|llama --out DIR --seed S [--tie-embeddings] [--rope-scaling llama3]
            [--dtype f32|bf16|f16]
  logits    --model DIR --tokens 1,2,3 [--prefill-len K]
  selfcheck [--seed S]
"""

import argparse
import json
import math
import os
import struct
import sys
import tempfile

import numpy as np

# Shapes of the tiny models: small enough for a test, large enough to exercise GQA (4 query
# heads sharing 2 KV heads), more than one layer, and every RoPE frequency regime of llama3
# scaling (see llama3_inv_freq).
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=256, max_position_embeddings=512)

# rope_theta and rms_norm_eps as in the released distills (Qwen-1.5B/7B: 1e4 and 1e-6;
# Llama-8B: 5e5 and 1e-5).
ARCH_DEFAULTS = {
    "qwen2": dict(architectures=["Qwen2ForCausalLM"], rope_theta=10000.0, rms_norm_eps=1e-6,
                  use_sliding_window=False, sliding_window=4096, max_window_layers=2),
    "llama": dict(architectures=["LlamaForCausalLM"], rope_theta=500000.0, rms_norm_eps=1e-5,
                  attention_bias=False, mlp_bias=False),
}

# original_max_position_embeddings is 64 rather than the real 8192 so that, with head_dim 16,
# some frequencies fall in each of llama3's three bands (kept, interpolated, divided).
LLAMA3_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                  "high_freq_factor": 4.0, "original_max_position_embeddings": 64}

ST_DTYPES = {"f32": "F32", "bf16": "BF16", "f16": "F16"}
TORCH_DTYPES = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}


# ------------------------------------------------------------------------------------------
# bfloat16 and safetensors, by hand


def f32_to_bf16_bits(a):
    """Rounds float32 to bfloat16 (round to nearest, ties to even); returns uint16 bits."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def bf16_bits_to_f32(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def encode_tensor(a, dtype):
    """float32 array -> (safetensors dtype, little-endian bytes)."""
    if dtype == "f32":
        return "F32", a.astype("<f4").tobytes()
    if dtype == "f16":
        return "F16", a.astype("<f2").tobytes()
    if dtype == "bf16":
        return "BF16", f32_to_bf16_bits(a).astype("<u2").tobytes()
    raise ValueError("unknown dtype " + dtype)


def decode_tensor(st_dtype, shape, raw, where):
    """Bytes as stored -> float32 array (bf16/f16 widen exactly)."""
    if st_dtype == "F32":
        a = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    elif st_dtype == "F16":
        a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
    elif st_dtype == "BF16":
        a = bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2"))
    else:
        raise ValueError(f"{where}: unsupported dtype {st_dtype}")
    n = int(np.prod(shape)) if shape else 1
    if a.size != n:
        raise ValueError(f"{where}: {a.size} values for shape {shape}")
    return a.reshape(shape)


def write_safetensors(path, tensors, dtype):
    """safetensors: u64 LE header length, JSON header, then the raw data.

    Each header entry gives dtype, shape (outermost first) and data_offsets [begin, end)
    relative to the first byte after the header. The header is padded with spaces so the data
    starts 8-byte aligned, as the format allows and as Hugging Face's writer does.
    """
    header = {"__metadata__": {"format": "pt", "writer": "dsrt tests/scripts/dense_ref.py"}}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        st_dtype, raw = encode_tensor(tensors[name], dtype)
        header[name] = {"dtype": st_dtype, "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-(8 + len(hjson)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for raw in blobs:
            f.write(raw)


def read_safetensors(path):
    """-> {name: float32 array}, the values exactly as stored."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        if base + end > len(data):
            raise ValueError(f"{path}: tensor {name} runs past the end of the file")
        out[name] = decode_tensor(info["dtype"], info["shape"], data[base + begin:base + end],
                                  f"{path}: tensor {name}")
    return out


def read_model_tensors(model_dir):
    """model.safetensors, or the shards named by model.safetensors.index.json."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        tensors = {}
        for shard in shards:
            tensors.update(read_safetensors(os.path.join(model_dir, shard)))
        return tensors
    return read_safetensors(os.path.join(model_dir, "model.safetensors"))


# ------------------------------------------------------------------------------------------
# make


def make_config(arch, tie, rope_scaling, dtype):
    cfg = {"model_type": arch}
    cfg.update(ARCH_DEFAULTS[arch])
    cfg.update(TINY)
    cfg.update(hidden_act="silu", attention_dropout=0.0, initializer_range=0.02,
               tie_word_embeddings=bool(tie), torch_dtype=TORCH_DTYPES[dtype],
               bos_token_id=1, eos_token_id=2, use_cache=True)
    if rope_scaling == "llama3":
        cfg["rope_scaling"] = dict(LLAMA3_SCALING)
    return cfg


def make_tensors(cfg, seed):
    """Random weights: matrices and biases N(0, 0.02^2), norm weights 1 + 0.1 N(0, 1)."""
    rng = np.random.default_rng(seed)
    d = cfg["hidden_size"]
    n_head = cfg["num_attention_heads"]
    n_head_kv = cfg["num_key_value_heads"]
    head_dim = d // n_head
    n_ff = cfg["intermediate_size"]
    n_vocab = cfg["vocab_size"]

    def w(*shape):
        return (0.02 * rng.standard_normal(shape)).astype(np.float32)

    def norm(n):
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    t = {"model.embed_tokens.weight": w(n_vocab, d)}
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        t[p + "input_layernorm.weight"] = norm(d)
        t[p + "post_attention_layernorm.weight"] = norm(d)
        t[p + "self_attn.q_proj.weight"] = w(n_head * head_dim, d)
        t[p + "self_attn.k_proj.weight"] = w(n_head_kv * head_dim, d)
        t[p + "self_attn.v_proj.weight"] = w(n_head_kv * head_dim, d)
        t[p + "self_attn.o_proj.weight"] = w(d, n_head * head_dim)
        if cfg["model_type"] == "qwen2":  # Qwen2: biases on q/k/v, none on o
            t[p + "self_attn.q_proj.bias"] = w(n_head * head_dim)
            t[p + "self_attn.k_proj.bias"] = w(n_head_kv * head_dim)
            t[p + "self_attn.v_proj.bias"] = w(n_head_kv * head_dim)
        t[p + "mlp.gate_proj.weight"] = w(n_ff, d)
        t[p + "mlp.up_proj.weight"] = w(n_ff, d)
        t[p + "mlp.down_proj.weight"] = w(d, n_ff)
    t["model.norm.weight"] = norm(d)
    if not cfg["tie_word_embeddings"]:
        t["lm_head.weight"] = w(n_vocab, d)
    return t


def write_model(out_dir, cfg, tensors, dtype):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors, dtype)


# ------------------------------------------------------------------------------------------
# forward


def llama3_inv_freq(inv_freq, s):
    """Llama 3.1 frequency scaling (transformers rope_type "llama3").

    Wavelengths shorter than original_len / high_freq_factor are kept, those longer than
    original_len / low_freq_factor are divided by `factor`, and the band between blends the
    two linearly in original_len / wavelength. Its attention factor is 1, so cos/sin are not
    rescaled.
    """
    factor = s["factor"]
    low, high = s["low_freq_factor"], s["high_freq_factor"]
    old_len = s["original_max_position_embeddings"]
    wavelen = 2.0 * math.pi / inv_freq
    smooth = (old_len / wavelen - low) / (high - low)
    blended = (1.0 - smooth) * inv_freq / factor + smooth * inv_freq
    return np.where(wavelen < old_len / high, inv_freq,
                    np.where(wavelen > old_len / low, inv_freq / factor, blended))


def rope_inv_freq(cfg):
    head_dim = cfg["hidden_size"] // cfg["num_attention_heads"]
    # inv_freq_i = theta^(-2i / head_dim), i = 0 .. head_dim/2 - 1
    inv_freq = 1.0 / (cfg["rope_theta"] ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    scaling = cfg.get("rope_scaling") or None
    if scaling is not None:
        kind = scaling.get("rope_type", scaling.get("type"))
        if kind == "llama3":
            inv_freq = llama3_inv_freq(inv_freq, scaling)
        elif kind != "default":
            raise ValueError(f"rope_scaling type {kind!r} is not supported by this reference")
    return inv_freq


def apply_rope(x, pos, inv_freq):
    """Half-split RoPE on x {n_tok, n_heads, head_dim}: dimension i pairs with i + head_dim/2.

    HF's rotate_half form: x * cos + rotate_half(x) * sin with rotate_half(x) = [-x2, x1] and
    cos/sin of the angle pos * inv_freq repeated over both halves.
    """
    ang = pos[:, None].astype(np.float64) * inv_freq[None, :]  # {n_tok, head_dim/2}
    cos = np.concatenate([np.cos(ang), np.cos(ang)], axis=-1)[:, None, :]  # {n_tok, 1, head_dim}
    sin = np.concatenate([np.sin(ang), np.sin(ang)], axis=-1)[:, None, :]
    half = x.shape[-1] // 2
    rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rot * sin


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def forward(cfg, t, tokens):
    """Full causal forward in float64 over tokens {n_tok}; returns logits {n_tok, n_vocab}."""
    t = {k: v.astype(np.float64) for k, v in t.items()}
    d = cfg["hidden_size"]
    n_head = cfg["num_attention_heads"]
    n_head_kv = cfg.get("num_key_value_heads", n_head)
    head_dim = d // n_head
    n_rep = n_head // n_head_kv
    eps = cfg["rms_norm_eps"]
    n_tok = len(tokens)
    pos = np.arange(n_tok)
    inv_freq = rope_inv_freq(cfg)
    causal = np.tril(np.ones((n_tok, n_tok), dtype=bool))

    def linear(x, name):
        y = x @ t[name + ".weight"].T  # y = x W^T
        if name + ".bias" in t:
            y = y + t[name + ".bias"]
        return y

    x = t["model.embed_tokens.weight"][np.asarray(tokens)]  # {n_tok, d}
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms_norm(x, t[p + "input_layernorm.weight"], eps)
        q = linear(h, p + "self_attn.q_proj").reshape(n_tok, n_head, head_dim)
        k = linear(h, p + "self_attn.k_proj").reshape(n_tok, n_head_kv, head_dim)
        v = linear(h, p + "self_attn.v_proj").reshape(n_tok, n_head_kv, head_dim)
        q = apply_rope(q, pos, inv_freq)
        k = apply_rope(k, pos, inv_freq)
        # GQA: query head j uses KV head j // n_rep (HF repeat_kv).
        k = np.repeat(k, n_rep, axis=1)  # {n_tok, n_head, head_dim}
        v = np.repeat(v, n_rep, axis=1)
        scores = np.einsum("qhd,khd->hqk", q, k) / math.sqrt(head_dim)  # {n_head, n_tok, n_tok}
        scores = np.where(causal[None], scores, -np.inf)
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        attn = np.einsum("hqk,khd->qhd", probs, v).reshape(n_tok, n_head * head_dim)
        x = x + linear(attn, p + "self_attn.o_proj")
        h = rms_norm(x, t[p + "post_attention_layernorm.weight"], eps)
        ff = silu(linear(h, p + "mlp.gate_proj")) * linear(h, p + "mlp.up_proj")
        x = x + linear(ff, p + "mlp.down_proj")
    x = rms_norm(x, t["model.norm.weight"], eps)
    head = t["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else t["lm_head.weight"]
    return x @ head.T  # {n_tok, n_vocab}


def forward_last_naive(cfg, t, tokens):
    """A second, loop-by-loop formulation of the last position's logits, for selfcheck.

    It shares nothing with forward() but the weights: RoPE as a complex rotation of the pairs
    (x_i, x_{i+head_dim/2}), each query head looking up its KV head by integer division, and an
    explicit running softmax over the visible keys.
    """
    t = {k: v.astype(np.float64) for k, v in t.items()}
    d = cfg["hidden_size"]
    n_head = cfg["num_attention_heads"]
    n_head_kv = cfg["num_key_value_heads"]
    hd = d // n_head
    eps = cfg["rms_norm_eps"]
    inv_freq = rope_inv_freq(cfg)

    def lin(x, name):
        w = t[name + ".weight"]
        b = t.get(name + ".bias")
        return np.array([sum(w[o, i] * x[i] for i in range(len(x))) + (0 if b is None else b[o])
                         for o in range(w.shape[0])])

    def norm(x, w):
        return x * w / math.sqrt(sum(v * v for v in x) / len(x) + eps)

    def rope(vec, p):
        z = (vec[:hd // 2] + 1j * vec[hd // 2:]) * np.exp(1j * p * inv_freq)
        return np.concatenate([z.real, z.imag])

    xs = [t["model.embed_tokens.weight"][tok].copy() for tok in tokens]
    for layer in range(cfg["num_hidden_layers"]):
        pre = f"model.layers.{layer}."
        hs = [norm(x, t[pre + "input_layernorm.weight"]) for x in xs]
        qs = [lin(h, pre + "self_attn.q_proj") for h in hs]
        ks = [lin(h, pre + "self_attn.k_proj") for h in hs]
        vs = [lin(h, pre + "self_attn.v_proj") for h in hs]
        new_xs = []
        for p in range(len(xs)):
            out = np.zeros(n_head * hd)
            for head in range(n_head):
                kv = head // (n_head // n_head_kv)
                q = rope(qs[p][head * hd:(head + 1) * hd], p)
                scores = [float(q @ rope(ks[j][kv * hd:(kv + 1) * hd], j)) / math.sqrt(hd)
                          for j in range(p + 1)]
                m = max(scores)
                e = [math.exp(sc - m) for sc in scores]
                for j in range(p + 1):
                    out[head * hd:(head + 1) * hd] += e[j] / sum(e) * vs[j][kv * hd:(kv + 1) * hd]
            x = xs[p] + lin(out, pre + "self_attn.o_proj")
            h = norm(x, t[pre + "post_attention_layernorm.weight"])
            g = lin(h, pre + "mlp.gate_proj")
            u = lin(h, pre + "mlp.up_proj")
            new_xs.append(x + lin(np.array([gi / (1 + math.exp(-gi)) * ui for gi, ui in zip(g, u)]),
                                  pre + "mlp.down_proj"))
        xs = new_xs
    x = norm(xs[-1], t["model.norm.weight"])
    head = t["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else t["lm_head.weight"]
    return head @ x


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") not in ARCH_DEFAULTS:
        raise ValueError(f"{model_dir}/config.json: model_type {cfg.get('model_type')!r} is not "
                         "qwen2 or llama")
    t = read_model_tensors(model_dir)
    if cfg.get("tie_word_embeddings") and "lm_head.weight" in t:
        # Some tied checkpoints still store the (identical) head; the embedding is what is used.
        del t["lm_head.weight"]
    return cfg, t


def logits_rows(cfg, t, tokens, prefill_len=None):
    logits = forward(cfg, t, tokens)
    first = 0 if prefill_len is None else prefill_len - 1
    return {"n_vocab": cfg["vocab_size"],
            "rows": [{"pos": p, "logits": [float(v) for v in logits[p]]}
                     for p in range(first, len(tokens))]}


# ------------------------------------------------------------------------------------------
# selfcheck


def selfcheck(seed):
    """Properties the reference must have; prints one line per check, exits 1 on failure."""
    failures = []

    def check(name, ok, detail=""):
        print(("ok    " if ok else "FAIL  ") + name + (f"  ({detail})" if detail else ""))
        if not ok:
            failures.append(name)

    rng = np.random.default_rng(seed + 1000)
    tokens = [int(x) for x in rng.integers(0, TINY["vocab_size"], 12)]
    with tempfile.TemporaryDirectory() as tmp:
        for arch, scaling in [("qwen2", None), ("llama", None), ("llama", "llama3")]:
            tag = arch + ("+llama3" if scaling else "")
            cfg = make_config(arch, False, scaling, "f32")
            t = make_tensors(cfg, seed)
            d = os.path.join(tmp, tag)
            write_model(d, cfg, t, "f32")
            cfg2, t2 = load_model(d)
            check(f"{tag}: safetensors round trip is exact",
                  cfg2 == cfg and t2.keys() == t.keys() and
                  all(np.array_equal(t[k], t2[k]) for k in t))
            full = forward(cfg2, t2, tokens)
            # Causality: changing later tokens leaves earlier positions bit-identical (every
            # op is row-wise except attention, whose masked scores are exactly zero weights).
            for p in (0, 5):
                other = tokens[:p + 1] + [(x + 7) % TINY["vocab_size"] for x in tokens[p + 1:]]
                alt = forward(cfg2, t2, other)
                check(f"{tag}: positions <= {p} ignore later tokens",
                      np.array_equal(full[:p + 1], alt[:p + 1]) and
                      not np.allclose(full[p + 1:], alt[p + 1:]))
            naive = forward_last_naive(cfg2, t2, tokens[:5])
            err = np.max(np.abs(naive - full[4]))
            check(f"{tag}: loop-by-loop twin agrees", err < 1e-10, f"max abs diff {err:.2g}")
            # A prefix forward equals the full forward on the prefix (what a KV cache gives).
            pre = forward(cfg2, t2, tokens[:7])
            check(f"{tag}: prefix forward matches", np.allclose(pre, full[:7], rtol=0, atol=1e-12))
            # GQA convention: the same model written as MHA, KV head j // n_rep copied to
            # query head j, must give the same logits.
            n_rep = cfg["num_attention_heads"] // cfg["num_key_value_heads"]
            hd = cfg["hidden_size"] // cfg["num_attention_heads"]
            mha_cfg = dict(cfg, num_key_value_heads=cfg["num_attention_heads"])
            mha = dict(t)
            for k in list(t):
                if any(s in k for s in ("k_proj", "v_proj")):
                    rows = t[k].reshape(cfg["num_key_value_heads"], hd, *t[k].shape[1:])
                    mha[k] = np.repeat(rows, n_rep, axis=0).reshape(-1, *t[k].shape[1:])
            check(f"{tag}: GQA equals MHA with repeated KV heads",
                  np.allclose(forward(mha_cfg, mha, tokens), full, rtol=0, atol=1e-12))

        # RoPE: the score between rotated q and k depends only on the position difference.
        cfg = make_config("llama", False, "llama3", "f32")
        inv = rope_inv_freq(cfg)
        q = rng.standard_normal((1, 1, 16))
        k = rng.standard_normal((1, 1, 16))
        s1 = np.sum(apply_rope(q, np.array([9]), inv) * apply_rope(k, np.array([4]), inv))
        s2 = np.sum(apply_rope(q, np.array([105]), inv) * apply_rope(k, np.array([100]), inv))
        check("rope: q.k depends only on the relative position", abs(s1 - s2) < 1e-9)
        # llama3 scaling leaves the fastest frequency, divides the slowest, and has all three
        # bands in the tiny model.
        base = 1.0 / (cfg["rope_theta"] ** (np.arange(0, 16, 2) / 16.0))
        wl = 2 * math.pi / base
        bands = {"high": np.sum(wl < 16), "mid": np.sum((wl >= 16) & (wl <= 64)), "low": np.sum(wl > 64)}
        check("llama3: keeps high, divides low frequencies",
              inv[0] == base[0] and np.allclose(inv[-1], base[-1] / 8.0) and min(bands.values()) > 0,
              f"bands {bands}")

        # Tied embeddings: no lm_head tensor, and the logits equal those of an untied model
        # whose lm_head is a copy of the embedding.
        cfg = make_config("qwen2", True, None, "f32")
        t = make_tensors(cfg, seed)
        d = os.path.join(tmp, "tied")
        write_model(d, cfg, t, "f32")
        cfg2, t2 = load_model(d)
        untied = dict(t2, **{"lm_head.weight": t2["model.embed_tokens.weight"]})
        check("tied: no lm_head.weight stored", "lm_head.weight" not in t2)
        check("tied: equals untied with lm_head = embed_tokens",
              np.array_equal(forward(cfg2, t2, tokens),
                             forward(dict(cfg2, tie_word_embeddings=False), untied, tokens)))

        # bf16/f16: the stored values are the rounded weights, and the forward uses them.
        for dtype, tol in (("bf16", 2.0 ** -8), ("f16", 2.0 ** -11)):
            cfg = make_config("llama", False, None, dtype)
            t = make_tensors(cfg, seed)
            d = os.path.join(tmp, dtype)
            write_model(d, cfg, t, dtype)
            _, t2 = load_model(d)
            w, w2 = t["model.embed_tokens.weight"], t2["model.embed_tokens.weight"]
            # Round to nearest: relative error at most half an ulp (2^-8 bf16, 2^-11 f16)
            # for numbers that stay normal; f16's smallest normal is 2^-14, and some of the
            # 0.02-scale weights fall below it.
            normal = np.abs(w) >= 2.0 ** -14
            rel = np.max(np.abs(w2 - w)[normal] / np.abs(w)[normal])
            check(f"{dtype}: stored weights are rounded to nearest", rel <= tol and rel > 0,
                  f"max rel err {rel:.3g}")
        bits = f32_to_bf16_bits(np.array([1.0, 1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8,
                                          -2.5], dtype=np.float32))
        check("bf16: ties round to even",
              list(bits) == [0x3F80, 0x3F80, 0x3F82, 0xC020], str([hex(b) for b in bits]))

    print("selfcheck: " + ("all passed" if not failures else f"{len(failures)} FAILED"))
    return 0 if not failures else 1


# ------------------------------------------------------------------------------------------
# CLI


def parse_tokens(s):
    try:
        return [int(x) for x in s.split(",") if x.strip() != ""]
    except ValueError:
        raise SystemExit(f"dense_ref: --tokens must be comma-separated integers, got {s!r}")


def main(argv):
    ap = argparse.ArgumentParser(prog="dense_ref.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make", help="write a tiny random checkpoint")
    m.add_argument("--arch", choices=sorted(ARCH_DEFAULTS), required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--seed", type=int, required=True)
    m.add_argument("--tie-embeddings", action="store_true")
    m.add_argument("--rope-scaling", choices=["llama3"])
    m.add_argument("--dtype", choices=sorted(ST_DTYPES), default="f32")
    lg = sub.add_parser("logits", help="print reference logits as JSON")
    lg.add_argument("--model", required=True)
    lg.add_argument("--tokens", required=True)
    lg.add_argument("--prefill-len", type=int)
    sc = sub.add_parser("selfcheck", help="check the reference's own properties")
    sc.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    if a.cmd == "make":
        cfg = make_config(a.arch, a.tie_embeddings, a.rope_scaling, a.dtype)
        write_model(a.out, cfg, make_tensors(cfg, a.seed), a.dtype)
        return 0
    if a.cmd == "logits":
        cfg, t = load_model(a.model)
        tokens = parse_tokens(a.tokens)
        if not tokens:
            raise SystemExit("dense_ref: --tokens is empty")
        bad = [x for x in tokens if not 0 <= x < cfg["vocab_size"]]
        if bad:
            raise SystemExit(f"dense_ref: token ids {bad} outside [0, {cfg['vocab_size']})")
        if a.prefill_len is not None and not 1 <= a.prefill_len <= len(tokens):
            raise SystemExit(f"dense_ref: --prefill-len must be in [1, {len(tokens)}]")
        json.dump(logits_rows(cfg, t, tokens, a.prefill_len), sys.stdout)
        sys.stdout.write("\n")
        return 0
    return selfcheck(a.seed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
