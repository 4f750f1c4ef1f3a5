#!/usr/bin/env bash
# Builds libgmp and runs the C examples: hello (goroutines + waitgroup), the concurrent
# prime sieve, and a worker pool. Usage: bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
lib=$PWD/target/release
ln -sf libgmp.so "$lib/libgmp.so.0"   # the SONAME the linker records
mkdir -p build/examples
for ex in hello prime_sieve worker_pool echo_server; do
  # Link by full path: GNU MP's libgmp.so may be on this machine too.
  cc -std=c11 -O2 -Wall -I include "examples/$ex.c" "$lib/libgmp.so" -Wl,-rpath,"$lib" \
     -o "build/examples/$ex"
done
echo "== hello"; build/examples/hello
echo "== prime_sieve 20"; build/examples/prime_sieve 20 | tr '\n' ' '; echo
echo "== worker_pool"; build/examples/worker_pool
echo "(build/examples/echo_server [port] is built too: talk to it with nc 127.0.0.1 7777)"
