#!/usr/bin/env bash
# Cross-builds the kernels (core + backends + op-test runner, DSRT_KERNELS_ONLY) for aarch64
# with Debian's g++-aarch64-linux-gnu and runs the op tests under qemu-aarch64. The full
# project is not cross-built: Debian has no arm64 cross packages of gtest/CLI11/PCRE2 without
# enabling the arm64 architecture in dpkg. Needs: g++-aarch64-linux-gnu qemu-user.
# Usage: scripts/check-aarch64.sh [--quick] [op]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-aarch64}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
  -DDSRT_KERNELS_ONLY=ON -DDSRT_NATIVE=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$BUILD" -j"${JOBS:-2}" op_tests
file "$BUILD/bin/op_tests" | grep -q aarch64
qemu-aarch64 -L /usr/aarch64-linux-gnu "$BUILD/bin/op_tests" "$@"
