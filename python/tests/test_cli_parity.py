"""The Python package and the CLI are one library: the same keys and the same numbers."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

import physlearn
from conftest import NETLISTS, REPO, strip_wall

HOLD = {"series_edge.json", "maxwell_edge.json"}


@pytest.mark.parametrize("path", NETLISTS, ids=[p.stem for p in NETLISTS])
def test_compare_to_dict_equals_cli_json(path, cli):
    model = physlearn.load(path)
    r = cli("compare", path, "--json")
    if path.name in HOLD:
        # β held constant: both front ends refuse with the same message (exit 2 = bad input).
        assert r.returncode == 2
        with pytest.raises(physlearn.InputError) as e:
            model.compare()
        assert str(e.value) in r.stderr
        return
    assert r.returncode == 0, r.stderr
    want = json.loads(r.stdout)
    got = model.compare().to_dict()
    assert list(got) == list(want), "same keys in the same order"
    assert strip_wall(got) == strip_wall(want), "same numbers, bit for bit"
    assert json.loads(model.compare().to_json()).keys() == want.keys()


@pytest.mark.parametrize("path", NETLISTS, ids=[p.stem for p in NETLISTS])
def test_compare_attributes_are_the_dict_and_metrics_recompute(path):
    model = physlearn.load(path)
    if path.name in HOLD:
        with pytest.raises(physlearn.InputError, match="sawtooth"):
            model.compare()
        return
    c = model.compare()
    d = c.to_dict()
    n = len(model.learnables)
    assert c.learnables == model.learnables == d["learnables"]
    assert c.family == model.family == d["family"]
    for name in ("delta", "ideal", "grad"):
        a = getattr(c, name)
        assert isinstance(a, np.ndarray) and a.dtype == np.float64 and a.shape == (n,)
        np.testing.assert_array_equal(a, np.asarray(d[name], dtype=float))
    for name in ("cos_cl", "cos_grad", "slope", "offset", "cost", "window_fraction",
                 "wrong_sign_fraction", "max_contrast_over_lower_edge", "tail", "rhs_evals"):
        assert getattr(c, name) == d[name], name
    assert c.loop_gain == d["loop_gain"]
    # The metrics, recomputed with numpy from the returned vectors (docs/physics.md §7.5).
    delta, ideal, grad = c.delta, c.ideal, c.grad

    def cos(a, b):
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        return 0.0 if na == 0 or nb == 0 else float(a @ b / (na * nb))

    assert c.cos_cl == pytest.approx(cos(delta, ideal), abs=1e-12)
    assert c.cos_grad == pytest.approx(cos(delta, -grad), abs=1e-12)
    if np.ptp(ideal) > 0:
        slope, offset = np.polyfit(ideal, delta, 1)
        scale = np.max(np.abs(delta))
        assert c.slope == pytest.approx(slope, rel=1e-9, abs=1e-12)
        assert c.offset == pytest.approx(offset, abs=1e-9 * scale)
    floor = 1e-3 * np.max(np.abs(ideal))
    counted = np.abs(ideal) > floor
    if counted.any():
        wrong = np.sum(delta[counted] * ideal[counted] < 0) / counted.sum()
        assert c.wrong_sign_fraction == pytest.approx(wrong, abs=1e-15)


def _csv_rows(text):
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("name,cycles", [("t1_flow_allostery", 3), ("m1_molecular", 2),
                                         ("t2_flow_regression", 4)])
def test_train_rows_equal_cli_train_csv(name, cycles, cli, tmp_path):
    path = REPO / "netlists" / f"{name}.json"
    model = physlearn.load(path)
    res = model.train(cycles=cycles)
    out = tmp_path / "run"
    cli("train", path, "--out", out, "--cycles", cycles, check=True)
    want = _csv_rows((out / "train.csv").read_text())
    got = _csv_rows(res.csv)
    assert list(got[0]) == list(want[0]) == res.columns
    assert len(got) == len(want) == cycles == res.cycles
    for g, w in zip(got, want):
        assert {k: v for k, v in g.items() if k != "wall_seconds"} == {
            k: v for k, v in w.items() if k != "wall_seconds"
        }
    # rows: the same columns as float64 arrays (empty CSV field ↔ NaN)
    for col in res.columns:
        a = res.rows[col]
        assert a.dtype == np.float64 and a.shape == (cycles,)
        if col == "wall_seconds":
            continue
        ref = np.array([float(r[col]) if r[col] != "" else np.nan for r in want])
        np.testing.assert_allclose(a, ref, rtol=1e-8, equal_nan=True)
    # weights_final.csv and summary.json
    wf = _csv_rows((out / "weights_final.csv").read_text())
    assert res.thetas["learnable"] == [r["learnable"] for r in wf] == model.learnables
    np.testing.assert_allclose(res.theta, [float(r["theta_phys"]) for r in wf], rtol=1e-8)
    summ = json.loads((out / "summary.json").read_text())
    for k in ("cycles", "total_cycles", "cost_initial", "cost_final", "cost_reduction",
              "learnables", "family", "epochs"):
        assert res.summary[k] == summ[k], k
    if (out / "epochs.csv").exists():
        ep = _csv_rows((out / "epochs.csv").read_text())
        assert len(res.epochs["epoch"]) == len(ep)
        np.testing.assert_allclose(res.epochs["cos_cl"], [float(r["cos_cl"]) for r in ep], rtol=1e-8)


def test_checkpoint_from_python_resumes_in_the_cli_bit_for_bit(cli, tmp_path, t1_path):
    """Stop a Python run after 2 of 4 cycles (the progress callback raises); the checkpoint it
    wrote is continued by `physlearn train --resume` and gives the uninterrupted run's rows."""
    model = physlearn.load(t1_path)
    full = model.train(cycles=4)
    ck = tmp_path / "ck"

    class Stop(Exception):
        pass

    seen = []

    def cb(row):
        seen.append(row)
        if len(seen) == 3:
            raise Stop

    with pytest.raises(Stop):
        model.train(cycles=4, checkpoint_every=1, checkpoint_dir=ck, progress=cb)
    state = json.loads((ck / "checkpoint.json").read_text())
    assert state["format"] == physlearn.CHECKPOINT_FORMAT
    assert state["next_cycle"] == 2 and state["total_cycles"] == 4
    cli("train", "--resume", ck, check=True)
    resumed = _csv_rows((ck / "train.csv").read_text())
    ref = _csv_rows(full.csv)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "wall_seconds"} for r in rows]
    assert strip(resumed) == strip(ref)
    # the callback saw the rows as dicts of floats, equal to the result's rows
    assert seen[0]["cycle"] == 0 and seen[1]["cost_phys"] == full.rows["cost_phys"][1]


