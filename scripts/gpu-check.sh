#!/usr/bin/env bash
# GPU check of the CUDA backend, meant for one short run on a GPU machine (an H200 with 16
# cores finishes in about 3-5 minutes; every step has its own time limit and the whole script
# stays under 8):
#   1. configure + build with -DDSRT_CUDA=ON (-j16) the CUDA tests, dsrt and cuda_bench;
#   2. the CUDA op tests (every op vs cpu/ref, quantized matmuls) and `dsrt test-ops --backend cuda`;
#   3. the oracle model test on the GPU (v3-tiny-fp8 vs DeepSeek's reference logits);
#   4. cuda_bench: BF16 / Q4_K GEMV and GEMM on DeepSeek-V2-Lite shapes against the measured
#      HBM copy bandwidth and cuBLAS BF16 peak (`dsrt bench` has no --backend option).
# No network is needed. Logs go to $OUT when it is set (the device tool's output folder).
#
# A GPU machine whose image lacks the build's C++ dependencies (GTest, nlohmann_json, CLI11,
# PCRE2 + pkg-config) can use copies staged here first, on a machine that has them:
#   scripts/gpu-check.sh --stage-deps     # writes .gpu-deps/ (~6 MB, git-ignored locally)
# and then carry .gpu-deps with the run; this script picks it up when present.
#
# Usage: scripts/gpu-check.sh [--stage-deps] [build-dir]
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEPS=$ROOT/.gpu-deps

stage_deps() {
  local lib=usr/lib/x86_64-linux-gnu
  rm -rf "$DEPS"
  mkdir -p "$DEPS/usr/include" "$DEPS/$lib/cmake" "$DEPS/$lib/pkgconfig" "$DEPS/usr/share/cmake" \
           "$DEPS/bin" "$DEPS/lib"
  cp -a /usr/include/nlohmann /usr/include/CLI /usr/include/gtest /usr/include/pcre2.h \
        "$DEPS/usr/include/"
  cp -a /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 "$DEPS/usr/share/cmake/"
  cp -a /$lib/cmake/GTest "$DEPS/$lib/cmake/"
  # Static archives only, so the test binaries need nothing staged at run time.
  cp -a /$lib/libgtest.a /$lib/libgtest_main.a /$lib/libpcre2-8.a "$DEPS/$lib/"
  # GTest's exported targets also name gmock; the tests do not use it.
  if [ -f /$lib/libgmock.a ]; then cp -a /$lib/libgmock.a /$lib/libgmock_main.a "$DEPS/$lib/"; \
     cp -a /usr/include/gmock "$DEPS/usr/include/"; fi
  cp -a /$lib/pkgconfig/libpcre2-8.pc "$DEPS/$lib/pkgconfig/"
  # pkg-config itself, for an image without one (a wrapper finds its library).
  cp -aL "$(command -v pkg-config)" "$DEPS/bin/pkg-config.real"
  cp -aL "$(ldd "$(command -v pkg-config)" | awk '/libpkgconf/ {print $3}')" "$DEPS/lib/"
  cat > "$DEPS/bin/pkg-config" <<'WRAP'
#!/bin/sh
d=$(dirname "$0")
LD_LIBRARY_PATH="$d/../lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$d/pkg-config.real" "$@"
WRAP
  chmod +x "$DEPS/bin/pkg-config"
  grep -qx '/.gpu-deps/' .git/info/exclude 2>/dev/null || echo '/.gpu-deps/' >> .git/info/exclude
  du -sh "$DEPS"
  echo "staged; run on the GPU machine with .gpu-deps carried: bash scripts/gpu-check.sh"
}

if [ "${1:-}" = "--stage-deps" ]; then
  stage_deps
  exit $?
fi

BUILD=${1:-build-gpu}
LOG=${OUT:-$ROOT/$BUILD}
mkdir -p "$LOG"
JOBS=$(nproc)
[ "$JOBS" -gt 16 ] && JOBS=16
NVCC=$(command -v nvcc || true)
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
if [ -z "$NVCC" ]; then
  echo "gpu-check: no nvcc found (PATH or /usr/local/cuda/bin)"
  exit 1
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true

CMAKE_EXTRA=()
if [ -d "$DEPS" ]; then
  echo "gpu-check: using staged dependencies in .gpu-deps"
  export CMAKE_PREFIX_PATH="$DEPS/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export PKG_CONFIG_LIBDIR="$DEPS/usr/lib/x86_64-linux-gnu/pkgconfig"
  export PKG_CONFIG_SYSROOT_DIR="$DEPS"
  command -v pkg-config >/dev/null || CMAKE_EXTRA+=("-DPKG_CONFIG_EXECUTABLE=$DEPS/bin/pkg-config")
  CMAKE_EXTRA+=("-DGTest_DIR=$DEPS/usr/lib/x86_64-linux-gnu/cmake/GTest")
fi

status=0
step() {  # step NAME SECONDS CMD...: runs CMD under a time limit, logs to $LOG/NAME.log
  local name=$1 secs=$2
  shift 2
  echo "=== $name (limit ${secs}s)"
  local t0=$SECONDS
  timeout "$secs" "$@" > "$LOG/$name.log" 2>&1
  local rc=$?
  tail -n 40 "$LOG/$name.log"
  echo "=== $name: rc=$rc in $((SECONDS - t0))s"
  [ $rc -ne 0 ] && status=1
  return $rc
}

step configure 120 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDSRT_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="$NVCC" "${CMAKE_EXTRA[@]}" || exit 1
step build 240 cmake --build "$BUILD" -j "$JOBS" --target test_cuda_ops test_cuda_oracle cuda_bench dsrt \
  || exit 1
step cuda-ops 120 "$BUILD/tests/cuda/test_cuda_ops"
step test-ops-cli 60 "$BUILD/bin/dsrt" test-ops --backend cuda
step cuda-oracle 90 "$BUILD/tests/cuda/test_cuda_oracle"
step cuda-bench 90 "$BUILD/bin/cuda_bench"
echo "gpu-check: $([ $status -eq 0 ] && echo PASS || echo FAIL) (logs in $LOG)"
exit $status
