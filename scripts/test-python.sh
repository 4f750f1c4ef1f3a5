#!/usr/bin/env bash
# Builds the Python binding (bindings/python: `import gmp`, distribution gmp-runtime) and
# runs its whole pytest suite (tests/python) on each supported CPython: 3.11, 3.12, 3.13.
#
# For each version X.Y it:
#   1. makes a venv at build/python-venv-X.Y with that interpreter and pip-installs
#      maturin, pytest and mypy (for stubtest) into it;
#   2. builds a release wheel with maturin for that interpreter and installs it in the
#      venv; the wheel ships libgmp.so as gmp/libgmp.so.0, built once for all versions
#      by scripts/stage-python-lib.sh (cargo build --release of this repository);
#   3. runs pytest on tests/python from outside the source tree, so the installed wheel
#      is what is tested (extra arguments go to pytest);
#   4. runs `python -m mypy.stubtest gmp`: the stubs (gmp/__init__.pyi) must agree with
#      the installed package, with no errors.
# Then it checks that pip refuses the wheel's source on an unsupported version when one is
# at hand (a 3.10 interpreter). Exits non-zero if anything fails on any version, including
# pytest finding no tests (exit code 5).
#
# Interpreters: python3.X on PATH, else $(pyenv root)/versions/3.X.*/bin/python3.X; a
# missing one is an error. GMP_PY_VERSIONS="3.12" (space-separated) runs a subset.
# Needs: a Rust toolchain (cargo), a C compiler, the interpreters with venv, and PyPI
# (maturin, pytest, mypy; pyo3 and cc come from crates.io). Build output goes to
# $CARGO_TARGET_DIR, by default build/python-target, shared by every version.
# Usage: bash scripts/test-python.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

versions=${GMP_PY_VERSIONS:-"3.11 3.12 3.13"}
pyenv_root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")

find_python() { # $1 = X.Y; prints an interpreter's path or nothing
  local v=$1 c
  if command -v "python$v" >/dev/null 2>&1; then
    c=$(command -v "python$v")
    # pyenv's shim exists for every version but runs only the selected ones.
    if "$c" -c '' >/dev/null 2>&1; then echo "$c"; return; fi
  fi
  for c in "$pyenv_root"/versions/"$v".*/bin/"python$v"; do
    if [ -x "$c" ]; then echo "$c"; return; fi
  done
}

echo "== libgmp for the wheels (scripts/stage-python-lib.sh)"
bash scripts/stage-python-lib.sh

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/build/python-target}
failed=()
for v in $versions; do
  py=$(find_python "$v")
  if [ -z "$py" ]; then
    echo "test-python: no CPython $v found (python$v on PATH or under $pyenv_root/versions)" >&2
    failed+=("$v:missing")
    continue
  fi
  ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if [ "$ver" != "$v" ]; then
    echo "test-python: $py is Python $ver, not $v" >&2
    failed+=("$v:wrong")
    continue
  fi

  echo "== CPython $v ($py)"
  venv=$root/build/python-venv-$v
  if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2" pytest mypy -r "$root/tests/python/requirements.txt"

  wheels=$root/build/python-wheels-$v
  rm -rf "$wheels"
  echo "== building the gmp-runtime wheel for $v (maturin, release)"
  (
    cd bindings/python
    "$venv/bin/maturin" build --release --quiet --interpreter "$venv/bin/python" --out "$wheels"
  )
  whl=$(ls "$wheels"/gmp_runtime-*.whl)
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$whl"
  if ! "$venv/bin/python" - "$whl" <<'EOF2'; then
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
sys.exit(0 if "gmp/libgmp.so.0" in names and any(n.startswith("gmp/_gmp.") for n in names) else 1)
EOF2
    echo "test-python: the $v wheel does not carry gmp/libgmp.so.0" >&2
    failed+=("$v:wheel")
    continue
  fi

  echo "== pytest tests/python on $v"
  # Run from build/ so `import gmp` resolves to the installed wheel, not the source tree.
  set +e
  (cd "$root/build" && "$venv/bin/python" -m pytest -q -p no:cacheprovider "$root/tests/python" "$@")
  rc=$?
  set -e
  if [ $rc -eq 5 ]; then
    echo "test-python: pytest collected no tests on $v" >&2
    failed+=("$v:no-tests")
  elif [ $rc -ne 0 ]; then
    failed+=("$v:pytest")
  fi

  echo "== stubtest gmp on $v (the stubs agree with the installed package)"
  if ! (cd "$root/build" && MYPY_CACHE_DIR="$root/build/mypy-cache-$v" \
        "$venv/bin/python" -m mypy.stubtest gmp); then
    failed+=("$v:stubtest")
  fi
done

# An unsupported interpreter is refused at install with requires-python's message.
old=$(find_python 3.10 || true)
if [ -n "$old" ] && [ -z "${GMP_PY_VERSIONS:-}" ]; then
  echo "== an unsupported CPython (3.10) is refused at install"
  venv=$root/build/python-venv-3.10
  [ -x "$venv/bin/python" ] || "$old" -m venv "$venv"
  # maturin answers pip's metadata request; the version check is pip's own.
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2"
  set +e
  out=$(PATH="$venv/bin:$PATH" "$venv/bin/python" -m pip install --no-index --no-build-isolation --dry-run \
        "$root/bindings/python" 2>&1)
  rc=$?
  set -e
  if [ $rc -eq 0 ] || ! grep -q "requires a different Python" <<<"$out"; then
    echo "$out" >&2
    echo "test-python: pip did not refuse gmp-runtime on Python 3.10" >&2
    failed+=("3.10:not-refused")
  fi
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "test-python: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "test-python: passed on $versions"
