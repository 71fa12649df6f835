#!/usr/bin/env python3
"""Copies case 0 (7 tokens) of llama.cpp's logits for the two vendored model GGUFs
(tests/data/gguf/tiny-llama-q2_k.gguf, v2lite-tiny-q4_0.gguf) from ../shared into
tests/gguf_models/data/, so the model tests can compare against llama.cpp without ../shared.
The values are copied unchanged (same format as the shared *.llamacpp_logits.json, one case).

Usage: python3 tests/gguf_models/make_refs.py /path/to/shared/data/gguf   (stdlib only)
"""
import json
import os
import sys

FILES = {"tiny-llama-q2_k": "dense", "v2lite-tiny-q4_0": "deepseek"}


def main():
    src = sys.argv[1]
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    for name, sub in FILES.items():
        with open(os.path.join(src, sub, name + ".llamacpp_logits.json")) as f:
            ref = json.load(f)
        ref["cases"] = ref["cases"][:1]
        ref["comment"] = ("case 0 of ../shared/data/gguf/%s/%s.llamacpp_logits.json, "
                          "copied by tests/gguf_models/make_refs.py" % (sub, name))
        with open(os.path.join(out_dir, name + ".llamacpp_logits.case0.json"), "w") as f:
            json.dump(ref, f, separators=(",", ":"))
            f.write("\n")


if __name__ == "__main__":
    main()
