#!/usr/bin/env bash
# Builds the Python binding (bindings/python: `import gmp`, distribution gmp-runtime) and
# runs its pytest suite (tests/python).
#
# What it does:
#   1. makes a venv at build/python-venv with python3.11 (PYTHON=... to choose another
#      3.11 interpreter) and pip-installs maturin and pytest into it;
#   2. builds a release wheel with maturin (which builds libgmp.so from this repository
#      and ships it inside the package as gmp/libgmp.so.0) and installs it in the venv;
#   3. runs pytest on tests/python from outside the source tree, so the installed wheel
#      is what is tested. Extra arguments go to pytest.
# Exits non-zero if anything fails, including pytest finding no tests (exit code 5).
#
# Needs: a Rust toolchain (cargo), a C compiler, python3.11 with venv, and PyPI (maturin,
# pytest; pyo3 and cc come from crates.io). Build output goes to $CARGO_TARGET_DIR, by
# default build/python-target.
# Usage: bash scripts/test-python.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

py=${PYTHON:-}
if [ -z "$py" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1; then py=$c; break; fi
  done
fi
if [ -z "$py" ]; then
  echo "test-python: no python3.11 found (set PYTHON=...)" >&2
  exit 1
fi
ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$ver" != "3.11" ]; then
  echo "test-python: $py is Python $ver; the binding supports CPython 3.11 only" >&2
  exit 1
fi

venv=$root/build/python-venv
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet "maturin>=1.5,<2" pytest -r "$root/tests/python/requirements.txt"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/build/python-target}
wheels=$root/build/python-wheels
rm -rf "$wheels"
echo "== building the gmp-runtime wheel (maturin, release)"
(
  cd bindings/python
  "$venv/bin/maturin" build --release --quiet --interpreter "$venv/bin/python" --out "$wheels"
)
whl=$(ls "$wheels"/gmp_runtime-*.whl)
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$whl"
"$venv/bin/python" - "$whl" <<'EOF2' || { echo "test-python: the wheel does not carry gmp/libgmp.so.0" >&2; exit 1; }
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
sys.exit(0 if "gmp/libgmp.so.0" in names and any(n.startswith("gmp/_gmp.") for n in names) else 1)
EOF2

echo "== pytest tests/python"
# Run from build/ so `import gmp` resolves to the installed wheel, not the source tree.
cd "$root/build"
set +e
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$root/tests/python" "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then
  echo "test-python: pytest collected no tests" >&2
  exit 1
fi
exit $rc
