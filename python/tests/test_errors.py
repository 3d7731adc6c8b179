"""Error paths: every fault with its JSON path, the documented exception classes, and no input
that crashes the interpreter or raises a PanicException."""

from __future__ import annotations

import copy
import json
import math
import random

import numpy as np
import pytest

import physlearn


def test_exception_hierarchy():
    assert issubclass(physlearn.NetlistError, ValueError)
    assert issubclass(physlearn.RefusedError, ValueError)
    assert issubclass(physlearn.InputError, ValueError)
    assert issubclass(physlearn.NumericalError, RuntimeError)
    assert issubclass(physlearn.InternalError, RuntimeError)
    for cls in (physlearn.NetlistError, physlearn.NumericalError, physlearn.InternalError):
        assert issubclass(cls, physlearn.PhyslearnError)


def test_bad_netlist_reports_every_fault_with_its_path(t1_dict, cli, tmp_path):
    d = t1_dict
    d["elements"][3]["arm"]["C"] = -1
    d["elements"][5]["bogus"] = 1
    d["elements"][7]["nodes"] = ["n0", "nX"]
    d["protocol"]["tau_fast"] = "x"
    with pytest.raises(physlearn.NetlistError) as e:
        physlearn.Model.from_dict(d)
    want = ["elements[3].arm.C", "elements[5].bogus", "elements[7].nodes[1]", "protocol.tau_fast"]
    assert e.value.paths == want
    assert all(isinstance(m, str) and m for _, m in e.value.faults)
    assert dict(e.value.faults)["elements[3].arm.C"] == "must be > 0, got -1"
    # the same faults, with the same paths, from the text and from the CLI
    text = json.dumps(d)
    with pytest.raises(physlearn.NetlistError) as e2:
        physlearn.Model.from_json(text)
    assert e2.value.faults == e.value.faults
    path = tmp_path / "bad.json"
    path.write_text(text)
    r = cli("check", path)
    assert r.returncode == 2
    for p, m in e.value.faults:
        assert f"{p}: {m}" in r.stderr
    with pytest.raises(physlearn.NetlistError):
        physlearn.load(path)


def test_json_syntax_error_and_unreadable_file(tmp_path):
    with pytest.raises(physlearn.NetlistError) as e:
        physlearn.Model.from_json('{"schema": ')
    assert e.value.paths == ["$"]
    assert "line 1" in str(e.value)
    with pytest.raises(FileNotFoundError):
        physlearn.load(tmp_path / "missing.json")
    with pytest.raises(TypeError):
        physlearn.Model.from_json(b"{}")


def test_from_dict_rejects_what_is_not_json(t1_dict):
    d = t1_dict
    d["elements"][0]["w"] = float("nan")
    d["elements"][1]["arm"]["C"] = object()
    d["meta"] = {1: "int key"}
    with pytest.raises(physlearn.NetlistError) as e:
        physlearn.Model.from_dict(d)
    assert e.value.paths == ["elements[0].w", "elements[1].arm.C", "meta"]
    # deeply nested or self-referencing input is a fault, not a stack overflow
    deep = []
    cur = deep
    for _ in range(10_000):
        nxt = []
        cur.append(nxt)
        cur = nxt
    d2 = {"meta": deep}
    with pytest.raises(physlearn.NetlistError):
        physlearn.Model.from_dict(d2)
    loop = {}
    loop["self"] = loop
    with pytest.raises(physlearn.NetlistError):
        physlearn.Model.from_dict(loop)
    with pytest.raises(physlearn.NetlistError):
        physlearn.Model.from_json("[" * 100_000)


