"""`physlearn.Model`: one entry point for every family, numpy arrays in and out."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

import numpy as np

from . import _core
from ._core import Compare

__all__ = ["Model", "load", "TrainResult", "RunResult", "Compare"]

PathLike = Union[str, "os.PathLike[str]"]
ProgressArg = Union[bool, Callable[[Dict[str, float]], Any], None]


class Model:
    """A validated, resolved physlearn model of any family (``flow``, ``elastic2d``,
    ``chemical``): every ``"auto"`` setting of the netlist is resolved and the load-time
    diagnostics are computed.

    Create one with :func:`physlearn.load`, :meth:`Model.from_json` or :meth:`Model.from_dict`
    (a netlist built in Python, e.g. by :mod:`physlearn.build`). Invalid netlists raise
    :class:`physlearn.NetlistError` listing every fault with its JSON path.

    Models are immutable and can be shared between threads; the long calls (:meth:`compare`,
    :meth:`train`, :meth:`run`) release the GIL, so a thread pool runs several models at once.
    Models pickle (as their netlist), so process pools and Dask work too.
    """

    __slots__ = ("_m",)

    def __init__(self, core: "_core.Model") -> None:
        if not isinstance(core, _core.Model):
            raise TypeError(
                "use physlearn.load(path), Model.from_json(text) or Model.from_dict(d)"
            )
        self._m = core

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def load(cls, path: PathLike) -> "Model":
        """Read, validate and resolve a netlist file (same as :func:`physlearn.load`)."""
        return cls(_core.Model.load(os.fspath(path)))

    @classmethod
    def from_json(cls, text: str) -> "Model":
        """Validate and resolve netlist JSON text."""
        if not isinstance(text, str):
            raise TypeError(f"from_json expects a str, got {type(text).__name__}")
        return cls(_core.Model.from_json(text))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Model":
        """Validate and resolve a netlist given as a dict (values may be numpy arrays and
        scalars). Faults raise :class:`physlearn.NetlistError` with every JSON path."""
        return cls(_core.Model.from_dict(d))

    # -- properties --------------------------------------------------------------------------
    @property
    def family(self) -> str:
        """``"flow"``, ``"elastic2d"`` or ``"chemical"``."""
        return self._m.family

    @property
    def learnables(self) -> List[str]:
        """Ids of the learnable parameters θ, the order of every θ vector: network, the
        learning weights by element id, then the learning rest lengths as ``"<id>.l"``;
        chemical, the linker pairs."""
        return self._m.learnables

    @property
    def theta0(self) -> np.ndarray:
        """θ at the start (float64 array over :attr:`learnables`)."""
        return self._m.theta0

    @property
    def sha256(self) -> str:
        """SHA-256 of the netlist file bytes (or of the compact JSON text when built in memory)."""
        return self._m.sha256

    @property
    def path(self) -> Optional[str]:
        """The file the model was read from (``None``: built in memory)."""
        return self._m.path

    # -- diagnostics and netlist -------------------------------------------------------------
    def check(self) -> List[Dict[str, str]]:
        """The load-time diagnostics as a list of ``{"level", "code", "message"}`` dicts
        (``level`` is ``"info"``, ``"warning"`` or ``"error"``; any error refuses
        :meth:`compare`, :meth:`train` and :meth:`run` unless ``force=True``)."""
        return self._m.check()

    def to_dict(self) -> Dict[str, Any]:
        """The netlist as written (a dict the CLI runs once saved as JSON)."""
        return self._m.netlist()

    def to_json(self, indent: Optional[int] = 2) -> str:
        """The netlist as JSON text (``indent=None``: compact)."""
        if indent is None:
            return self._m.netlist_json()
        return json.dumps(self._m.netlist(), indent=indent) + "\n"

    def save(self, path: PathLike) -> None:
        """Write the netlist to ``path`` (``physlearn check/compare/train path`` run it)."""
        with open(os.fspath(path), "w", encoding="utf-8") as f:
            f.write(self.to_json())

    # -- simulations -------------------------------------------------------------------------
    def compare(self, force: bool = False) -> Compare:
        """One sawtooth cycle of example 0 at the initial θ against the ideal contrastive rule
        and the exact gradient (``physlearn compare``).

        Returns a :class:`physlearn.Compare` with ``delta``, ``ideal``, ``grad`` (float64 arrays
        over :attr:`learnables`), ``cos_cl``, ``cos_grad``, ``slope``, ``offset``, ``cost``,
        ``loop_gain`` and ``to_dict()`` equal to ``physlearn compare FILE --json``.
        Raises :class:`RefusedError` when :meth:`check` reports errors (unless ``force``),
        :class:`InputError` for a ``hold`` protocol, :class:`NumericalError` on failure.
        """
        return self._m.compare(bool(force))

    def train(
        self,
        cycles: Optional[int] = None,
        checkpoint_every: Optional[int] = None,
        progress: ProgressArg = False,
        *,
        checkpoint_dir: Optional[PathLike] = None,
        force: bool = False,
        reference_learners: bool = True,
        cl_rate: float = 1.0,
    ) -> "TrainResult":
        """Train: physical TCL cycle by cycle, beside the ideal-CL and gradient-descent reference
        learners (``physlearn train``).

        Parameters
        ----------
        cycles:
            Number of cycles (default: the netlist's ``protocol.cycles``).
        checkpoint_every:
            Write ``checkpoint_dir/checkpoint.json`` (format ``physlearn-checkpoint/3``, rows in ``checkpoint.rows.jsonl``) every
            this many cycles and at the end; ``physlearn train --resume checkpoint_dir``
            continues it bit for bit. Needs ``checkpoint_dir``.
        progress:
            ``True`` shows a progress bar (tqdm when installed, else a line on stderr);
            a callable receives each cycle's row (dict column → float) as it is computed.
        force:
            Run even when the load-time diagnostics report errors.
        reference_learners:
            Train the ideal-CL and GD reference learners beside the physical one.
        cl_rate:
            Step of the ideal-CL learner in units of the ideal rule.

        Returns a :class:`TrainResult` (``rows``: the ``train.csv`` columns as float64 arrays).
        Ctrl-C stops the run between cycles (``KeyboardInterrupt``).
        """
        if checkpoint_every is not None and checkpoint_dir is None:
            raise ValueError("checkpoint_every needs checkpoint_dir")
        ck_path = None
        if checkpoint_dir is not None:
            if checkpoint_every is None:
                raise ValueError("checkpoint_dir needs checkpoint_every")
            os.makedirs(os.fspath(checkpoint_dir), exist_ok=True)
            ck_path = os.path.join(os.fspath(checkpoint_dir), "checkpoint.json")
        callback, close = _progress_callback(progress, cycles, self)
        try:
            raw = self._m.train(
                cycles=_count(cycles, "cycles"),
                force=bool(force),
                reference_learners=bool(reference_learners),
                cl_rate=float(cl_rate),
                callback=callback,
                checkpoint_every=_count(checkpoint_every, "checkpoint_every"),
                checkpoint_path=ck_path,
            )
        finally:
            close()
        return TrainResult(raw, self.learnables, self.family)

    def run(
        self,
        cycles: Optional[int] = 1,
        *,
        force: bool = False,
        sample_cycles: int = 10,
        samples_per_segment: Optional[int] = None,
    ) -> "RunResult":
        """Simulate the protocol (``physlearn run``) and return the sampled time series:
        time ``t``, nudge ``beta``, the ``outputs`` and the ``learnables`` θ at every recorded
        point, and θ at the end of every cycle. ``cycles=None`` uses the netlist's
        ``protocol.cycles``; the first ``sample_cycles`` cycles (and the last) are recorded with
        ``samples_per_segment`` points per integrated segment (default: the netlist's
        ``record``)."""
        raw = self._m.run(
            cycles=_count(cycles, "cycles"),
            force=bool(force),
            sample_cycles=_count(sample_cycles, "sample_cycles", allow_zero=True),
            samples_per_segment=_count(samples_per_segment, "samples_per_segment", allow_zero=True),
        )
        return RunResult(raw)

    # -- python protocol ---------------------------------------------------------------------
    def __repr__(self) -> str:
        return repr(self._m)

    def __reduce__(self):
        return (_unpickle, (self._m.netlist_json(), self.path, self.sha256))


def _unpickle(text: str, path: Optional[str], sha: str) -> Model:
    if path is not None:
        try:
            m = Model.load(path)
            if m.sha256 == sha:
                return m
        except Exception:  # noqa: BLE001 - fall back to the stored netlist
            pass
    return Model.from_json(text)


def _count(v: Optional[int], name: str, allow_zero: bool = False) -> Optional[int]:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    v = int(v)
    if v < (0 if allow_zero else 1):
        raise ValueError(f"{name} must be ≥ {0 if allow_zero else 1}, got {v}")
    return v


def load(path: PathLike) -> Model:
    """Read, validate and resolve a netlist file of any family.

    Raises ``FileNotFoundError``/``OSError`` when the file cannot be read and
    :class:`physlearn.NetlistError` (with ``.faults``) when it is not a valid netlist.
    """
    return Model.load(path)


def _progress_callback(progress: ProgressArg, cycles: Optional[int], model: Model):
    """(callback or None, close function) for ``Model.train``'s ``progress`` argument."""
    if progress is None or progress is False:
        return None, lambda: None
    if callable(progress):
        return progress, lambda: None
    if progress is not True:
        raise TypeError("progress must be a bool or a callable receiving each row")
    total = cycles
    if total is None:
        proto = model.to_dict().get("protocol") or {}
        total = proto.get("cycles", 1) if isinstance(proto, dict) else None
    try:
        from tqdm.auto import tqdm  # type: ignore

        bar = tqdm(total=total, desc="train", unit="cycle")

        def cb(row: Dict[str, float]) -> None:
            bar.update(1)
            bar.set_postfix(cost=f"{row.get('cost_phys', float('nan')):.3e}")

        return cb, bar.close
    except ImportError:
        state = {"k": 0}

        def cb(row: Dict[str, float]) -> None:
            state["k"] += 1
            sys.stderr.write(
                f"\rtrain {state['k']}/{total if total is not None else '?'}"
                f"  cost {row.get('cost_phys', float('nan')):.3e}"
                f"  cos {row.get('cos_cl', float('nan')):.3f}"
            )
            sys.stderr.flush()

        def close() -> None:
            if state["k"]:
                sys.stderr.write("\n")

        return cb, close


class TrainResult:
    """Result of :meth:`Model.train`.

    Attributes
    ----------
    rows: dict
        Column → float64 array, one entry per cycle: the ``train.csv`` columns in their order
        (``cycle, example, beta, cost_phys, cost_cl, cost_gd, cos_cl, cos_grad, slope, offset,
        wrong_sign_fraction, window_fraction, max_contrast_over_lower_edge, loop_gain,
        rhs_evals, accepted_steps, rejected_steps, wall_seconds`` then the family's columns).
        Missing values (no GD learner, loop gain not computed) are NaN.
    columns: list of str
        The column order.
    theta: numpy.ndarray
        Final θ of the physical learner (over ``learnables``).
    thetas: dict
        ``weights_final.csv``: ``learnable`` (ids), ``theta_initial``, ``theta_phys``,
        ``theta_cl``, ``theta_gd`` (arrays; NaN where a learner was not run).
    epochs: dict
        ``epochs.csv`` columns (tasks with several examples; empty otherwise).
    summary: dict
        ``summary.json`` of ``physlearn train``.
    csv: str
        The ``train.csv`` text, byte for byte what the CLI writes.
    """

    def __init__(self, raw: Dict[str, Any], learnables: List[str], family: str) -> None:
        self.columns: List[str] = list(raw["columns"])
        self.rows: Dict[str, np.ndarray] = dict(raw["rows"])
        self.theta: np.ndarray = raw["theta"]
        self.thetas: Dict[str, Any] = dict(raw["thetas"])
        self.epochs: Dict[str, np.ndarray] = dict(raw["epochs"])
        self.summary: Dict[str, Any] = raw["summary"]
        self.csv: str = raw["csv"]
        self.learnables: List[str] = list(learnables)
        self.family: str = family

    @property
    def cycles(self) -> int:
        """Number of cycles run."""
        return len(self.rows.get("cycle", ()))

    def to_pandas(self):
        """The rows as a ``pandas.DataFrame`` (one row per cycle, the ``train.csv`` columns).
        Needs pandas."""
        try:
            import pandas as pd  # type: ignore
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("TrainResult.to_pandas() needs pandas (pip install pandas)") from e
        return pd.DataFrame({c: self.rows[c] for c in self.columns})

    def to_csv(self, path: PathLike) -> None:
        """Write ``train.csv`` (the CLI's format)."""
        with open(os.fspath(path), "w", encoding="utf-8") as f:
            f.write(self.csv)

    def __repr__(self) -> str:
        s = self.summary
        red = (s.get("cost_reduction") or {}).get("phys")
        return (
            f"<physlearn.TrainResult {self.family}: {self.cycles} cycles, "
            f"cost {s.get('cost_initial', float('nan')):.3e} → "
            f"{(s.get('cost_final') or {}).get('phys', float('nan')):.3e}"
            + (f" (×{red:.1f})" if isinstance(red, (int, float)) else "")
            + ">"
        )


class RunResult:
    """Time series of :meth:`Model.run`.

    Attributes
    ----------
    t, beta: numpy.ndarray
        Sample times and the nudge β(t).
    outputs: numpy.ndarray
        Shape (samples, outputs): the outputs at every sample (columns ``output_names``).
    learnables: numpy.ndarray
        Shape (samples, learnables): θ at every sample (columns ``learnable_ids``).
    theta_cycles: numpy.ndarray
        Shape (cycles + 1, learnables): θ at the start and at the end of every cycle.
    cycles: int
        Cycles run (0 for a ``hold`` protocol).
    """

    def __init__(self, raw: Dict[str, Any]) -> None:
        self.t: np.ndarray = raw["t"]
        self.beta: np.ndarray = raw["beta"]
        self.outputs: np.ndarray = raw["outputs"]
        self.output_names: List[str] = list(raw["output_names"])
        self.learnables: np.ndarray = raw["learnables"]
        self.learnable_ids: List[str] = list(raw["learnable_ids"])
        self.theta_cycles: np.ndarray = raw["theta_cycles"]
        self.cycles: int = int(raw["cycles"])

    def output(self, name: str) -> np.ndarray:
        """The time series of one output by id."""
        return self.outputs[:, self.output_names.index(name)]

    def learnable(self, name: str) -> np.ndarray:
        """The time series of one learnable by id."""
        return self.learnables[:, self.learnable_ids.index(name)]

    def __len__(self) -> int:
        return len(self.t)

    def __repr__(self) -> str:
        return (
            f"<physlearn.RunResult {self.cycles} cycles, {len(self.t)} samples, "
            f"{len(self.output_names)} outputs, {len(self.learnable_ids)} learnables>"
        )
