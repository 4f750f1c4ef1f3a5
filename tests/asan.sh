#!/usr/bin/env bash
# Runs the unlock-then-free and other sync tests with the whole crate under
# AddressSanitizer (needs a nightly toolchain: -Zsanitizer=address). A touch of a freed
# mutex, rwmutex or waitgroup by the library after its releasing store shows up as a
# heap-use-after-free report. LeakSanitizer is off (goroutine stacks confuse it).
# Usage: bash tests/asan.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
target="$(rustc -vV | awk '/^host:/ {print $2}')"
RUSTFLAGS="-Zsanitizer=address" ASAN_OPTIONS="detect_leaks=0" \
  CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/asan}" \
  cargo +nightly test --target "$target" \
  --test sync_mutex --test sync_rwmutex --test sync_waitgroup --test sync_cond \
  --test sync_once --test park_wake "$@"
