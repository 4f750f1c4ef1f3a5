#!/usr/bin/env bash
# Instructions per operation of the scheduler's hot paths, load-independent (issue 18):
# valgrind's instruction count of bench/out's C programs (build them with bench/run)
# at two GMP_BENCH_SCALEs, on one P; per op = (Ir(s2) - Ir(s1)) / (ops(s2) - ops(s1)),
# so start-up cancels out. Usage: bash bench/perop.sh [bench/out directory]
set -euo pipefail
out=${1:-$(dirname "$0")/out}
command -v valgrind >/dev/null || { echo "perop.sh: valgrind is needed" >&2; exit 1; }
# On one CPU (taskset), so that a program that sizes itself by the CPUs it may use
# (mainpingpong: gmp_maxprocs(bench_ncpu())) runs on one P too: on two its count took in
# the second M's wake-ups and moved between 722 and 812 a round trip from run to run.
ir() { # dir scale prog [arg]
    (cd "$1" && GMP_MAXPROCS=1 GMP_BENCH_SCALE=$2 taskset -c 0 valgrind --tool=callgrind \
        --callgrind-out-file=/dev/null "./$3" ${4:-} 2>&1 >/dev/null |
        awk '/refs:/ {gsub(",", "", $NF); print $NF}')
}
# Every program must count the same library: each binary keeps the RUNPATH of the
# `bench/run` that built it last (`--lib` rebuilds only the workloads it runs), so a
# stale one would count another build. LD_LIBRARY_PATH, if set, overrides them all.
libs=$(for p in pingpong mainpingpong ring buffered yield skynet spawn; do
    ldd "$out/$p" | awk '/libgmp\.so/ {print $3}'
done | sort -u)
if [ "$(printf '%s\n' "$libs" | wc -l)" != 1 ]; then
    echo "perop.sh: the programs in $out resolve different libraries (rebuild them with" \
         "bench/run --scale 0.01 --repeat 1):" >&2
    printf '  %s\n' $libs >&2
    exit 1
fi
echo "library: $(realpath "$libs")"
# prog:arg:scale1:scale2:ops1:ops2:unit
# The pairs are far apart (0.02 and 0.12, for skynet 0.01 and 0.1) so that start-up
# jitter (first touches, thread start order) is divided by many operations: with 0.01
# and 0.02, two runs of one binary differed by up to 60 instructions a round trip.
for spec in "pingpong:1p:0.02:0.12:20000:120000:round trip" \
            "mainpingpong:unlocked:0.02:0.12:20000:120000:round trip" \
            "ring::0.02:0.12:20000:120000:hop" \
            "buffered::0.02:0.12:200000:1200000:message" \
            "yield::0.02:0.12:40000:240000:yield" \
            "skynet::0.01:0.1:11111:111111:goroutine" \
            "spawn::0.02:0.12:20000:120000:goroutine"; do
    IFS=: read -r prog arg s1 s2 n1 n2 unit <<< "$spec"
    a=$(ir "$out" "$s1" "$prog" "$arg")
    b=$(ir "$out" "$s2" "$prog" "$arg")
    awk -v p="$prog $arg" -v a="$a" -v b="$b" -v n1="$n1" -v n2="$n2" -v u="$unit" \
        'BEGIN { printf "%-24s %8.0f instructions a %s\n", p, (b - a) / (n2 - n1), u }'
done
