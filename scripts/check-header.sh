#!/usr/bin/env bash
# The header drift check: include/gmp/gmp.h must be exactly what cbindgen generates from
# src/ffi and gmp-sys/src/types.rs now. Regenerate with:
#   cbindgen --config cbindgen.toml --output include/gmp/gmp.h
set -euo pipefail
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cbindgen --quiet --config cbindgen.toml --output "$tmp"
if ! diff -u include/gmp/gmp.h "$tmp"; then
  echo "header check: include/gmp/gmp.h is stale; regenerate it with cbindgen" >&2
  exit 1
fi
echo "header check: include/gmp/gmp.h matches cbindgen"
