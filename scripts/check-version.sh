#!/usr/bin/env bash
# The version check: Cargo.toml's [package] version is the one source of the version.
# Derived from it: gmp_lib_version() (CARGO_PKG_VERSION), CMake's project version and
# with it the pkg-config file and the SONAME (CMakeLists.txt reads Cargo.toml), the
# wheel's version (pyproject.toml: dynamic, from bindings/python/Cargo.toml). The places
# that must stay literal are checked here against it; the GMP_VERSION_* constants of
# gmp-sys (the header's macros) are also checked at compile time (gmp-sys/src/lib.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

pkg_version() { # $1 = Cargo.toml: the first `version = "x.y.z"` line (the [package] one)
  sed -n 's/^version *= *"\([0-9]*\.[0-9]*\.[0-9]*\)".*/\1/p' "$1" | head -1
}
v=$(pkg_version Cargo.toml)
if [ -z "$v" ]; then
  echo "version check: no version = \"x.y.z\" in Cargo.toml" >&2
  exit 1
fi
IFS=. read -r major minor patch <<<"$v"
bad=0
want() { # $1 = what, $2 = found, $3 = expected
  if [ "$2" != "$3" ]; then
    echo "version check: $1 is '$2', Cargo.toml says '$3'" >&2
    bad=1
  fi
}
want "gmp-sys/Cargo.toml version" "$(pkg_version gmp-sys/Cargo.toml)" "$v"
want "bindings/python/Cargo.toml version" "$(pkg_version bindings/python/Cargo.toml)" "$v"
want "cbindgen.toml GMP_VERSION_STRING" \
  "$(sed -n 's/^#define GMP_VERSION_STRING "\(.*\)"$/\1/p' cbindgen.toml)" "$v"
want "include/gmp/gmp.h GMP_VERSION_STRING" \
  "$(sed -n 's/^#define GMP_VERSION_STRING "\(.*\)"$/\1/p' include/gmp/gmp.h)" "$v"
for part in MAJOR MINOR PATCH; do
  case $part in MAJOR) n=$major ;; MINOR) n=$minor ;; PATCH) n=$patch ;; esac
  want "include/gmp/gmp.h GMP_VERSION_$part" \
    "$(sed -n "s/^#define GMP_VERSION_$part \([0-9]*\)$/\1/p" include/gmp/gmp.h)" "$n"
  want "gmp-sys/src/types.rs GMP_VERSION_$part" \
    "$(sed -n "s/^pub const GMP_VERSION_$part: u32 = \([0-9]*\);$/\1/p" gmp-sys/src/types.rs)" "$n"
done
want "bindings/python/gmp/__init__.py __version__" \
  "$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' bindings/python/gmp/__init__.py)" "$v"
if grep -q '^version *=' bindings/python/pyproject.toml; then
  echo "version check: bindings/python/pyproject.toml has a literal version; use dynamic = [\"version\"]" >&2
  bad=1
fi
[ $bad -eq 0 ] || exit 1
echo "version check: $v everywhere"