def test_refused_numerical_and_input_errors(t1_dict, cli, tmp_path):
    sign = copy.deepcopy(t1_dict)
    for e in sign["elements"]:
        e["update"]["polarity"] = -1
    m = physlearn.Model.from_dict(sign)
    assert any(d["level"] == "error" and d["code"] == "sign" for d in m.check())
    with pytest.raises(physlearn.RefusedError, match="sign"):
        m.compare()
    with pytest.raises(physlearn.RefusedError):
        m.train(cycles=1)
    with pytest.raises(physlearn.RefusedError):
        m.run()
    assert m.compare(force=True).cos_cl < 0  # forced: the ascent the check warned about

    num = copy.deepcopy(t1_dict)
    num["solver"]["max_steps"] = 3
    m = physlearn.Model.from_dict(num)
    with pytest.raises(physlearn.NumericalError) as e:
        m.compare()
    assert "t = " in str(e.value) and "element 'e" in str(e.value)
    path = tmp_path / "num.json"
    path.write_text(json.dumps(num))
    assert cli("compare", path).returncode == 3

    m = physlearn.Model.from_dict(t1_dict)
    with pytest.raises(ValueError):
        m.train(cycles=0)
    with pytest.raises(TypeError):
        m.train(cycles=1.5)
    with pytest.raises(ValueError):
        m.train(cycles=2, checkpoint_every=1)  # needs checkpoint_dir
    with pytest.raises(ValueError):
        m.run(cycles=0)
    with pytest.raises(TypeError):
        m.train(cycles=1, progress="yes")
    with pytest.raises(physlearn.InputError):
        m.train(cycles=1, cl_rate=float("nan"))


def test_synapse_parameter_errors():
    syn = physlearn.synapse
    with pytest.raises(physlearn.InputError, match="unknown kernel"):
        syn.delta_w("nope", None, 1, 20, 0, "auto", [1.0])
    with pytest.raises(physlearn.InputError):
        syn.delta_w("ecoli", None, -1, 20, 0, "auto", [1.0])
    with pytest.raises(physlearn.InputError, match="amplitude"):
        syn.delta_w("ecoli", None, 1, 20, 0, "auto", [1.0, np.inf])
    with pytest.raises(physlearn.InputError, match="ladder"):
        syn.delta_w("ladder", 0.5, 1, 20, 0, "auto", [1.0])
    with pytest.raises(physlearn.InputError):
        syn.delta_w("ecoli", None, 1, 20, 0, -1.0, [1.0])
    with pytest.raises(physlearn.InputError):  # 1e13 cells per period
        syn.delta_w("ecoli", None, 1, 20, 0, "auto", [1.0], dt=1e-12)
    with pytest.raises(TypeError):
        syn.delta_w("ecoli", None, 1, 20, 0, "bogus", [1.0])
    with pytest.raises(physlearn.InputError):
        syn.ladder(-1.0)
    with pytest.raises(physlearn.InputError):
        syn.ladder(0.1, dt=0.0)


def test_a_panic_is_an_internal_error_not_a_panic_exception():
    with pytest.raises(physlearn.InternalError, match="deliberate test panic"):
        physlearn._core._panic_for_test()


def _mutate(rng, d):
    """One random mutation somewhere in the JSON tree."""
    weird = [None, -1, 0, 1e308, -1e308, 1e-308, "x", "", [], {}, True, [1, 2, 3],
             {"kind": "nope"}, 2 ** 63, -(2 ** 63), 0.5, "auto"]
    path = []
    node = d
    while True:
        if isinstance(node, dict) and node:
            k = rng.choice(sorted(node))
        elif isinstance(node, list) and node:
            k = rng.randrange(len(node))
        else:
            break
        path.append(k)
        if rng.random() < 0.3 or not isinstance(node[k], (dict, list)):
            break
        node = node[k]
    if not path:
        return
    parent = d
    for k in path[:-1]:
        parent = parent[k]
    r = rng.random()
    if r < 0.15 and isinstance(parent, dict):
        del parent[path[-1]]
    elif r < 0.25 and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[path[-1]]))
    else:
        parent[path[-1]] = copy.deepcopy(rng.choice(weird))


@pytest.mark.parametrize("name", ["series_edge", "t2_flow_regression", "m1_molecular_two_examples"])
def test_mutated_netlists_never_crash(name):
    from conftest import REPO

    base = json.loads((REPO / "netlists" / f"{name}.json").read_text())
    rng = random.Random(1234)
    outcomes = {"ok": 0, "netlist": 0, "other": 0}
    for i in range(60):
        d = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            _mutate(rng, d)
        try:
            m = physlearn.Model.from_dict(d)
        except physlearn.NetlistError as e:
            assert e.faults and all(isinstance(p, str) for p, _ in e.faults)
            outcomes["netlist"] += 1
            continue
        except (physlearn.InputError, physlearn.NumericalError):
            outcomes["other"] += 1
            continue
        outcomes["ok"] += 1
        m.check()
        m.to_json()
        if i % 6 == 0 and m.family != "chemical":
            try:
                m.compare(force=True)
            except (physlearn.InputError, physlearn.NumericalError, physlearn.RefusedError):
                pass
    assert outcomes["netlist"] > 0
