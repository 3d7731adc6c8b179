"""The single-synapse lab (``physlearn synapse`` / ``physlearn ladder``): the weight update
Δw(A) of one synapse over one sawtooth period (paper eq. 7) and the Markov-ladder kernel.

Units are those of the CLI: time in the paper's units (the E. coli kernel has τ_K = 0.05),
signals in arbitrary units, Δw in signal·time.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from . import _core

__all__ = ["delta_w", "curve", "ladder"]

Theta = Union[float, str]


def _amplitudes(amplitudes: Any) -> list:
    a = np.asarray(amplitudes, dtype=np.float64)
    if a.ndim > 1:
        raise ValueError(f"amplitudes must be one-dimensional, got shape {a.shape}")
    return [float(x) for x in a.ravel()]


def curve(
    kernel: str,
    area: Optional[float],
    tau_fast: float,
    tau_slow: float,
    s0: float,
    theta: Theta,
    amplitudes: Union[Sequence[float], np.ndarray],
    *,
    tau_k: float = 0.05,
    tau_u: Optional[float] = None,
    gamma: float = 0.01,
    F: float = 25.0,
    step: float = 200.0,
    dt: float = 1e-4,
) -> Dict[str, Any]:
    """The Δw(A) curve with everything that goes with it: the dict of
    ``physlearn synapse ... --json`` (``amplitudes``, ``delta_w``, ``theta`` (resolved),
    ``kernel``, ``kernel_spec``, ``area``, ``first_moment``, ``tau_fast``, ``tau_slow``, ``s0``,
    ``dt``, ``ideal_eq10``). Arguments as in :func:`delta_w`."""
    return _core.synapse_curve(
        str(kernel),
        None if area is None else float(area),
        float(tau_fast),
        float(tau_slow),
        float(s0),
        theta if isinstance(theta, str) else float(theta),
        _amplitudes(amplitudes),
        tau_k=float(tau_k),
        tau_u=None if tau_u is None else float(tau_u),
        gamma=float(gamma),
        f=float(F),
        step=float(step),
        dt=float(dt),
    )


def delta_w(
    kernel: str,
    area: Optional[float],
    tau_fast: float,
    tau_slow: float,
    s0: float,
    theta: Theta,
    amplitudes: Union[Sequence[float], np.ndarray],
    *,
    tau_k: float = 0.05,
    tau_u: Optional[float] = None,
    gamma: float = 0.01,
    F: float = 25.0,
    step: float = 200.0,
    dt: float = 1e-4,
) -> np.ndarray:
    """Δw per amplitude ``A = s_C − s_F`` of a synapse over one sawtooth period (eq. 7): the
    ``physlearn synapse`` computation.

    Parameters
    ----------
    kernel:
        ``"ecoli"`` (polynomial kernel, M₁ = −1), ``"exp"`` (monotone exponential),
        ``"ifb"`` (integral feedback) or ``"ladder"`` (Markov ladder, App. F).
    area:
        Kernel area I (``None``: 0 for ecoli/ifb, 1 for exp; must be ``None`` for ladder).
    tau_fast, tau_slow:
        Rise time τ_f (free → clamped) and relaxation time τ_s of the sawtooth.
    s0:
        Mean signal ``(s_C + s_F)/2``.
    theta:
        Threshold θ ≥ 0, or ``"auto"`` (eq. 45 with A_max = max|A|).
    amplitudes:
        The amplitudes A (any 1-D array-like).
    tau_k, tau_u:
        Kernel timescale τ_K (0.05) and the integral-feedback fast time (default τ_K/10).
    gamma, F, step:
        Ladder drive γ, rate ratio F and ligand step.
    dt:
        Time step of kernel and protocol (the paper's 1e-4).

    Returns a float64 array of Δw, one per amplitude. Bad parameters raise
    :class:`physlearn.InputError`.
    """
    c = curve(
        kernel, area, tau_fast, tau_slow, s0, theta, amplitudes,
        tau_k=tau_k, tau_u=tau_u, gamma=gamma, F=F, step=step, dt=dt,
    )
    return np.asarray(c["delta_w"], dtype=np.float64)


def ladder(gamma: float, F: float = 25.0, step: float = 200.0, dt: float = 5e-4) -> Dict[str, Any]:
    """The Markov-ladder kernel at drive ``gamma`` (γ = 1: detailed balance), rate ratio ``F``
    and ligand ``step``, Markov-time step ``dt`` (``physlearn ladder --json``): a dict with
    ``area``, ``first_moment``, ``dissipation`` (Schnakenberg entropy production),
    ``dissipation_cycle``, ``raw_first_moment``, ``steady_state``, ``max_probability_error`` and
    ``kernel`` (``{"dt", "values"}``; ``values`` as a float64 array)."""
    d = _core.ladder_summary(float(gamma), f=float(F), step=float(step), dt=float(dt))
    k = d.get("kernel")
    if isinstance(k, dict) and "values" in k:
        k["values"] = np.asarray(k["values"], dtype=np.float64)
    return d
