#!/usr/bin/env bash
# The Python package's tests, on a machine with only the Rust toolchain and CPython >= 3.9 + pip:
# makes python/.venv, installs the test tools, builds the CLI (the tests compare against it),
# installs the package with the README's command `pip install ./python`, and runs pytest.
# Exits non-zero on any failure. Run from anywhere: `bash python/test.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
# One target directory for the CLI and the binding crate, so the simulator is compiled once
# (the binding crate uses the same release profile as the main crate).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
export PHYSLEARN_NO_PROGRESS=1
PY="${PYTHON:-python3}"
VENV="$REPO/python/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
"$VPY" -m pip install -q --upgrade pip
"$VPY" -m pip install -q "maturin>=1.9,<2" pytest numpy networkx pandas matplotlib nbclient nbformat ipykernel distributed
"$VPY" --version
# The CLI the tests compare against.
cargo build --release --bin physlearn
# The package, exactly as a user installs it (README).
(source "$VENV/bin/activate" && pip install ./python)
export PHYSLEARN_BIN="$CARGO_TARGET_DIR/release/physlearn"
export PHYSLEARN_REQUIRE_CLI=1
# From the repository root, so `import physlearn` is the installed package, not python/physlearn.
"$VPY" -m pytest -q python/tests "$@"
