#!/usr/bin/env bash
# Runs every test of libgmp: the Rust unit and integration tests, the loom models of the
# lock-free parts, and the C test programs (plain and under ASan/UBSan) against the
# generated header. Long stress forms are opt-in: GMP_STRESS=1.
# Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build

echo "== cargo test (unit + integration)"
cargo test --quiet 2>&1 | tee build/cargo-test.log | grep -E "^test result|FAILED|panicked|^error" || true
if grep -qE "FAILED|^error|test result: FAILED" build/cargo-test.log; then
  echo "cargo test failed" >&2
  exit 1
fi

echo "== loom models (run queue; the wait-claim protocol behind channels and select)"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo test --quiet --release --lib -- sched::runq park::loom_tests 2>&1 | tee build/loom.log | grep -E "^test result|FAILED|panicked"
grep -q "test result: ok" build/loom.log

echo "== ABI test (ctest: header vs the Rust items of src/ffi)"
(cd abi-test && CARGO_TARGET_DIR=../target/abi cargo run --quiet)

echo "== C tests"
cargo build --quiet
ln -sf libgmp.so target/debug/libgmp.so.0
bash tests/c/run.sh target/debug
echo "== C tests under ASan + UBSan (C side instrumented)"
bash tests/c/run.sh target/debug --asan

echo "== debugger support (gdb extension, valgrind)"
bash tests/debug/run.sh target/debug

echo "== C++ binding, CMake package, pkg-config, GNU MP coexistence"
bash scripts/test-cmake.sh

echo "== Python module (import gmp): wheel built with maturin, pytest"
bash scripts/test-python.sh
