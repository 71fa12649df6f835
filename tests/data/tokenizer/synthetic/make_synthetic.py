#!/usr/bin/env python3
"""Writes the tiny synthetic tokenizer.json files used by tests/tokenizer/test_synthetic.cpp.

Run from this folder: python3 make_synthetic.py. The outputs are committed; this script is
their provenance. Byte-level vocabs put the 256 byte-alphabet characters at ids 0..255 in
byte order, so id(b) == b for single bytes, and merges get ids from 256 on.
"""
import json


def byte_alphabet():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    m = dict(zip(bs, cs))
    return [chr(m[b]) for b in range(256)]


QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
         r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")
MERGES = [("H", "e"), ("l", "l"), ("He", "ll"), ("Hell", "o"), ("Ġ", "w"), ("o", "r"),
          ("Ġw", "or"), ("l", "d"), ("Ġwor", "ld"), ("1", "2"), ("12", "3")]


def byte_level_vocab(extra=()):
    vocab = {t: i for i, t in enumerate(byte_alphabet())}
    for a, b in MERGES:
        vocab.setdefault(a + b, len(vocab))
    for t in extra:
        vocab.setdefault(t, len(vocab))
    return vocab


def pre(regex):
    return {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}


def added(id_, content, special=True, **kw):
    d = {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": special}
    d.update(kw)
    return d


def write(name, obj):
    with open(name, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


# Qwen2 style: merges as [a, b] pairs, digits one by one, <|im_start|> / <|endoftext|>.
v = byte_level_vocab()
n = len(v)
write("qwen2_style.json", {
    "version": "1.0", "added_tokens": [added(n, "<|endoftext|>"), added(n + 1, "<|im_start|>"),
                                       added(n + 2, "<|im_end|>")],
    "normalizer": {"type": "NFC"}, "pre_tokenizer": pre(QWEN2), "post_processor": None,
    "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                "use_regex": False},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
              "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
              "ignore_merges": False, "vocab": v, "merges": [[a, b] for a, b in MERGES]}})
write("qwen2_style_config.json", {"add_bos_token": False, "bos_token": None,
                                  "eos_token": "<|im_end|>"})

# Llama-3 style: "a b" merges, digits in threes, ignore_merges, BOS from TemplateProcessing.
v = byte_level_vocab(extra=["Ġxyz"])
n = len(v)
write("llama3_style.json", {
    "version": "1.0", "added_tokens": [added(n, "<|begin_of_text|>"), added(n + 1, "<|eot_id|>")],
    "normalizer": None, "pre_tokenizer": pre(LLAMA3),
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                                  {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [], "special_tokens": {}},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
              "ignore_merges": True, "vocab": v, "merges": [a + " " + b for a, b in MERGES]}})

# SentencePiece-like BPE: Metaspace pre-tokenizer, byte fallback, no byte alphabet.
sp = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
sp += ["▁", "h", "i", "▁h", "▁hi", "o"]
write("metaspace_style.json", {
    "version": "1.0", "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
    "normalizer": None,
    "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
                      "split": True},
    "post_processor": None,
    "decoder": {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "byte_fallback": True,
              "vocab": {t: i for i, t in enumerate(sp)},
              "merges": ["▁ h", "▁h i"]}})
