"""The documented API surface: types, shapes, docstrings and stubs, progress, pandas."""

from __future__ import annotations

import importlib.resources
import io
import contextlib
import json
import pydoc

import numpy as np
import pytest

import physlearn
from conftest import REPO

FAMILIES = {
    "t1_flow_allostery": "flow",
    "t3_elastic_allostery": "elastic2d",
    "m1_molecular": "chemical",
}


@pytest.mark.parametrize("name,family", FAMILIES.items())
def test_model_basics(name, family):
    path = REPO / "netlists" / f"{name}.json"
    m = physlearn.load(path)
    assert m.family == family
    assert isinstance(m.learnables, list) and all(isinstance(x, str) for x in m.learnables)
    assert m.theta0.dtype == np.float64 and m.theta0.shape == (len(m.learnables),)
    assert m.path == str(path)
    assert len(m.sha256) == 64
    assert m.to_dict() == json.loads(path.read_text())
    assert json.loads(m.to_json()) == m.to_dict() == json.loads(m.to_json(indent=None))
    same = physlearn.Model.from_json(path.read_text())
    assert same.sha256 == m.sha256  # the hash of the same bytes
    assert physlearn.Model.from_dict(m.to_dict()).learnables == m.learnables
    assert family in repr(m)
    c = m.compare()
    assert "cos_cl" in repr(c)
    if family == "chemical":
        assert "reduced_cos" in c.extras and c.to_dict()["reduced_cos"] == c.extras["reduced_cos"]
    else:
        assert c.extras == {}


def test_train_result_progress_and_pandas(capsys):
    m = physlearn.load(REPO / "netlists" / "t1_flow_allostery.json")
    rows = []
    r = m.train(cycles=3, progress=rows.append)
    assert [row["cycle"] for row in rows] == [0, 1, 2]
    assert list(rows[0]) == r.columns
    np.testing.assert_array_equal(r.rows["cycle"], [0.0, 1.0, 2.0])
    assert r.cycles == 3 and r.theta.shape == (106,)
    assert r.rows["cost_phys"][0] == pytest.approx(m.compare().cost)
    assert r.summary["cycles"] == 3 and r.epochs == {}
    assert set(r.thetas) == {"learnable", "theta_initial", "theta_phys", "theta_cl", "theta_gd"}
    np.testing.assert_array_equal(r.thetas["theta_phys"], r.theta)
    np.testing.assert_array_equal(r.thetas["theta_initial"], m.theta0)
    # cost falls for every learner on T1
    assert r.rows["cost_phys"][-1] < r.rows["cost_phys"][0]
    assert r.rows["cost_cl"][-1] < r.rows["cost_cl"][0]
    assert r.rows["cost_gd"][-1] < r.rows["cost_gd"][0]
    assert "×" in repr(r)
    # progress=True draws a bar (tqdm when installed, else a line on stderr)
    r2 = m.train(cycles=2, progress=True)
    err = capsys.readouterr().err
    assert "2" in err
    np.testing.assert_array_equal(r2.rows["cost_phys"], r.rows["cost_phys"][:2])
    # without reference learners: cost_cl/cost_gd are NaN
    r3 = m.train(cycles=1, reference_learners=False)
    assert np.isnan(r3.rows["cost_cl"][0]) and np.isnan(r3.thetas["theta_gd"][0])
    pd = pytest.importorskip("pandas")
    df = r.to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == r.columns and len(df) == 3
    np.testing.assert_array_equal(df["cos_cl"].to_numpy(), r.rows["cos_cl"])


def test_epochs_of_a_multi_example_task():
    m = physlearn.load(REPO / "netlists" / "t2_flow_regression.json")
    r = m.train(cycles=8)
    assert list(r.epochs) == ["epoch", "cos_cl", "cos_grad", "slope", "cost",
                              "acc_train_phys", "acc_test_phys", "acc_train_cl",
                              "acc_test_cl", "acc_train_gd", "acc_test_gd"]
    np.testing.assert_array_equal(r.epochs["epoch"], [0.0, 1.0])
    np.testing.assert_array_equal(r.rows["example"], [0, 1, 2, 3, 0, 1, 2, 3])


