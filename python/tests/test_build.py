"""Networks built in Python (networkx, arrays) become netlists the CLI runs, with identical
results."""

from __future__ import annotations

import json

import numpy as np
import pytest

import physlearn
from physlearn import build
from conftest import strip_wall

nx = pytest.importorskip("networkx")


def grid_netlist():
    g = nx.grid_2d_graph(4, 4)
    for n in g.nodes:
        g.nodes[n]["pos"] = (float(n[0]), float(n[1]))
    rng = np.random.default_rng(7)
    for u, v in g.edges:
        g.edges[u, v]["w"] = float(rng.uniform(0.5, 1.5))
    g.edges[(0, 0), (0, 1)]["type"] = "resistor"  # one fixed element
    return build.from_networkx(
        g,
        sources={(0, 0): 1.0, (3, 3): 0.0},
        outputs={"o1": (1, 2), "o2": (2, 1)},
        targets={"o1": 0.55, "o2": 0.35},
        params={"update": {"rho": 2.0}},
        protocol={"beta_max": 0.5},
        meta={"generator": "test_build.grid_netlist"},
    )


def test_networkx_round_trip_through_the_cli(cli, tmp_path):
    nl = grid_netlist()
    model = physlearn.Model.from_dict(nl)
    assert model.family == "flow"
    assert len(model.learnables) == 24 - 1
    fixed = [e["id"] for e in nl["elements"] if e["type"] == "resistor"]
    assert len(fixed) == 1 and fixed[0] not in model.learnables
    assert all(e["update"] == {"rho": 2.0} for e in nl["elements"] if e["type"] != "resistor")
    assert model.to_dict() == json.loads(json.dumps(nl))
    path = tmp_path / "grid.json"
    model.save(path)
    assert json.loads(path.read_text()) == model.to_dict()
    # CLI check: same learnables and diagnostics
    r = cli("check", path, "--json")
    assert r.returncode == 0, r.stderr
    chk = json.loads(r.stdout)
    assert chk["learnables"] == model.learnables
    assert chk["nodes"] == 16 and chk["elements"] == 24
    assert [
        {"level": d["level"], "code": d["code"], "message": d["message"]}
        for d in chk["report"]["diagnostics"]
    ] == model.check()
    # CLI compare on the saved file = Python compare of the in-memory model
    r = cli("compare", path, "--json", check=True)
    want = json.loads(r.stdout)
    got = model.compare().to_dict()
    assert strip_wall(got) == strip_wall(want)
    assert got["cos_cl"] > 0.9
    # and loading the saved file gives the same model
    again = physlearn.load(path)
    assert strip_wall(again.compare().to_dict()) == strip_wall(got)
    assert again.to_json() == model.to_json()


def test_numpy_arrays_and_integer_labels():
    nodes = np.arange(5)
    edges = np.array([[0, 1], [1, 2], [2, 4], [0, 3], [3, 2], [1, 3], [3, 4]])
    w = np.linspace(0.5, 1.5, 7)
    nl = build.flow_network(
        nodes, edges, w=w, positions=np.random.default_rng(1).uniform(size=(5, 2)),
        sources={np.int64(0): np.float64(1.0), 4: 0.0}, outputs=[2], targets=np.array([0.4]),
    )
    assert [n["id"] for n in nl["nodes"]] == ["n0", "n1", "n2", "n3", "n4"]
    assert nl["boundary"]["outputs"] == [{"id": "o0", "kind": "node", "node": "n2", "target": 0.4}]
    m = physlearn.Model.from_dict(nl)
    np.testing.assert_array_equal(m.theta0, w)
    # from_dict also accepts numpy values directly
    nl["elements"][0]["w"] = np.float32(0.75)
    nl["nodes"][0]["pos"] = np.array([0.1, 0.2])
    m2 = physlearn.Model.from_dict(nl)
    assert m2.theta0[0] == 0.75


def test_elastic_network_from_arrays(cli, tmp_path):
    # a triangulated 3 x 3 lattice, bottom row pinned, the top corners pulled apart
    pos = np.array([[x, y] for y in range(3) for x in range(3)], dtype=float)
    idx = lambda x, y: 3 * y + x
    edges = []
    for y in range(3):
        for x in range(3):
            if x < 2:
                edges.append((idx(x, y), idx(x + 1, y)))
            if y < 2:
                edges.append((idx(x, y), idx(x, y + 1)))
            if x < 2 and y < 2:
                edges.append((idx(x, y), idx(x + 1, y + 1)))
    nl = build.elastic_network(
        9, edges, positions=pos,
        sources={0: [0.0, 0.0], 1: [0.0, 0.0], 2: [0.0, 0.0], 6: [-0.5, 0.0], 8: [0.5, 0.0]},
        outputs={"ext": (3, 5)}, targets={"ext": 0.3},
        params={"update": {"rho": 5.0}}, protocol={"beta_max": 0.5},
    )
    m = physlearn.Model.from_dict(nl)
    assert m.family == "elastic2d"
    assert len(m.learnables) == len(edges)
    c = m.compare()
    assert np.all(np.isfinite(c.delta)) and c.cos_cl > 0.5
    path = tmp_path / "elastic.json"
    m.save(path)
    r = cli("compare", path, "--json", check=True)
    assert strip_wall(json.loads(r.stdout)) == strip_wall(c.to_dict())


def test_builder_argument_errors():
    with pytest.raises(ValueError, match="one per edge"):
        build.flow_network(3, [(0, 1), (1, 2)], w=[1.0], sources={0: 1.0}, outputs=[2])
    with pytest.raises(ValueError, match="unknown node"):
        build.flow_network(3, [(0, 5)], sources={0: 1.0}, outputs=[2])
    with pytest.raises(ValueError, match="positions"):
        build.from_networkx(nx.path_graph(3), "elastic2d", sources={0: [0, 0]}, outputs={})
    # a netlist the builder accepts but the library refuses: every fault with its path
    nl = build.flow_network(3, [(0, 1), (1, 2)], w=[1.0, -2.0], sources={0: 1.0},
                            outputs=["n9"], targets=[0.5])
    with pytest.raises(physlearn.NetlistError) as e:
        physlearn.Model.from_dict(nl)
    paths = e.value.paths
    assert "elements[1].w" in paths
    assert any(p.startswith("boundary.outputs[0]") for p in paths)
