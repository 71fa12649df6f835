#!/usr/bin/env python3
"""Builds the vendored GGUF test data in this folder from ../shared/data/gguf (stdlib only).

Whole files are copied byte for byte. The *.excerpt.gguf files hold tensors whose data bytes
are copied unchanged from a llama.cpp-written file (a tensor, or its first rows), written as
GGUF v3 by this script (an implementation independent of dsrt's writer). dequant_vectors.json
is the matching subset of the shared one, with data_offset_in_file rewritten to the true
absolute offset (the shared file's values are shifted by a constant per file).

Usage: python3 tests/data/gguf/make_vendored.py [shared_gguf_dir]
"""
import json
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../../shared/data/gguf")
COMMIT = "34af94cd9ab277632e27caeec2d41de2fd091b31"

WHOLE = ["dense/tiny-llama-q2_k.gguf", "deepseek/v2lite-tiny-q4_0.gguf"]
# (source file, tensor, rows to keep or None for all, keep its dequant vectors)
EXCERPTS = {
    "tiny-qwen2-q4_1.excerpt.gguf": ("dense/tiny-qwen2-q4_1.gguf", [("blk.0.attn_k.weight", None)]),
    "tiny-qwen2-q5_1.excerpt.gguf": ("dense/tiny-qwen2-q5_1.gguf", [("blk.0.attn_k.weight", None)]),
    "tiny-qwen2-q5_k_m.excerpt.gguf": ("dense/tiny-qwen2-q5_k_m.gguf",
                                       [("blk.0.attn_k.weight", None)]),
    "v3-tiny-q4_k_m.excerpt.gguf": ("deepseek/v3-tiny-q4_k_m.gguf",
                                    [("blk.0.attn_k_b.weight", None),
                                     ("blk.2.ffn_down_exps.weight", None),
                                     ("token_embd.weight", 64), ("output.weight", 64)]),
    # The F32 source llama-quantize made v3-tiny-q4_k_m from: quantizer parity tests.
    "v3-tiny-f32.excerpt.gguf": ("deepseek/v3-tiny-f32.gguf",
                                 [("blk.0.attn_k_b.weight", None),
                                  ("blk.2.ffn_down_exps.weight", 256),
                                  ("token_embd.weight", 64), ("output.weight", 64)]),
}
TYPES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
         10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210)}


def read_gguf(path):
    """Returns (alignment, data_offset, {name: (ne, type, abs_offset, nbytes)})."""
    b = open(path, "rb").read()
    assert b[:4] == b"GGUF"
    pos = 4
    def rd(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, b, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]
    def rstr():
        nonlocal pos
        n = rd("Q"); s = b[pos:pos + n]; pos += n; return s.decode()
    sizes = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "B", 10: "Q", 11: "q", 12: "d"}
    def rval(t):
        if t == 8: return rstr()
        if t == 9:
            et = rd("I"); n = rd("Q"); return [rval(et) for _ in range(n)]
        return rd(sizes[t])
    version = rd("I"); n_t = rd("Q"); n_kv = rd("Q")
    align = 32
    for _ in range(n_kv):
        k = rstr(); v = rval(rd("I"))
        if k == "general.alignment": align = v
    infos = []
    for _ in range(n_t):
        name = rstr(); nd = rd("I"); ne = [rd("Q") for _ in range(nd)]; t = rd("I"); off = rd("Q")
        infos.append((name, ne, t, off))
    data = (pos + align - 1) // align * align
    out = {}
    for name, ne, t, off in infos:
        bs, bb = TYPES[t]
        n = ne[0] // bs * bb
        for d in ne[1:]: n *= d
        out[name] = (ne, t, data + off, n)
    return b, out


def write_gguf(path, kvs, tensors, align=32):
    def s(x):
        x = x.encode(); return struct.pack("<Q", len(x)) + x
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, v in kvs:
        head += s(k) + struct.pack("<I", 8) + s(v)
    off = 0
    offsets = []
    for name, ne, t, data in tensors:
        head += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        head += struct.pack("<IQ", t, off)
        offsets.append(off)
        off = (off + len(data) + align - 1) // align * align
    head += b"\0" * ((-len(head)) % align)
    with open(path, "wb") as f:
        f.write(head)
        for _, _, _, data in tensors:
            f.write(data + b"\0" * ((-len(data)) % align))
    return {name: len(head) + o for (name, _, _, _), o in zip(tensors, offsets)}


def main():
    vectors = json.load(open(os.path.join(SRC, "dequant_vectors.json")))
    subset = {"format": vectors["format"],
              "comment": vectors["comment"] + "; subset for the vendored files (see README.md)",
              "files": {}}
    for rel in WHOLE:
        name = os.path.basename(rel)
        shutil.copyfile(os.path.join(SRC, rel), os.path.join(HERE, name))
        # The shared file's data_offset_in_file is not the absolute offset (it is shifted by a
        # constant per file); write the true one, read from the file itself.
        _, infos = read_gguf(os.path.join(SRC, rel))
        entries = []
        for e in vectors["files"][name]:
            e = dict(e)
            e["data_offset_in_file"] = infos[e["tensor"]][2]
            entries.append(e)
        subset["files"][name] = entries
    for out_name, (rel, picks) in EXCERPTS.items():
        blob, infos = read_gguf(os.path.join(SRC, rel))
        tensors = []
        for tname, rows in picks:
            ne, t, off, n = infos[tname]
            ne = list(ne)
            if rows is not None:
                bs, bb = TYPES[t]
                row_bytes = ne[0] // bs * bb
                n = rows * row_bytes
                # Keep the first `rows` rows; fold them into ne1 and set the outer dims to 1.
                assert rows <= ne[1]
                ne = [ne[0], rows] + [1] * (len(ne) - 2)
            tensors.append((tname, ne, t, blob[off:off + n]))
        src_name = os.path.basename(rel)
        kvs = [("general.name", "dsrt test excerpt of " + src_name),
               ("dsrt.excerpt.source", src_name),
               ("dsrt.excerpt.llama_cpp_commit", COMMIT)]
        offsets = write_gguf(os.path.join(HERE, out_name), kvs, tensors)
        entries = []
        for e in vectors["files"].get(src_name, []):
            if e["tensor"] in offsets and dict(picks)[e["tensor"]] is None:
                e = dict(e)
                e["data_offset_in_file"] = offsets[e["tensor"]]
                entries.append(e)
        if entries:
            subset["files"][out_name] = entries
    with open(os.path.join(HERE, "dequant_vectors.json"), "w") as f:
        json.dump(subset, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
