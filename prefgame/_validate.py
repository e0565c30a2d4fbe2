"""Checks of scalar hyper-parameters, shared by the whole package (one home for each check).

Each returns the value as a Python ``float`` or raises ``ValueError`` with a message that names
the parameter and its value, e.g. ``tau = -0.1, must be a finite number >= 0``:

>>> check_tau(0.5)
0.5
>>> check_tau(0.0)
Traceback (most recent call last):
    ...
ValueError: tau = 0.0, must be a finite number > 0
>>> check_positive("1e-3", "lr")
0.001
>>> check_beta(1.5)
Traceback (most recent call last):
    ...
ValueError: beta = 1.5, must be in [0, 1]
"""

from __future__ import annotations

import math
import sys
from typing import Any

__all__ = ["check_beta", "check_positive", "check_tau"]


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """A finite number > 0 (or >= 0 with ``allow_zero``): a KL strength, step size, tolerance."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} = {value!r}, must be a number") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} = {v}, must be a finite number {'>= 0' if allow_zero else '> 0'}")
    return v


#: The smallest normal float64; below it 1/τ overflows (a subnormal τ).
TINY = sys.float_info.min
#: The largest τ accepted: far beyond it τ·KL overflows; long before it π*_τ = μ to float precision.
MAX_TAU = 1e300


def check_tau(tau: Any, *, allow_zero: bool = False) -> float:
    """The KL-regularisation strength τ: finite and > 0 (>= 0 with ``allow_zero``: τ = 0 is the
    unregularised game).  A subnormal τ (0 < τ < 2.2e-308, where 1/τ overflows) and τ > 1e300
    (where τ·KL overflows) are refused."""
    v = check_positive(tau, "tau", allow_zero=allow_zero)
    if v > MAX_TAU:
        raise ValueError(
            f"tau = {v!r} is too large, must be <= {MAX_TAU:g} (pi*_tau = mu to float precision "
            "long before)"
        )
    if 0 < v < TINY:
        zero = "; use tau = 0 for the unregularised game" if allow_zero else ""
        raise ValueError(
            f"tau = {v!r} is subnormal, must be >= {TINY!r} (1/tau overflows below it){zero}"
        )
    return v


def check_beta(beta: Any, *, allow_one: bool = True) -> float:
    """The weight β of μ in the mixture π^{1−β} μ^β: β ∈ [0, 1] (β ∈ [0, 1) without
    ``allow_one``)."""
    try:
        b = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"beta = {beta!r}, must be a number") from None
    if not (0.0 <= b <= 1.0) or (b == 1.0 and not allow_one):
        raise ValueError(f"beta = {b}, must be in [0, {'1]' if allow_one else '1)'}")
    return b
