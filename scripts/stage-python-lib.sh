#!/usr/bin/env bash
# Stages the runtime for the Python binding: bindings/python/gmp/libgmp.so.0, the shared
# library the extension links and the wheel ships (found through the extension's $ORIGIN
# rpath). bindings/python/build.rs only reads it: it runs no cargo build of its own.
#
# Builds the library with `cargo build --release --lib` in the repository's own target
# dir (target/release/libgmp.so, the one the export check and the benchmarks use), or,
# with GMP_LIB_DIR set, copies $GMP_LIB_DIR/libgmp.so as it is.
# Usage: bash scripts/stage-python-lib.sh     (then: cd bindings/python && maturin ...)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${GMP_LIB_DIR:-}" ]; then
  lib=$GMP_LIB_DIR/libgmp.so
else
  # The library's own build, not the Python crate's target dir or flags.
  env -u CARGO_TARGET_DIR -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS cargo build --release --lib --quiet
  lib=target/release/libgmp.so
fi
if [ ! -f "$lib" ]; then
  echo "stage-python-lib: no $lib" >&2
  exit 1
fi
dest=bindings/python/gmp/libgmp.so.0
# Replace, never overwrite in place: a running process may have the old one mapped.
tmp=bindings/python/gmp/.libgmp.so.0.tmp
cp "$lib" "$tmp"
mv -f "$tmp" "$dest"
echo "stage-python-lib: $dest <- $lib"
