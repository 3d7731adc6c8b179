"""Build flow and elastic networks in Python, without writing JSON by hand.

Every builder returns a netlist ``dict`` (format ``physlearn-netlist/1``, docs/netlist.md):
pass it to :meth:`physlearn.Model.from_dict` (which validates it and reports every fault with
its JSON path), or save it with ``json.dump`` / :meth:`Model.save` for the CLI.

Node labels may be any hashable (networkx labels, ints, strings): strings are used as node ids
as they are, anything else becomes ``"n<label>"`` (``0`` → ``"n0"``, ``(1, 2)`` →
``"n(1, 2)"``). Element ids default to ``"e0", "e1", …`` in edge order; the orientation of each
element is the edge's ``(u, v)`` order (flow: ``y = p_u − p_v``).

Example (flow, from arrays)::

    from physlearn import build, Model
    nl = build.flow_network(
        nodes=4, edges=[(0, 1), (1, 2), (2, 3), (0, 2), (1, 3)],
        w=[1.0, 0.8, 1.2, 0.5, 0.9],
        sources={0: 1.0, 3: 0.0}, outputs={"o": 2}, targets={"o": 0.6},
        protocol={"beta_max": 0.5},
    )
    model = Model.from_dict(nl)

Example (networkx)::

    import networkx as nx
    g = nx.grid_2d_graph(4, 4)
    nl = build.from_networkx(g, sources={(0, 0): 1.0, (3, 3): 0.0},
                             outputs={"o": (1, 2)}, targets={"o": 0.5})
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Hashable, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["flow_network", "elastic_network", "from_networkx", "node_id", "WEIGHT_FIELD"]

SCHEMA = "physlearn-netlist/1"

#: The netlist field holding each element type's conductance or stiffness.
WEIGHT_FIELD: Dict[str, str] = {
    "resistor": "w",
    "nanofluidic_cm": "w",
    "mechanochemical": "w",
    "spring": "k",
    "sls": "k",
    "maxwell": "k_m",
}

#: Element types without a ``learn`` field (fixed elements).
_FIXED = {"resistor", "spring"}

ArrayLike = Union[float, Sequence[float], np.ndarray]


def node_id(label: Hashable) -> str:
    """The netlist id of a node label: strings as they are, anything else ``"n<label>"``."""
    if isinstance(label, str):
        return label
    if isinstance(label, (np.integer,)):
        label = int(label)
    return f"n{label}"


def _per_edge(value: Any, m: int, name: str) -> List[Any]:
    """A scalar (or None) repeated m times, or a sequence of length m."""
    if value is None or isinstance(value, (str, bool, int, float, np.generic, dict)):
        return [value] * m
    seq = list(np.asarray(value).tolist()) if isinstance(value, np.ndarray) else list(value)
    if len(seq) != m:
        raise ValueError(f"{name} has {len(seq)} entries, expected one per edge ({m})")
    return seq


def _merge(base: Dict[str, Any], extra: Mapping[str, Any]) -> Dict[str, Any]:
    """Deep-merge ``extra`` into a copy of ``base`` (nested dicts merge, other values replace)."""
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _plain(x: Any) -> Any:
    """numpy scalars/arrays → Python numbers/lists (recursively)."""
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def _nodes(nodes: Union[int, Sequence[Hashable]]) -> List[Hashable]:
    if isinstance(nodes, (int, np.integer)) and not isinstance(nodes, bool):
        return list(range(int(nodes)))
    return list(nodes)


def _edges(edges: Any) -> List[Tuple[Hashable, Hashable]]:
    if isinstance(edges, np.ndarray):
        if edges.ndim != 2 or edges.shape[1] != 2:
            raise ValueError(f"edges must have shape (m, 2), got {edges.shape}")
        edges = edges.tolist()
    out = []
    for i, e in enumerate(edges):
        e = tuple(e)
        if len(e) != 2:
            raise ValueError(f"edge {i} has {len(e)} ends, expected 2")
        out.append(e)
    return out


def _network(
    physics: str,
    nodes: Union[int, Sequence[Hashable]],
    edges: Any,
    *,
    positions: Any,
    element: Union[str, Sequence[str]],
    weight: ArrayLike,
    learn: Any,
    params: Optional[Mapping[str, Any]],
    edge_params: Optional[Sequence[Mapping[str, Any]]],
    element_ids: Optional[Sequence[str]],
    sources: Mapping[Hashable, Any],
    outputs: Union[Mapping[str, Any], Sequence[Any]],
    targets: Union[Mapping[str, float], Sequence[float], None],
    output_kind: str,
    examples: Optional[Sequence[Mapping[str, Any]]],
    test_examples: Optional[Sequence[Mapping[str, Any]]],
    protocol: Optional[Mapping[str, Any]],
    solver: Optional[Mapping[str, Any]],
    theta_auto: Optional[Mapping[str, Any]],
    record: Optional[Mapping[str, Any]],
    meta: Any,
) -> Dict[str, Any]:
    labels = _nodes(nodes)
    ids = [node_id(n) for n in labels]
    if len(set(ids)) != len(ids):
        raise ValueError("node labels map to duplicate ids")
    known = set(ids)
    pos_list: Optional[List[Any]] = None
    if positions is not None:
        if isinstance(positions, Mapping):
            missing = [n for n in labels if n not in positions]
            if missing:
                raise ValueError(f"positions missing for nodes {missing[:5]}")
            pos_list = [positions[n] for n in labels]
        else:
            arr = np.asarray(positions, dtype=np.float64)
            if arr.shape != (len(labels), 2):
                raise ValueError(f"positions must have shape ({len(labels)}, 2), got {arr.shape}")
            pos_list = arr.tolist()
    node_list: List[Dict[str, Any]] = []
    for i, nid in enumerate(ids):
        entry: Dict[str, Any] = {"id": nid}
        if pos_list is not None:
            entry["pos"] = [float(pos_list[i][0]), float(pos_list[i][1])]
        node_list.append(entry)

    es = _edges(edges)
    m = len(es)
    types = _per_edge(element, m, "element")
    weights = _per_edge(weight, m, "weight")
    learns = _per_edge(learn, m, "learn")
    extras = list(edge_params) if edge_params is not None else [{}] * m
    if len(extras) != m:
        raise ValueError(f"edge_params has {len(extras)} entries, expected {m}")
    eids = list(element_ids) if element_ids is not None else [f"e{i}" for i in range(m)]
    if len(eids) != m:
        raise ValueError(f"element_ids has {len(eids)} entries, expected {m}")
    elements: List[Dict[str, Any]] = []
    for i, (u, v) in enumerate(es):
        a, b = node_id(u), node_id(v)
        for end in (a, b):
            if end not in known:
                raise ValueError(f"edge {i} ({u!r}, {v!r}) names an unknown node {end!r}")
        t = str(extras[i].get("type", types[i])) if extras[i] else str(types[i])
        el: Dict[str, Any] = {"id": str(eids[i]), "type": t, "nodes": [a, b]}
        if params and t not in _FIXED:
            el = _merge(el, params)
        field = WEIGHT_FIELD.get(t)
        if weights[i] is not None and field is not None:
            el[field] = float(weights[i])
        if learns[i] is not None and t not in _FIXED:
            lv = learns[i]
            if t == "sls" and isinstance(lv, bool):
                lv = "stiffness" if lv else "none"
            el["learn"] = lv
        if extras[i]:
            el = _merge(el, extras[i])
        elements.append(_plain(el))

    src_list = []
    for n, val in sources.items():
        if isinstance(val, Mapping):
            entry = _merge({"node": node_id(n)}, val)
        else:
            entry = {"node": node_id(n), "value": _plain(val)}
        src_list.append(_plain(entry))

    if isinstance(outputs, Mapping):
        out_items = list(outputs.items())
    else:
        out_items = [(f"o{k}", o) for k, o in enumerate(outputs)]
    if isinstance(targets, Mapping):
        tmap = {str(k): v for k, v in targets.items()}
    elif targets is None:
        tmap = {}
    else:
        tl = list(np.asarray(targets, dtype=np.float64).ravel().tolist())
        if len(tl) != len(out_items):
            raise ValueError(f"targets has {len(tl)} entries for {len(out_items)} outputs")
        tmap = {name: tl[k] for k, (name, _) in enumerate(out_items)}
    out_list = []
    for name, where in out_items:
        entry = {"id": str(name), "kind": output_kind}
        if output_kind == "node":
            entry["node"] = node_id(where)
        else:
            a, b = where
            entry["nodes"] = [node_id(a), node_id(b)]
        if str(name) in tmap:
            entry["target"] = float(tmap[str(name)])
        out_list.append(entry)

    nl: Dict[str, Any] = {
        "schema": SCHEMA,
        "physics": physics,
        "nodes": node_list,
        "elements": elements,
        "boundary": {"sources": src_list, "outputs": out_list},
    }

    def _examples(exs: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
        out = []
        for ex in exs:
            e: Dict[str, Any] = {}
            if "sources" in ex:
                e["sources"] = {node_id(k): _plain(v) for k, v in ex["sources"].items()}
            if "targets" in ex:
                e["targets"] = {str(k): _plain(v) for k, v in ex["targets"].items()}
            out.append(e)
        return out

    task: Dict[str, Any] = {}
    if examples is not None:
        task["examples"] = _examples(examples)
    if test_examples is not None:
        task["test_examples"] = _examples(test_examples)
    if task:
        nl["task"] = task
    nl["protocol"] = _plain(dict(protocol)) if protocol else {"kind": "sawtooth"}
    nl["protocol"].setdefault("kind", "sawtooth")
    if solver:
        nl["solver"] = _plain(dict(solver))
    if theta_auto:
        nl["theta_auto"] = _plain(dict(theta_auto))
    if record:
        r = _plain(dict(record))
        nl["record"] = r
    nl["meta"] = _plain(meta) if meta is not None else {"generator": "physlearn.build"}
    return nl


def flow_network(
    nodes: Union[int, Sequence[Hashable]],
    edges: Any,
    *,
    sources: Mapping[Hashable, Any],
    outputs: Union[Mapping[str, Hashable], Sequence[Hashable]],
    targets: Union[Mapping[str, float], Sequence[float], None] = None,
    positions: Any = None,
    element: Union[str, Sequence[str]] = "nanofluidic_cm",
    w: ArrayLike = 1.0,
    learn: Any = None,
    params: Optional[Mapping[str, Any]] = None,
    edge_params: Optional[Sequence[Mapping[str, Any]]] = None,
    element_ids: Optional[Sequence[str]] = None,
    examples: Optional[Sequence[Mapping[str, Any]]] = None,
    test_examples: Optional[Sequence[Mapping[str, Any]]] = None,
    protocol: Optional[Mapping[str, Any]] = None,
    solver: Optional[Mapping[str, Any]] = None,
    theta_auto: Optional[Mapping[str, Any]] = None,
    record: Optional[Mapping[str, Any]] = None,
    meta: Any = None,
) -> Dict[str, Any]:
    """A ``flow`` netlist (node potentials, conductances) from node and edge arrays.

    Parameters
    ----------
    nodes:
        Node labels, or an int ``n`` for labels ``0 … n−1`` (ids ``"n0" …``).
    edges:
        ``(u, v)`` label pairs (a list or an ``(m, 2)`` array); ``y = p_u − p_v``.
    sources:
        ``{node: potential}`` Dirichlet nodes (a dict value is used as the whole source entry,
        e.g. ``{"value": 1.0, "waveform": {...}}``).
    outputs:
        ``{output_id: node}`` (or a list of nodes, ids ``"o0" …``).
    targets:
        ``{output_id: target}`` or a list in output order (the default example's targets).
    positions:
        ``(n, 2)`` array or ``{node: (x, y)}`` (used for drawings in flow).
    element:
        Element type for every edge or one per edge (``"nanofluidic_cm"``, ``"resistor"``,
        ``"mechanochemical"``).
    w:
        Conductances: a scalar or one per edge.
    learn:
        Whether each element learns (scalar or per edge; ``None``: the type's default).
    params:
        Fields merged into every element except the fixed ``resistor``/``spring`` (e.g. ``{"arm": {"C": 0.05, "g_s": 0.05},
        "update": {"rho": 0.85}}``).
    edge_params:
        One dict per edge, merged last (e.g. networkx edge attributes).
    examples, test_examples:
        ``[{"sources": {node: value}, "targets": {output: value}}, …]``.
    protocol, solver, theta_auto, record, meta:
        The netlist sections as dicts (docs/netlist.md); protocol defaults to a sawtooth with
        the library defaults.
    """
    return _network(
        "flow", nodes, edges, positions=positions, element=element, weight=w, learn=learn,
        params=params, edge_params=edge_params, element_ids=element_ids, sources=sources,
        outputs=outputs, targets=targets, output_kind="node", examples=examples,
        test_examples=test_examples, protocol=protocol, solver=solver, theta_auto=theta_auto,
        record=record, meta=meta,
    )


def elastic_network(
    nodes: Union[int, Sequence[Hashable]],
    edges: Any,
    *,
    positions: Any,
    sources: Mapping[Hashable, Any],
    outputs: Union[Mapping[str, Tuple[Hashable, Hashable]], Sequence[Tuple[Hashable, Hashable]]],
    targets: Union[Mapping[str, float], Sequence[float], None] = None,
    element: Union[str, Sequence[str]] = "sls",
    k: ArrayLike = 1.0,
    learn: Any = None,
    params: Optional[Mapping[str, Any]] = None,
    edge_params: Optional[Sequence[Mapping[str, Any]]] = None,
    element_ids: Optional[Sequence[str]] = None,
    examples: Optional[Sequence[Mapping[str, Any]]] = None,
    test_examples: Optional[Sequence[Mapping[str, Any]]] = None,
    protocol: Optional[Mapping[str, Any]] = None,
    solver: Optional[Mapping[str, Any]] = None,
    theta_auto: Optional[Mapping[str, Any]] = None,
    record: Optional[Mapping[str, Any]] = None,
    meta: Any = None,
) -> Dict[str, Any]:
    """An ``elastic2d`` netlist (2D displacements, springs) from node and edge arrays.

    As :func:`flow_network`, except: ``positions`` are required (reference positions);
    ``sources`` map pinned nodes to imposed displacements ``[ux, uy]``; ``outputs`` map ids to
    node pairs whose extension is the output (``pair_extension``); ``k`` are the stiffnesses
    (``k_m`` for ``maxwell``); ``learn`` for ``sls`` is ``"stiffness"``, ``"rest_length"``,
    ``"both"`` or ``"none"`` (``True``/``False`` mean stiffness/none).
    """
    return _network(
        "elastic2d", nodes, edges, positions=positions, element=element, weight=k,
        learn=learn, params=params, edge_params=edge_params, element_ids=element_ids,
        sources=sources, outputs=outputs, targets=targets, output_kind="pair_extension",
        examples=examples, test_examples=test_examples, protocol=protocol, solver=solver,
        theta_auto=theta_auto, record=record, meta=meta,
    )


def from_networkx(
    graph: Any,
    physics: str = "flow",
    *,
    pos: Union[str, Mapping[Hashable, Any], None] = "pos",
    **kwargs: Any,
) -> Dict[str, Any]:
    """A netlist from a networkx graph: its nodes (in ``graph.nodes`` order) and edges (in
    ``graph.edges`` order, oriented ``(u, v)``).

    ``pos`` is a node attribute name holding ``(x, y)`` (default ``"pos"``; used when every node
    has it) or a ``{node: (x, y)}`` mapping such as ``networkx.spring_layout(g)``. Each edge's
    attributes are merged into its element (e.g. ``g.edges[u, v]["w"] = 0.5``,
    ``["type"] = "resistor"``, ``["update"] = {"rho": 2}``); the attribute ``"id"`` names the
    element. Every other keyword goes to :func:`flow_network` (``physics="flow"``) or
    :func:`elastic_network` (``physics="elastic2d"``).
    """
    nodes = list(graph.nodes)
    positions = kwargs.pop("positions", None)
    if positions is None:
        if isinstance(pos, str):
            attrs = [graph.nodes[n].get(pos) for n in nodes]
            if nodes and all(a is not None for a in attrs):
                positions = {n: a for n, a in zip(nodes, attrs)}
        elif pos is not None:
            positions = pos
    edges = []
    edge_params = []
    ids = []
    for u, v, data in graph.edges(data=True):
        edges.append((u, v))
        d = {k: val for k, val in data.items() if k != "id"}
        edge_params.append(d)
        ids.append(data.get("id"))
    if any(i is not None for i in ids):
        kwargs.setdefault(
            "element_ids", [str(i) if i is not None else f"e{k}" for k, i in enumerate(ids)]
        )
    if edge_params and "edge_params" not in kwargs:
        kwargs["edge_params"] = edge_params
    if physics == "flow":
        return flow_network(nodes, edges, positions=positions, **kwargs)
    if physics == "elastic2d":
        if positions is None:
            raise ValueError("an elastic2d network needs node positions (pos)")
        return elastic_network(nodes, edges, positions=positions, **kwargs)
    raise ValueError(f"physics must be 'flow' or 'elastic2d', got {physics!r}")