@pytest.mark.parametrize("name", ["t1_flow_allostery", "t3_elastic_allostery_rest_length",
                                  "m1_molecular", "series_edge"])
def test_run_time_series_equals_cli_timeseries_csv(name, cli, tmp_path):
    path = REPO / "netlists" / f"{name}.json"
    model = physlearn.load(path)
    cycles = 2 if name != "series_edge" else None
    ts = model.run(cycles=cycles)
    out = tmp_path / "run"
    args = ["run", path, "--out", out] + (["--cycles", cycles] if cycles else [])
    cli(*args, check=True)
    rows = _csv_rows((out / "timeseries.csv").read_text())
    assert len(rows) == len(ts.t) > 0
    col = lambda k: np.array([float(r[k]) for r in rows])
    np.testing.assert_allclose(ts.t, col("t"), rtol=1e-8, atol=1e-300)
    np.testing.assert_allclose(ts.beta, col("beta"), rtol=1e-8, atol=1e-12)
    for k, name_o in enumerate(ts.output_names):
        np.testing.assert_allclose(ts.outputs[:, k], col(f"o_{name_o}"), rtol=1e-8, atol=1e-12)
    assert ts.outputs.shape == (len(ts.t), len(ts.output_names))
    assert ts.learnables.shape == (len(ts.t), len(model.learnables))
    assert ts.learnable_ids == model.learnables
    # recorded learnables (network: w_<id>/l_<id>; chemical: ell_<pair>)
    checked = 0
    for j, lid in enumerate(ts.learnable_ids):
        key = (f"l_{lid[:-2]}" if lid.endswith(".l") else f"w_{lid}")
        if model.family == "chemical":
            key = f"ell_{lid}"
        if key in rows[0]:
            np.testing.assert_allclose(ts.learnables[:, j], col(key), rtol=1e-8, atol=1e-12)
            checked += 1
    assert checked > 0 or model.family == "flow" and not ts.learnable_ids
    # weights.csv: θ at the start and after every cycle
    wrows = _csv_rows((out / "weights.csv").read_text())
    if model.family != "chemical" and ts.cycles:
        assert ts.theta_cycles.shape == (ts.cycles + 1, len(model.learnables))
        for j, lid in enumerate(ts.learnable_ids):
            key = f"l_{lid[:-2]}" if lid.endswith(".l") else f"w_{lid}"
            np.testing.assert_allclose(
                ts.theta_cycles[:, j], [float(r[key]) for r in wrows], rtol=1e-10
            )
    np.testing.assert_allclose(ts.theta_cycles[0], model.theta0, rtol=1e-14)


