#!/usr/bin/env bash
# Runs bench/python/run.py (gmp vs gevent vs asyncio, side by side in one run) on each
# supported CPython, one table per version.
#
# Uses the venvs scripts/test-python.sh makes (build/python-venv-3.X, gmp installed from
# this tree's wheel; run that first), and pip-installs gevent from PyPI into each.
# GMP_PY_VERSIONS="3.12" runs a subset; other arguments go to run.py, e.g.
#   bash bench/python/run-versions.sh --only spawn,pingpong --repeat 3
# Numbers depend heavily on machine load: compare the columns of one table, not tables
# taken at different times.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
versions=${GMP_PY_VERSIONS:-"3.11 3.12 3.13"}
for v in $versions; do
  venv=$root/build/python-venv-$v
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import gmp' 2>/dev/null; then
    echo "bench: no gmp in $venv: run GMP_PY_VERSIONS=$v bash scripts/test-python.sh first" >&2
    exit 1
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check gevent
  echo "== CPython $v ($("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])'))"
  "$venv/bin/python" bench/python/run.py "$@"
done
