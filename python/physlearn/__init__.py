"""physlearn: simulator of physical learning networks (Temporal Contrastive Learning).

Quick start::

    import physlearn
    model = physlearn.load("netlists/t1_flow_allostery.json")   # any family
    one = model.compare()                                        # one cycle vs ideal CL and −∇C
    print(one.cos_cl, one.slope)                                 # one.delta / one.ideal / one.grad
    run = model.train(cycles=100, progress=True)                 # TCL beside ideal CL and GD
    run.rows["cost_phys"], run.rows["cost_cl"], run.rows["cost_gd"]

Networks can be built in Python (:mod:`physlearn.build`, from networkx graphs or node/edge
arrays) and saved as netlists the CLI runs (:meth:`Model.to_json`). The single-synapse lab is
:mod:`physlearn.synapse`. Sweeps (the CLI's ``physlearn sweep`` on any executor, e.g. Dask):
:func:`sweep_points`, :func:`run_point`, :func:`sweep`, :func:`results_csv`. Errors: :class:`NetlistError` (a ``ValueError`` with ``.faults``),
:class:`RefusedError`, :class:`InputError`, :class:`NumericalError` (a ``RuntimeError``).
"""

from ._errors import (
    InputError,
    InternalError,
    NetlistError,
    NumericalError,
    PhyslearnError,
    RefusedError,
)
from ._core import CHECKPOINT_FORMAT, Compare
from ._model import Model, RunResult, TrainResult, load
from ._sweep import SweepPoint, results_csv, run_point, sweep, sweep_points
from . import build, synapse

__version__ = "0.1.0"

__all__ = [
    "load",
    "Model",
    "Compare",
    "TrainResult",
    "RunResult",
    "build",
    "synapse",
    "sweep",
    "sweep_points",
    "run_point",
    "results_csv",
    "SweepPoint",
    "PhyslearnError",
    "NetlistError",
    "RefusedError",
    "InputError",
    "NumericalError",
    "InternalError",
    "CHECKPOINT_FORMAT",
]
