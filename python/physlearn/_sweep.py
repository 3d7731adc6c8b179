"""Sweeps over netlist fields, on any ``concurrent.futures``-style executor.

The grid and every point are the CLI's (``physlearn sweep``): the same keys, the same point
order and ids, the same rows (``results.csv``). The pattern::

    import physlearn
    points = physlearn.sweep_points("netlists/t1_flow_allostery.json",
                                    ["protocol.beta_max=1,2", "elements[*].update.rho=0.5,1"],
                                    mode="train", cycles=100)
    with ProcessPoolExecutor(2) as ex:            # or dask: Client(...).get_executor()
        rows = list(ex.map(physlearn.run_point, points))
    open("results.csv", "w").write(physlearn.results_csv(rows))

or in one call ``rows = physlearn.sweep(file, sets, executor=ex, …)``. A point carries the netlist
text and the grid (plain strings), so workers need no shared file system; a point whose values
the loader refuses, or whose run fails numerically, returns ``status``/``message`` instead of
raising. Timing columns (names ending in ``wall_seconds``) are the only ones that vary between
runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

from . import _core

__all__ = ["SweepPoint", "sweep_points", "run_point", "sweep", "results_csv"]


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: picklable, self-contained (netlist text and grid included)."""

    index: int
    """Position in grid order (the first key varies slowest, seeds fastest)."""
    id: str
    """16 hex digits naming the point's values (the CLI's ``points/<id>.json``)."""
    values: Dict[str, Any]
    """The swept values, key by key."""
    netlist: str = field(repr=False)
    spec: str = field(repr=False)
    label: str = "netlist"


def sweep_points(
    netlist: Union[str, os.PathLike],
    sets: Sequence[str] = (),
    *,
    seeds: Optional[str] = None,
    seed_key: str = "student",
    mode: str = "compare",
    cycles: Optional[int] = None,
    force: bool = False,
    shard: Optional[str] = None,
) -> List[SweepPoint]:
    """The points of ``physlearn sweep NETLIST --set S … [--seeds A..B] [--mode M] [--cycles N]``.

    ``netlist`` is a file path; ``sets`` the ``--set`` texts (``KEY=V1,V2,…`` or
    ``KEY=LO:HI:N[log]``); ``shard="i/n"`` keeps the points ``p`` with ``p mod n == i``.
    A key that addresses nothing raises :class:`physlearn.InputError` before anything runs.
    """
    path = os.fspath(netlist)
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    if isinstance(sets, str):
        sets = [sets]
    plan = json.loads(
        _core.sweep_plan(text, list(sets), seeds, seed_key, mode, cycles, force, path)
    )
    spec = json.dumps(plan["spec"])
    points = [
        SweepPoint(
            index=p["index"],
            id=p["id"],
            values={k: v for k, v in p["values"]},
            netlist=text,
            spec=spec,
            label=path,
        )
        for p in plan["points"]
    ]
    if shard is not None:
        i, n = (int(x) for x in shard.split("/"))
        if not 0 <= i < n:
            raise ValueError(f"shard {shard!r}: need 0 <= i < n")
        points = [p for p in points if p.index % n == i]
    return points


def run_point(point: SweepPoint) -> Dict[str, Any]:
    """Run one point (``compare``, and ``train`` in train mode) and return its row: ``point``,
    ``id``, ``params``, ``seed``, ``status``, ``message``, ``one_cycle``, ``train``,
    ``rhs_evals``, ``wall_seconds`` (the CLI's ``points/<id>.json``)."""
    return json.loads(_core.sweep_run_point(point.netlist, point.spec, point.index, point.label))


def sweep(
    netlist: Union[str, os.PathLike],
    sets: Sequence[str] = (),
    *,
    executor: Any = None,
    **options: Any,
) -> List[Dict[str, Any]]:
    """Run a whole sweep and return its rows in grid order.

    ``executor``: anything with ``submit(fn, arg)`` returning futures with ``.result()``
    (``concurrent.futures`` executors, ``dask.distributed.Client``); ``None`` runs in this
    process. ``options`` are those of :func:`sweep_points`.
    """
    points = sweep_points(netlist, sets, **options)
    if executor is None:
        return [run_point(p) for p in points]
    futures = [executor.submit(run_point, p) for p in points]
    return [f.result() for f in futures]


def results_csv(rows: Iterable[Dict[str, Any]]) -> str:
    """The text of ``results.csv`` for these rows (the CLI's table, rows in the given order)."""
    return _core.sweep_results_csv([json.dumps(r) for r in rows])