def test_run_results():
    m = physlearn.load(REPO / "netlists" / "t1_flow_allostery.json")
    ts = m.run(cycles=2)
    assert ts.cycles == 2
    assert np.all(np.diff(ts.t) >= 0)
    beta_max = m.to_dict()["protocol"]["beta_max"]
    assert ts.beta.min() >= 0 and ts.beta.max() == pytest.approx(beta_max)
    assert ts.output("o0").shape == ts.t.shape
    assert ts.learnable("e0").shape == ts.t.shape
    # the last sample is the end of the last cycle
    np.testing.assert_allclose(ts.learnables[-1], ts.theta_cycles[-1], rtol=1e-12)
    # one cycle of run = one training cycle of the physical learner
    tr = m.train(cycles=2, reference_learners=False)
    np.testing.assert_allclose(ts.theta_cycles[-1], tr.theta, rtol=1e-9)
    hold = physlearn.load(REPO / "netlists" / "series_edge.json").run()
    assert hold.cycles == 0 and len(hold.t) > 0 and hold.theta_cycles.shape[0] == 1
    assert len(m.run(cycles=3, sample_cycles=0).t) < len(m.run(cycles=3).t)


def test_synapse_lab_physics():
    syn = physlearn.synapse
    # inside the window, Δw = A (eq. 9/10 with I = 0, M1 = −1); outside, nothing or less
    A = np.array([0.5, 3.0, 6.0, 10.0, 200.0])
    dw = syn.delta_w("ecoli", 0.0, 1.0, 20.0, 0.0, 1.0, A, dt=1e-3)
    assert dw.shape == A.shape and dw.dtype == np.float64
    assert dw[0] == 0.0  # below the window: blocked on both legs
    np.testing.assert_allclose(dw[1:4], A[1:4], rtol=0.05)
    assert abs(dw[4]) < 0.5 * A[4]  # above: the slow leg passes too and cancels
    c = syn.curve("ecoli", 0.0, 1.0, 20.0, 0.0, "auto", A, dt=1e-3)
    assert c["theta"] > 0 and c["first_moment"] == pytest.approx(-1, abs=1e-3)
    lad = syn.ladder(0.01, 25)
    assert lad["area"] == pytest.approx(0.408, abs=1e-3)
    assert lad["first_moment"] == pytest.approx(-1.0, abs=1e-9)
    assert lad["dissipation"] == pytest.approx(4.36182, abs=1e-5)
    assert syn.ladder(1.0)["dissipation"] == pytest.approx(0.0, abs=1e-12)


def test_docstrings_and_stubs():
    for obj in (physlearn.load, physlearn.Model, physlearn.Model.compare, physlearn.Model.train,
                physlearn.Model.run, physlearn.Compare, physlearn.TrainResult,
                physlearn.RunResult, physlearn.synapse.delta_w, physlearn.synapse.ladder,
                physlearn.build.flow_network, physlearn.build.from_networkx,
                physlearn.NetlistError):
        assert obj.__doc__ and len(obj.__doc__) > 20, obj
    for attr in ("delta", "ideal", "grad", "cos_cl", "slope", "loop_gain"):
        assert getattr(physlearn.Compare, attr).__doc__
    text = pydoc.render_doc(physlearn.Model, renderer=pydoc.plaintext)
    assert "compare" in text and "train" in text
    files = importlib.resources.files("physlearn")
    assert files.joinpath("py.typed").is_file()
    stub = files.joinpath("_core.pyi").read_text()
    for name in ("class Model", "class Compare", "def compare", "def train", "def run",
                 "def synapse_curve", "def ladder_summary", "NDArray"):
        assert name in stub


def test_energy_accounting():
    """Energy of one cycle (compare) and per cycle (train.csv columns): the balance closes."""
    m = physlearn.load(REPO / "netlists" / "t1_flow_allostery.json")
    e = m.compare().energy
    assert e == m.compare().to_dict()["energy"]
    assert e["diss_total"] > 0 and e["entropy_production"] is None
    balance = e["work_source"] + e["work_nudge"] + e["work_learning"] - e["diss_total"] - e["stored_change"]
    assert balance == pytest.approx(e["energy_residual"], abs=1e-9 * e["work_source"])
    assert abs(e["energy_residual"]) < 1e-6 * e["work_source"]
    r = m.train(cycles=2)
    for col in ("work_source", "diss_channel", "diss_arm", "diss_nudge", "stored_change", "energy_residual"):
        assert col in r.columns
    assert np.all(np.abs(r.rows["energy_residual"]) < 1e-6 * r.rows["work_source"])
    assert r.summary["energy"]["dissipated_per_cycle"] == pytest.approx(np.mean(r.rows["diss_total"]))
