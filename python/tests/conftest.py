"""Shared fixtures: the repository's netlists and the CLI binary to compare against.

The CLI binary is taken from $PHYSLEARN_BIN, else from $CARGO_TARGET_DIR/release or the
repository's target/release. test.sh builds it and sets PHYSLEARN_REQUIRE_CLI=1, so a missing
binary fails the CLI comparisons instead of skipping them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NETLISTS = sorted((REPO / "netlists").glob("*.json"))
# Keys that measure wall time (differ between two runs of the same computation).
WALL_KEYS = {"wall_seconds", "reduced_wall_seconds"}


def _find_cli():
    cands = []
    if os.environ.get("PHYSLEARN_BIN"):
        cands.append(Path(os.environ["PHYSLEARN_BIN"]))
    if os.environ.get("CARGO_TARGET_DIR"):
        cands.append(Path(os.environ["CARGO_TARGET_DIR"]) / "release" / "physlearn")
    cands.append(REPO / "target" / "release" / "physlearn")
    for c in cands:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    return None


@pytest.fixture(scope="session")
def cli():
    """Run the physlearn CLI: cli(*args) → CompletedProcess (text)."""
    exe = _find_cli()
    if exe is None:
        if os.environ.get("PHYSLEARN_REQUIRE_CLI"):
            pytest.fail("the physlearn CLI binary is required (PHYSLEARN_BIN) but was not found")
        pytest.skip("physlearn CLI binary not found (set PHYSLEARN_BIN)")
    env = dict(os.environ, PHYSLEARN_NO_PROGRESS="1")

    def run(*args, check=False):
        r = subprocess.run(
            [str(exe), *map(str, args)], capture_output=True, text=True, env=env, cwd=REPO
        )
        if check and r.returncode != 0:
            raise AssertionError(f"physlearn {' '.join(map(str, args))} failed:\n{r.stderr}")
        return r

    return run


@pytest.fixture(scope="session")
def t1_path():
    return REPO / "netlists" / "t1_flow_allostery.json"


@pytest.fixture()
def t1_dict(t1_path):
    return json.loads(t1_path.read_text())


def strip_wall(d):
    return {k: v for k, v in d.items() if k not in WALL_KEYS}
