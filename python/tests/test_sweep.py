"""Sweeps from Python on real executors give the CLI's `physlearn sweep` rows."""

from __future__ import annotations

import csv
import io
from concurrent.futures import ThreadPoolExecutor

import pytest

import physlearn

SETS = ["protocol.beta_max=1,2", "elements[*].update.rho=0.5,1"]


def table(text):
    """CSV rows without the timing columns (names ending in wall_seconds)."""
    rows = list(csv.reader(io.StringIO(text)))
    keep = [i for i, h in enumerate(rows[0]) if not h.endswith("wall_seconds")]
    return [[r[i] for i in keep] for r in rows]


@pytest.fixture(scope="module")
def cli_table(cli, t1_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "s"
    cli("sweep", t1_path, "--set", SETS[0], "--set", SETS[1], "--mode", "train",
        "--cycles", "3", "--jobs", "2", "--out", out, check=True)
    return table((out / "results.csv").read_text())


def test_points_are_the_cli_grid(t1_path):
    pts = physlearn.sweep_points(t1_path, SETS, mode="train", cycles=3)
    assert [p.index for p in pts] == [0, 1, 2, 3]
    assert [p.values["protocol.beta_max"] for p in pts] == [1, 1, 2, 2]
    assert [p.values["elements[*].update.rho"] for p in pts] == [0.5, 1, 0.5, 1]
    assert len({p.id for p in pts}) == 4
    assert [p.index for p in physlearn.sweep_points(t1_path, SETS, shard="1/3")] == [1]
    with pytest.raises(physlearn.InputError, match="addresses nothing"):
        physlearn.sweep_points(t1_path, ["protocol.beta_mx=1"])


def test_dask_local_cluster_gives_the_cli_results(t1_path, cli_table):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        rows = physlearn.sweep(t1_path, SETS, executor=client, mode="train", cycles=3)
        # the documented executor view works too
        pts = physlearn.sweep_points(t1_path, SETS, mode="train", cycles=3)
        rows2 = list(client.get_executor().map(physlearn.run_point, pts))
    assert [r["status"] for r in rows] == ["ok"] * 4
    assert table(physlearn.results_csv(rows)) == cli_table
    assert table(physlearn.results_csv(rows2)) == cli_table


def test_thread_pool_and_bad_points(t1_path):
    sets = ["elements[*].update.rho=0.85,-1"]
    with ThreadPoolExecutor(2) as ex:
        rows = physlearn.sweep(t1_path, sets, executor=ex)
    assert [r["status"] for r in rows] == ["ok", "bad_input"]
    assert "elements[0..105].update.rho (106 entries)" in rows[1]["message"]
    assert rows[0]["one_cycle"]["cos_cl"] == physlearn.load(t1_path).compare().cos_cl
