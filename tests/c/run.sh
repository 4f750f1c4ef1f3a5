#!/usr/bin/env bash
# Builds and runs every C test program in tests/c against libgmp.
# Usage: bash tests/c/run.sh [LIBDIR] [--asan | --tsan]
#   LIBDIR: the directory holding libgmp.so (default: $GMP_LIBDIR, else target/debug).
#   --asan: build the C side with -fsanitize=address,undefined (the Rust library itself
#           stays uninstrumented); LeakSanitizer is off (goroutine stacks confuse it).
#   --tsan: build the C side with -fsanitize=thread (PIE, as gcc's TSan needs); any
#           report fails the program (exit 66). Run under `setarch -R` (no ASLR) where
#           it works: TSan's fixed memory layout can clash with a randomized mapping
#           on kernels with large vm.mmap_rnd_bits ("unexpected memory mapping").
# Links libgmp.so by its full path: GNU MP's libgmp.so lives on the default search path,
# so never -lgmp. Each program gets `timeout 60`. Prints PASS/FAIL per program and one
# final line "N passed, N failed"; exits non-zero if any failed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

libdir="${GMP_LIBDIR:-$root/target/debug}"
asan=0
tsan=0
for arg in "$@"; do
  case "$arg" in
    --asan) asan=1 ;;
    --tsan) tsan=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) libdir="$arg" ;;
  esac
done
abs="$(cd "$libdir" 2>/dev/null && pwd)" || { echo "no such library dir: $libdir" >&2; exit 2; }
libdir="$abs"
lib="$libdir/libgmp.so"
[ -f "$lib" ] || { echo "missing $lib (cargo build first)" >&2; exit 2; }
# The library carries a SONAME (libgmp.so.N); the programs look for that name through
# their rpath, so make sure it exists beside libgmp.so.
soname="$(objdump -p "$lib" 2>/dev/null | awk '$1 == "SONAME" {print $2}')"
if [ -n "$soname" ] && [ "$soname" != "libgmp.so" ] && [ ! -e "$libdir/$soname" ]; then
  ln -sf libgmp.so "$libdir/$soname"
fi

cc="${CC:-cc}"
cflags=(-std=c11 -Wall -Wextra -Werror -O1 -g -I "$root/include")
envs=()
mode=plain
if [ "$asan" = 1 ]; then
  cflags+=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  envs=(ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
  mode=asan
fi
run=()
skip=()
if [ "$tsan" = 1 ]; then
  cflags+=(-fsanitize=thread -fPIE -pie -fno-omit-frame-pointer)
  # report_thread_leaks=0: an M whose locked goroutine ended exits, and its handle is
  # joined only at gmp_shutdown, so TSan calls the finished thread leaked.
  envs=(TSAN_OPTIONS=halt_on_error=1:exitcode=66:report_thread_leaks=0)
  mode=tsan
  # Not run under TSan, and why:
  #   fault_exit: exit() called on a goroutine runs the thread's TLS destructors, whose
  #     list glibc made on the M's own thread before the runtime could hide it from TSan.
  #   thread_local: its subject is goroutines sharing one thread's thread-locals; TSan
  #     rightly reports that (each goroutine is its own TSan fiber; README).
  skip=(fault_exit thread_local)
  if setarch "$(uname -m)" -R true 2>/dev/null; then
    run=(setarch "$(uname -m)" -R)
  fi
fi
out="$(mktemp -d "${TMPDIR:-/tmp}/gmp-ctests.XXXXXX")"
trap 'rm -rf "$out"' EXIT

passed=0
failed=0
failed_names=()
flaky_names=()
for src in "$here"/*.c; do
  name="$(basename "$src" .c)"
  if [[ " ${skip[*]} " == *" $name "* ]]; then
    echo "SKIP $name ($mode)"
    continue
  fi
  exe="$out/$name"
  if ! "$cc" "${cflags[@]}" "$src" "$lib" -Wl,-rpath,"$libdir" -lpthread -o "$exe" \
      >"$out/$name.build.log" 2>&1; then
    echo "FAIL $name (build)"
    sed 's/^/    /' "$out/$name.build.log"
    failed=$((failed + 1)); failed_names+=("$name")
    continue
  fi
  start=$(date +%s.%N)
  if env "${envs[@]}" timeout 60 "${run[@]}" "$exe" >"$out/$name.log" 2>&1; then
    secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
    echo "PASS $name (${secs}s)"
    passed=$((passed + 1))
  else
    rc=$?
    [ "$rc" = 124 ] && why="timed out after 60 s" || why="exit status $rc"
    # A failing program runs once more, loudly (as scripts/test.sh does for cargo's):
    # a flake is reported, never hidden; a second failure fails the run.
    echo "FLAKY? $name ($why); its output:"
    tail -n 40 "$out/$name.log" | sed 's/^/    /'
    if env "${envs[@]}" timeout 60 "${run[@]}" "$exe" >"$out/$name.rerun.log" 2>&1; then
      echo "FLAKY: $name failed once ($why) and passed on rerun"
      passed=$((passed + 1)); flaky_names+=("$name")
    else
      echo "FAIL $name ($why, and again on rerun)"
      tail -n 40 "$out/$name.rerun.log" | sed 's/^/    /'
      failed=$((failed + 1)); failed_names+=("$name")
    fi
  fi
done
[ "${#flaky_names[@]}" -gt 0 ] && echo "flaky ($mode): ${flaky_names[*]}"
[ "$failed" -gt 0 ] && echo "failed ($mode): ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
