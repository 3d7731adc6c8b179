"""Exceptions raised by physlearn (the Rust core maps every library error onto one of these)."""

from __future__ import annotations

from typing import Iterable, List, Tuple

__all__ = [
    "PhyslearnError",
    "NetlistError",
    "RefusedError",
    "InputError",
    "NumericalError",
    "InternalError",
]


class PhyslearnError(Exception):
    """Base class of every physlearn exception."""


class NetlistError(PhyslearnError, ValueError):
    """The netlist is not valid JSON or has faults.

    ``faults`` lists every fault at once as ``(json_path, message)`` tuples, e.g.
    ``("elements[3].arm.C", "must be > 0, got -1")``; a JSON syntax error has the path ``"$"``.
    """

    faults: List[Tuple[str, str]]

    def __init__(self, message: str, faults: Iterable[Tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.faults = [(str(p), str(m)) for p, m in faults]

    @property
    def paths(self) -> List[str]:
        """The JSON paths of the faults, in order."""
        return [p for p, _ in self.faults]


class RefusedError(PhyslearnError, ValueError):
    """The load-time diagnostics report errors (``Model.check()``); pass ``force=True`` to run
    anyway (the CLI's ``--force``)."""


class InputError(PhyslearnError, ValueError):
    """A valid model or parameter set that this operation cannot take (e.g. ``compare`` on a
    ``hold`` protocol, ``cycles=0``, a synapse parameter out of range, a bad checkpoint)."""


class NumericalError(PhyslearnError, RuntimeError):
    """A numerical failure: non-finite values, step-size underflow, a singular network, stiffness
    detected. The message names the element or node and the time."""


class InternalError(PhyslearnError, RuntimeError):
    """A bug in physlearn (a panic in the Rust core, caught at the boundary). Please report it."""
