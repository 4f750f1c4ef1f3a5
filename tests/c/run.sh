#!/usr/bin/env bash
# Builds and runs every C test program in tests/c against libgmp, through CTest:
# tests/c/CMakeLists.txt registers them (flags, the 60 s timeout, the variants and the
# programs each variant skips, with the reason); this script configures one build tree
# per variant (build/ctest-plain, -asan, -tsan), builds it and runs ctest.
# Usage: bash tests/c/run.sh [LIBDIR] [--asan | --tsan]
#   LIBDIR: the directory holding libgmp.so (default: $GMP_LIBDIR, else target/debug).
#   --asan: the C side built with -fsanitize=address,undefined.
#   --tsan: the C side built with -fsanitize=thread, run under `setarch -R`.
# A failing program runs once more (ctest --repeat until-pass:2): a flake is reported
# as FLAKY, never hidden, and a second failure fails the run. Prints ctest's line per
# program and a final "N passed, N failed, N skipped"; exits non-zero if any failed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

libdir="${GMP_LIBDIR:-$root/target/debug}"
mode=plain
for arg in "$@"; do
  case "$arg" in
    --asan) mode=asan ;;
    --tsan) mode=tsan ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) libdir="$arg" ;;
  esac
done
abs="$(cd "$libdir" 2>/dev/null && pwd)" || { echo "no such library dir: $libdir" >&2; exit 2; }
libdir="$abs"
[ -f "$libdir/libgmp.so" ] || { echo "missing $libdir/libgmp.so (cargo build first)" >&2; exit 2; }

build="$root/build/ctest-$mode"
mkdir -p "$build"
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
[ -f "$build/CMakeCache.txt" ] && gen=()
if ! cmake -S "$here" -B "$build" "${gen[@]}" -DGMP_LIBDIR="$libdir" -DGMP_C_SANITIZE="$mode" \
    >"$build/configure.log" 2>&1; then
  cat "$build/configure.log"
  exit 1
fi
# Why a program is not run in this variant (ctest shows it as Skipped).
sed -n 's/^-- \(SKIP .*\)/\1/p' "$build/configure.log"
build_ok=1
if ! cmake --build "$build" -- -k 0 >"$build/build.log" 2>&1; then
  # A program that does not build fails (ctest finds no executable); show why.
  build_ok=0
  grep -E "error|FAILED" "$build/build.log" | head -40 | sed 's/^/    /'
fi

ctest --test-dir "$build" --output-on-failure --repeat until-pass:2 2>&1 |
  grep --line-buffered -v "^Internal ctest changing into directory" | tee "$build/ctest.log"
rc=${PIPESTATUS[0]}

# The count, and the flakes: a program whose first run failed and whose rerun passed.
awk -v mode="$mode" '
  match($0, /Test +#[0-9]+: [^ ]+ /) {
    name = $0; sub(/.*Test +#[0-9]+: /, "", name); sub(/ .*/, "", name)
    if ($0 ~ /\*\*\*Skipped/) { res[name] = "skip" }
    else if ($0 ~ / Passed /) { if (res[name] == "fail") flaky[name] = 1; res[name] = "pass" }
    else { res[name] = "fail" }
  }
  END {
    for (n in flaky) { printf "FLAKY: %s (%s) failed once and passed on rerun\n", n, mode; f++ }
    for (n in res) { c[res[n]]++ }
    printf "%s: %d passed, %d failed, %d skipped\n", mode, c["pass"], c["fail"], c["skip"]
  }' "$build/ctest.log"
[ "$rc" -eq 0 ] && [ "$build_ok" -eq 1 ]
