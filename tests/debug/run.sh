#!/usr/bin/env bash
# Debugger support: the gdb extension lists goroutines and backtraces a parked one from
# its saved context; memcheck runs clean on goroutine code (stacks registered with
# valgrind), and gmp_shutdown leaves no leak behind (valgrind's leak checker). Prints `N passed, N failed`. Usage: tests/debug/run.sh [libdir]
set -uo pipefail
cd "$(dirname "$0")/../.."
lib=$(realpath "${1:-target/debug}")
ln -sf libgmp.so "$lib/libgmp.so.0"
out=build/debug-tests
mkdir -p "$out"
pass=0
fail=0
check() { # name, command... (a failing check runs once more: FLAKY if it then passes)
  local name=$1; shift
  if "$@"; then echo "PASS $name"; pass=$((pass + 1))
  elif echo "(running $name once more)" && "$@"; then echo "FLAKY $name"; pass=$((pass + 1))
  else echo "FAIL $name"; fail=$((fail + 1)); fi
}
cc -O1 -g -I include tests/debug/parked.c "$lib/libgmp.so" -Wl,-rpath,"$lib" -o "$out/parked"
gdb_test() {
  command -v gdb >/dev/null || { echo "gdb missing"; return 1; }
  timeout 120 gdb -nx -batch -ex run -ex "source gdb/gmp-gdb.py" -ex "info goroutines" \
      -ex "goroutine 2 bt" -ex continue "$out/parked" >"$out/gdb.log" 2>&1
  grep -q 'waiting (chan receive) "deep"' "$out/gdb.log" &&
    grep -q 'in deep_wait' "$out/gdb.log" && grep -q 'in waiter' "$out/gdb.log" ||
    { cat "$out/gdb.log"; return 1; }
}
check gdb_info_goroutines_and_bt gdb_test
cc -O1 -g -I include examples/worker_pool.c "$lib/libgmp.so" -Wl,-rpath,"$lib" -o "$out/worker_pool"
memcheck() {
  command -v valgrind >/dev/null || { echo "valgrind missing"; return 1; }
  timeout 300 valgrind -q --error-exitcode=9 "$out/worker_pool" 100 4 >"$out/vg.log" 2>&1 ||
    { cat "$out/vg.log"; return 1; }
  ! grep -q "client switching stacks" "$out/vg.log"
}
check valgrind_memcheck_clean memcheck
cc -O1 -g -I include tests/debug/shutdown_leaks.c "$lib/libgmp.so" -Wl,-rpath,"$lib" -o "$out/shutdown_leaks"
# gmp_shutdown frees what it says it frees: no definite or possible leak after it (P and
# G structs stay reachable by design: a late stale pointer to them must stay valid).
shutdown_leaks() {
  command -v valgrind >/dev/null || { echo "valgrind missing (Debian package valgrind)"; return 1; }
  timeout 300 valgrind -q --leak-check=full --errors-for-leak-kinds=definite,possible \
      --error-exitcode=9 "$out/shutdown_leaks" >"$out/vg-shutdown.log" 2>&1 ||
    { cat "$out/vg-shutdown.log"; return 1; }
  grep -q "shutdown_leaks: ok" "$out/vg-shutdown.log"
}
check valgrind_shutdown_frees_timers shutdown_leaks
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
