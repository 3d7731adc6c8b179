"""Long calls release the GIL; results do not depend on how they are scheduled."""

from __future__ import annotations

import multiprocessing
import pickle
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

import physlearn
from conftest import REPO, strip_wall

NAMES = ["t1_flow_allostery", "t3_elastic_allostery", "mechanochemical_t1", "m1_molecular"]


def job(name):
    """compare + 3 training cycles; everything but wall times."""
    m = physlearn.load(REPO / "netlists" / f"{name}.json")
    c = strip_wall(m.compare().to_dict())
    t = m.train(cycles=3)
    rows = {k: v.tobytes() for k, v in t.rows.items() if k != "wall_seconds"}
    return c, rows, t.theta.tobytes()


def test_thread_pool_equals_sequential_bit_for_bit():
    sequential = [job(n) for n in NAMES]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(job, NAMES))
    assert parallel == sequential
    # and one model shared by several threads at once
    m = physlearn.load(REPO / "netlists" / "t1_flow_allostery.json")
    with ThreadPoolExecutor(max_workers=4) as pool:
        outs = list(pool.map(lambda _: strip_wall(m.compare().to_dict()), range(4)))
    assert all(o == outs[0] for o in outs)


def test_the_gil_is_released_during_long_calls():
    """A Python thread keeps running while the main thread is inside the Rust core: the
    longest pause between its iterations stays far below the call's duration."""
    m = physlearn.load(REPO / "netlists" / "t2_flow_regression.json")
    stop = threading.Event()
    stamps = []

    def ticker():
        while not stop.is_set():
            stamps.append(time.perf_counter())
            time.sleep(0.001)

    th = threading.Thread(target=ticker)
    th.start()
    try:
        time.sleep(0.05)
        t0 = time.perf_counter()
        m.run(cycles=10)  # one library call (no Python callback inside)
        m.compare()
        t1 = time.perf_counter()
    finally:
        stop.set()
        th.join()
    during = [s for s in stamps if t0 <= s <= t1]
    edges = [t0] + during + [t1]
    gap = max(b - a for a, b in zip(edges, edges[1:]))
    duration = t1 - t0
    assert duration > 0.1, "the workload must be long enough to tell"
    assert gap < 0.25 * duration, (gap, duration, len(during))


def test_models_pickle_and_run_in_a_process_pool():
    m = physlearn.load(REPO / "netlists" / "t1_flow_allostery.json")
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.sha256 == m.sha256 and m2.path == m.path and m2.learnables == m.learnables
    mem = physlearn.Model.from_json(m.to_json())
    mem2 = pickle.loads(pickle.dumps(mem))
    assert mem2.path is None and mem2.to_dict() == mem.to_dict()
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        remote = list(pool.map(job, NAMES[:2]))
    assert remote == [job(n) for n in NAMES[:2]]
