#!/usr/bin/env bash
# What one echox request costs the server, load-independent counts (perf stat attached to
# the server process only, the client in another process): syscalls, context switches,
# futex, epoll and fstat calls per request, and the server's CPU time per request.
#   bash bench/python/percall.sh gmp|gevent [NCONN ROUNDS]   (PYTHON=... to pick one)
# Needs perf with tracepoints (perf list | grep raw_syscalls).
set -euo pipefail
impl=$1; n=${2:-500}; r=${3:-200}
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
coproc SRV { exec "$py" "$here/echox_server.py" "$impl" "$n"; }
read -r port <&"${SRV[0]}"
spid=$SRV_PID
sleep 0.5
perf stat -x, -p "$spid" -o "$out" -e raw_syscalls:sys_enter,sched:sched_switch,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_newfstatat,syscalls:sys_enter_read,syscalls:sys_enter_write &
pp=$!
sleep 0.5
"$py" "$here/workloads.py" echox "$impl" --client "$port,$n,$r"
wait "$spid"
kill -INT "$pp" 2>/dev/null || true
wait "$pp" || true
awk -F, -v R=$((n * r)) '$1 ~ /^[0-9]+$/ {e=$3; sub(/.*:(sys_enter_)?/, "", e); printf "%s %.2f  ", e, $1 / R} END {print "(per request)"}' "$out"
