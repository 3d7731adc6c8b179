"""The references of `compare` recomputed independently with numpy from the netlist alone:
free and clamped Kirchhoff solves, the ideal contrastive rule and the adjoint gradient
(docs/physics.md §1.2–1.3)."""

from __future__ import annotations

import numpy as np
import pytest

import physlearn
from physlearn import build

ARM_DEFAULTS = {"C": 0.05, "g_s": 0.05, "g_leak": 0.0}


def flow_references(nl, beta=None):
    """(ideal, grad, cost, learnable ids) of a flow netlist of resistors and shunted
    nanofluidic_cm elements with one example, by dense Kirchhoff solves."""
    ids = [n["id"] for n in nl["nodes"]]
    index = {n: i for i, n in enumerate(ids)}
    els = nl["elements"]
    src = {index[s["node"]]: float(s["value"]) for s in nl["boundary"]["sources"]}
    outs = nl["boundary"]["outputs"]
    ex = (nl.get("task") or {}).get("examples") or [{}]
    ex = ex[0]
    for node, v in (ex.get("sources") or {}).items():
        src[index[node]] = float(v)
    targets = np.array([float((ex.get("targets") or {}).get(o["id"], o.get("target"))) for o in outs])
    onodes = [index[o["node"]] for o in outs]
    beta = float(nl["protocol"].get("beta_max", 0.5)) if beta is None else beta
    n = len(ids)
    free = [i for i in range(n) if i not in src]
    fpos = {i: k for k, i in enumerate(free)}

    def k_dc(el):
        w = float(el.get("w", 1.0))
        if el["type"] == "resistor":
            return w
        arm = {**ARM_DEFAULTS, **el.get("arm", {})}
        c, gl = arm["g_s"], arm["g_leak"]
        return w + (c * gl / (c + gl) if gl > 0 else 0.0)  # the capacitor blocks DC

    def solve(b_nudge):
        A = np.zeros((len(free), len(free)))
        rhs = np.zeros(len(free))
        for el in els:
            i, j = index[el["nodes"][0]], index[el["nodes"][1]]
            k = k_dc(el)
            for a, b, s in ((i, i, 1), (j, j, 1), (i, j, -1), (j, i, -1)):
                if a in fpos and b in fpos:
                    A[fpos[a], fpos[b]] += s * k
                elif a in fpos and b in src:
                    rhs[fpos[a]] -= s * k * src[b]
        for node, t in zip(onodes, targets):
            if node in fpos:
                A[fpos[node], fpos[node]] += b_nudge
                rhs[fpos[node]] += b_nudge * t
        x = np.linalg.solve(A, rhs)
        p = np.zeros(n)
        for i, v in src.items():
            p[i] = v
        p[free] = x
        return p, A

    pf, A0 = solve(0.0)
    pc, _ = solve(beta)
    o = pf[onodes]
    cost = 0.5 * np.sum((o - targets) ** 2)
    # adjoint: A0 λ = Σ_k e_k (o_k − T_k) on the free nodes
    r = np.zeros(len(free))
    for node, err in zip(onodes, o - targets):
        if node in fpos:
            r[fpos[node]] += err
    lam_f = np.linalg.solve(A0, r)
    lam = np.zeros(n)
    lam[free] = lam_f
    ideal, grad, learn_ids = [], [], []
    for el in els:
        if el["type"] == "resistor" or el.get("learn", True) is False:
            continue
        i, j = index[el["nodes"][0]], index[el["nodes"][1]]
        arm = {**ARM_DEFAULTS, **el.get("arm", {})}
        tau = arm["C"] / (arm["g_s"] + arm["g_leak"])
        rho = float((el.get("update") or {}).get("rho", 10.0))
        yf, yc = pf[i] - pf[j], pc[i] - pc[j]
        ideal.append(-rho * tau * (yc * yc - yf * yf))
        grad.append(-yf * (lam[i] - lam[j]))
        learn_ids.append(el["id"])
    return np.array(ideal), np.array(grad), cost, learn_ids


def test_t1_ideal_rule_and_gradient_from_numpy(t1_dict):
    ideal, grad, cost, ids = flow_references(t1_dict)
    c = physlearn.Model.from_dict(t1_dict).compare()
    assert c.learnables == ids
    scale = np.max(np.abs(ideal))
    assert scale > 1e-6  # a real contrast, so the comparison means something
    np.testing.assert_allclose(c.ideal, ideal, rtol=1e-10, atol=1e-10 * scale)
    np.testing.assert_allclose(c.grad, grad, rtol=1e-8, atol=1e-10 * np.max(np.abs(grad)))
    assert c.cost == pytest.approx(cost, rel=1e-10)
    # and the physical update follows it (README: cos 0.990)
    assert c.cos_cl > 0.98


def test_numpy_reference_detects_a_different_nudge(t1_dict):
    """The check above can fail: the numpy rule at another β is far from compare().ideal."""
    ideal_other, _, _, _ = flow_references(t1_dict, beta=1.0)
    c = physlearn.Model.from_dict(t1_dict).compare()
    assert np.max(np.abs(c.ideal - ideal_other)) > 1e-3 * np.max(np.abs(c.ideal))


def tiny_network(w=(1.0, 0.7, 1.3, 0.5, 0.9, 1.1), beta=0.5):
    """A 5-node network: 6 learning nanofluidic edges and one fixed resistor."""
    return build.flow_network(
        nodes=["a", "b", "c", "d", "e"],
        edges=[("a", "b"), ("b", "c"), ("c", "e"), ("a", "d"), ("d", "c"), ("b", "d"),
               ("d", "e")],
        element=["nanofluidic_cm"] * 6 + ["resistor"],
        w=list(w) + [0.8],
        params=None,
        edge_params=[{"arm": {"C": 0.1, "g_s": 0.05}, "update": {"rho": 2.0}}] * 6 + [{}],
        sources={"a": 1.0, "e": 0.0},
        outputs={"out": "c"},
        targets={"out": 0.3},
        protocol={"beta_max": beta, "tau_fast": 20.0, "tau_slow": 600.0},
    )


def test_tiny_network_built_in_python_matches_kirchhoff():
    nl = tiny_network()
    ideal, grad, cost, ids = flow_references(nl)
    m = physlearn.Model.from_dict(nl)
    assert m.family == "flow"
    assert m.learnables == ids == [f"e{i}" for i in range(6)]
    np.testing.assert_array_equal(m.theta0, [1.0, 0.7, 1.3, 0.5, 0.9, 1.1])
    c = m.compare()
    np.testing.assert_allclose(c.ideal, ideal, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c.grad, grad, rtol=1e-9, atol=1e-13)
    assert c.cost == pytest.approx(cost, rel=1e-12)
    assert np.all(np.isfinite(c.delta))
    # Free-state cost is ½(o − T)²: a finite-difference check of the gradient through the model
    h = 1e-6
    for k in (0, 3):
        w = [1.0, 0.7, 1.3, 0.5, 0.9, 1.1]
        wp, wm = list(w), list(w)
        wp[k] += h
        wm[k] -= h
        cp = flow_references(tiny_network(wp))[2]
        cm = flow_references(tiny_network(wm))[2]
        assert c.grad[k] == pytest.approx((cp - cm) / (2 * h), rel=1e-5)
