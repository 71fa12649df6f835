#!/bin/sh
# Smoke test of dense_ref.py: selfcheck, then make + logits for each architecture option and
# a check of the JSON shape. Usage: sh tests/scripts/test_dense_ref.sh (from anywhere).
set -eu
PY=/usr/bin/python3  # Debian's python has numpy; the python3 on PATH may not
HERE=$(cd "$(dirname "$0")" && pwd)
REF="$PY $HERE/dense_ref.py"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

$REF selfcheck --seed 3

check_json() {  # file n_rows first_pos n_vocab
  $PY - "$@" <<'PYEOF'
import json, math, sys
path, n_rows, first, n_vocab = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
d = json.load(open(path))
assert d["n_vocab"] == n_vocab, d["n_vocab"]
assert len(d["rows"]) == n_rows, len(d["rows"])
for i, row in enumerate(d["rows"]):
    assert row["pos"] == first + i, row["pos"]
    assert len(row["logits"]) == n_vocab
    assert all(math.isfinite(x) for x in row["logits"])
print("ok   ", path.rsplit("/", 1)[-1], n_rows, "rows from pos", first)
PYEOF
}

i=0
for opts in "--arch qwen2" "--arch qwen2 --tie-embeddings --dtype bf16" \
            "--arch llama" "--arch llama --rope-scaling llama3 --dtype f16"; do
  i=$((i + 1))
  $REF make $opts --seed 7 --out "$TMP/m$i"
  test -s "$TMP/m$i/config.json" && test -s "$TMP/m$i/model.safetensors"
  $REF logits --model "$TMP/m$i" --tokens 1,5,9,200,3 > "$TMP/full$i.json"
  check_json "$TMP/full$i.json" 5 0 256
  $REF logits --model "$TMP/m$i" --tokens 1,5,9,200,3 --prefill-len 3 > "$TMP/pre$i.json"
  check_json "$TMP/pre$i.json" 3 2 256
  # The prefill rows are the same numbers as the corresponding rows of the full forward.
  $PY -c "import json,sys; a=json.load(open(sys.argv[1]))['rows'][2:]; b=json.load(open(sys.argv[2]))['rows']; assert a==b" \
    "$TMP/full$i.json" "$TMP/pre$i.json"
done
# Bad input is refused with a message, not a traceback.
if $REF logits --model "$TMP/m1" --tokens 1,999 2>/dev/null; then
  echo "FAIL: out-of-range token accepted"; exit 1
fi
echo "test_dense_ref: all passed"
