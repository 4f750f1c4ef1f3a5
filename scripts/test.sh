#!/usr/bin/env bash
# Runs every test of libgmp: the Rust unit and integration tests, the loom models of the
# lock-free parts, and the C test programs (plain, under ASan/UBSan and TSan) against the
# generated header. Long stress forms are opt-in: GMP_STRESS=1.
# Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build

echo "== Rust unit + integration tests (cargo nextest: each test in its own process)"
# .config/nextest.toml: two tests at a time, the timing-sensitive ones alone; a failing
# test runs once more and is reported FLAKY if it then passes (never hidden: the summary
# lists it, and so does the JUnit file, target/nextest/default/junit.xml); a second
# failure fails the run.
export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo-nextest >/dev/null || bash scripts/install-nextest.sh
cargo nextest run --no-fail-fast --hide-progress-bar
echo "== doc tests (nextest does not run them)"
cargo test --quiet --doc > build/doctest.log 2>&1 || { cat build/doctest.log; exit 1; }
grep -E "^test result" build/doctest.log

echo "== loom models (run queue; the wait-claim protocol behind channels and select; sys::Lock; the spinning re-check)"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo test --quiet --release --lib -- sched::runq sched::wait::loom_tests sys::lock::loom_tests loom::spin_loom sched::proc::count_loom 2>&1 | tee build/loom.log | grep -E "^test result|FAILED|panicked"
grep -q "test result: ok" build/loom.log

echo "== release-build checks (frame sizes on the park path: tests/park_depth.rs)"
cargo test --quiet --release --test park_depth 2>&1 | tee build/release-tests.log | grep -E "^test result|FAILED|panicked"
grep -q "test result: ok" build/release-tests.log

echo "== ABI test (gmp-sys vs the header and the library's definitions; ctest)"
(cd abi-test && CARGO_TARGET_DIR=../target/abi cargo run --quiet)
echo "== version (Cargo.toml's, everywhere it is written)"
bash scripts/check-version.sh

echo "== C tests (ctest: tests/c/CMakeLists.txt; a failing program reruns once, FLAKY if it passes)"
cargo build --quiet
ln -sf libgmp.so target/debug/libgmp.so.0
bash tests/c/run.sh target/debug
echo "== C tests under ASan + UBSan (C side instrumented)"
bash tests/c/run.sh target/debug --asan
echo "== C tests under TSan (C side instrumented; goroutines are TSan fibers)"
bash tests/c/run.sh target/debug --tsan
echo "== sanitizer tests: every sync edge, C++ throw/catch, planted bugs still reported"
bash tests/sanitizers/run.sh target/debug
echo "== the same built with clang (its own ASan and TSan runtimes)"
CC=clang CXX=clang++ bash tests/sanitizers/run.sh target/debug

echo "== debugger support (gdb extension, valgrind)"
bash tests/debug/run.sh target/debug

echo "== C++ binding, CMake package, pkg-config, GNU MP coexistence"
bash scripts/test-cmake.sh

echo "== Python module (import gmp): wheel built with maturin, pytest"
bash scripts/test-python.sh