@pytest.mark.parametrize("path", NETLISTS, ids=[p.stem for p in NETLISTS])
def test_check_equals_cli_check_json(path, cli):
    model = physlearn.load(path)
    r = cli("check", path, "--json")
    want = json.loads(r.stdout)
    assert want["learnables"] == model.learnables
    diags = want["report"].get("diagnostics")
    if diags is not None:
        assert model.check() == [
            {"level": d["level"], "code": d["code"], "message": d["message"]} for d in diags
        ]
    for d in model.check():
        assert set(d) == {"level", "code", "message"}
        assert d["level"] in ("info", "warning", "error")
    assert (r.returncode == 2) == any(d["level"] == "error" for d in model.check())


def test_synapse_equals_cli(cli):
    args = dict(kernel="ecoli", area=0.0, tau_fast=1.0, tau_slow=20.0, s0=1.0, theta=5.0,
                amplitudes=[3, 6, 50, 90, 110])
    r = cli("synapse", "--kernel", "ecoli", "--area", "0", "--tau-fast", "1", "--tau-slow", "20",
            "--s0", "1", "--theta", "5", "--amplitudes", "3,6,50,90,110", "--json", check=True)
    want = json.loads(r.stdout)
    got = physlearn.synapse.curve(**args)
    assert got == want
    dw = physlearn.synapse.delta_w(**args)
    assert dw.dtype == np.float64
    np.testing.assert_array_equal(dw, want["delta_w"])
    r = cli("synapse", "--kernel", "ladder", "--tau-fast", "1", "--tau-slow", "20",
            "--amplitudes", "1,2,3", "--dt", "1e-3", "--json", check=True)
    got = physlearn.synapse.curve("ladder", None, 1, 20, 0, "auto", [1, 2, 3], dt=1e-3)
    assert got == json.loads(r.stdout)


def test_ladder_equals_cli(cli):
    r = cli("ladder", "--gamma", "0.01", "--F", "25", "--json", check=True)
    want = json.loads(r.stdout)
    got = physlearn.synapse.ladder(0.01, 25)
    values = got["kernel"].pop("values")
    wv = want["kernel"].pop("values")
    assert isinstance(values, np.ndarray) and values.dtype == np.float64
    np.testing.assert_array_equal(values, wv)
    assert got == want
