#!/usr/bin/env bash
# Builds the libFuzzer harness fuzz/api_fuzz.c and runs it for N seconds.
# Usage: bash fuzz/run.sh [SECONDS] [extra libFuzzer flags...]     (default 60; CI: 20)
#
# Needs clang with libFuzzer (Debian/Ubuntu: apt-get install -y clang, which pulls in
# libclang-rt-NN-dev; check with: echo 'int LLVMFuzzerTestOneInput(){return 0;}' |
# clang -x c - -fsanitize=fuzzer -o /dev/null).
#
# The library is built a second time with SanitizerCoverage (as cargo-fuzz does:
# -Cpasses=sancov-module, inline 8-bit counters, PC table, compare tracing) so libFuzzer
# is guided by the library's own branches, not only the harness's; GMP_FUZZ_PLAIN=1
# links the ordinary debug build instead. The harness is built with
# -fsanitize=fuzzer,address,undefined (the Rust library itself is not ASan-instrumented,
# but every allocation goes through ASan's malloc).
#
# Environment: GMP_FUZZ_DIR (work dir: build, corpus, artifacts; default
# target/fuzz), CARGO_TARGET_DIR (for the plain build), CC (default clang),
# GMP_FUZZ_NO_HOME=1 (leave homes out, to look past a known home bug).
# Prints the executions and the findings (crash-*, leak-*, timeout-*, oom-* artifacts
# written by this run) and exits 1 if there were any.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
secs="${1:-60}"
[ $# -gt 0 ] && shift
cc="${CC:-clang}"
work="${GMP_FUZZ_DIR:-$root/target/fuzz}"
mkdir -p "$work/corpus" "$work/artifacts"
work="$(cd "$work" && pwd)"

if ! command -v "$cc" >/dev/null; then
  echo "fuzz/run.sh: $cc not found (apt-get install -y clang)" >&2
  exit 2
fi

host="$(rustc -vV | awk '/^host:/ {print $2}')"
if [ "${GMP_FUZZ_PLAIN:-0}" = 1 ]; then
  (cd "$root" && cargo build --lib -q)
  libdir="${CARGO_TARGET_DIR:-$root/target}/debug"
else
  # --target keeps RUSTFLAGS away from build scripts (they would miss the sancov hooks).
  (cd "$root" && CARGO_TARGET_DIR="$work/cargo" \
    RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=3 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares" \
    cargo build --lib -q --target "$host")
  libdir="$work/cargo/$host/debug"
fi
libdir="$(cd "$libdir" && pwd)"
lib="$libdir/libgmp.so"
soname="$(objdump -p "$lib" 2>/dev/null | awk '$1 == "SONAME" {print $2}')"
if [ -n "$soname" ] && [ "$soname" != libgmp.so ]; then
  ln -sf libgmp.so "$libdir/$soname"
fi

# Link libgmp by full path: GNU MP's libgmp.so is on the default search path.
"$cc" -g -O1 -std=c11 -Wall -Wextra -Werror \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I "$root/include" "$here/api_fuzz.c" "$lib" -Wl,-rpath,"$libdir" -lpthread \
  -o "$work/api_fuzz"

stamp="$work/.start"
touch "$stamp"
log="$work/last-run.log"
echo "fuzz/run.sh: running $work/api_fuzz for ${secs}s (log: $log)"
set +e
# allocator_may_return_null: the harness asks for huge channel buffers on purpose (the
# library must answer GMP_ENOMEM); ASan would abort on them by default. LeakSanitizer
# is off: goroutine stacks and the runtime's caches live for the whole process.
ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:abort_on_error=1:${ASAN_OPTIONS:-}" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  "$work/api_fuzz" -max_total_time="$secs" -timeout=20 -max_len=1024 -rss_limit_mb=4096 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" \
  >"$log" 2>&1
rc=$?
set -e
execs="$(awk -F': *' '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)"
[ -n "$execs" ] || execs="$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)"
cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')"
findings=()
while IFS= read -r f; do findings+=("$f"); done < <(find "$work/artifacts" -type f \
  \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \
     -o -name 'slow-unit-*' \) -newer "$stamp" | sort)
echo "fuzz/run.sh: ${execs:-0} executions in ${secs}s, coverage ${cov:-?} edges, corpus $(ls "$work/corpus" | wc -l) inputs, ${#findings[@]} findings (libFuzzer exit $rc)"
for f in "${findings[@]}"; do
  echo "  finding: $f (reproduce: $work/api_fuzz $f)"
done
if [ "${#findings[@]}" -gt 0 ] || { [ "$rc" != 0 ] && [ -z "$execs" ]; }; then
  tail -n 60 "$log"
  exit 1
fi
