#!/usr/bin/env bash
# Cross-builds the kernels and the model code (core + backends + loaders + models, the op-test
# runner and the model check; DSRT_KERNELS_ONLY) for aarch64 with Debian's
# g++-aarch64-linux-gnu and runs, under qemu-aarch64, the op tests and the model check (the
# vendored DeepSeek-V3 FP8 checkpoint against DeepSeek's reference logits, two llama.cpp GGUF
# files against llama.cpp's). The CLI, tokenizer and gtest suites are not cross-built: Debian
# has no arm64 cross packages of gtest/CLI11/PCRE2 without enabling the arm64 architecture in
# dpkg. Needs: g++-aarch64-linux-gnu qemu-user nlohmann-json3-dev.
# Usage: scripts/check-aarch64.sh [--quick] [op]   (the arguments go to the op tests)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-aarch64}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
  -DDSRT_KERNELS_ONLY=ON -DDSRT_NATIVE=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$BUILD" -j"${JOBS:-2}" op_tests model_check
file "$BUILD/bin/op_tests" | grep -q aarch64
file "$BUILD/bin/model_check" | grep -q aarch64
qemu-aarch64 -L /usr/aarch64-linux-gnu "$BUILD/bin/op_tests" "$@"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$BUILD/bin/model_check" "$PWD"
