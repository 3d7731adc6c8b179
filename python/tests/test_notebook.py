"""The quick-start notebook (examples/quickstart.ipynb) runs, so it cannot rot."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import REPO

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"


def test_quickstart_notebook_runs(tmp_path, monkeypatch, cli):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("matplotlib")
    pytest.importorskip("networkx")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("PHYSLEARN_NETLISTS", str(REPO / "netlists"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "cos(Δθ, Δθ_CL) = 0.99" in outputs
    assert any(
        "image/png" in o.get("data", {})
        for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    ), "the scatter and cost plots are drawn"
    # the network saved by the notebook is a netlist the CLI runs
    saved = tmp_path / "grid_network.json"
    r = cli("compare", saved, "--json", check=True)
    assert json.loads(r.stdout)["cos_cl"] > 0.9
