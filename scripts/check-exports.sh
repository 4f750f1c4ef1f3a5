#!/usr/bin/env bash
# The export check: libgmp.so carries the SONAME libgmp.so.0 and exports only gmp_*
# symbols (anything else would leak Rust internals into every program's namespace).
set -euo pipefail
lib=${1:-target/release/libgmp.so}
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ "$soname" != "libgmp.so.0" ]; then
  echo "export check: SONAME is '$soname', want libgmp.so.0" >&2
  exit 1
fi
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^gmp_' || true)
if [ -n "$bad" ]; then
  echo "export check: symbols outside gmp_*:" >&2
  echo "$bad" >&2
  exit 1
fi
n=$(nm -D --defined-only "$lib" | grep -c ' gmp_')
echo "export check: SONAME libgmp.so.0, $n gmp_* symbols, nothing else"
