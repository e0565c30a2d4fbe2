"""Optimisers and learning-rate schedules for tabular logits (optax style, pure functions).

An optimiser is a frozen dataclass with ``init(params) -> state`` and
``update(grad, state, t) -> (delta, state)``; the caller applies ``params + delta``.  Everything
works elementwise on arrays of any shape (a batch of games is one array).

* :class:`SGD`  — Δ = −η_t (g + m·v), v ← m·v + g  (heavy-ball momentum m; m = 0 is plain SGD).
* :class:`Adam` — m ← β1 m + (1 − β1) g, v ← β2 v + (1 − β2) g², Δ = −η_t m̂ / (√v̂ + ε) with bias
  corrections m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t).  β1 is configurable: on a preference cycle
  momentum (β1 > 0) makes the last iterate orbit; β1 = 0 (RMSProp-like) settles it.

A schedule is any callable ``t -> float`` (t = 0, 1, …): :func:`constant`, :func:`inverse_time`,
:func:`nash_md_schedule` (η_t = 2/(τ(t+2)), NLHF's theorem), :func:`linear`, :func:`cosine`.
These are the project's one home of schedules: the LLM backend's scheduled τ and β
(``prefgame.llm.config.schedule``) are built from them; its learning rate follows
``transformers.get_scheduler``.  A schedule may start at 0 (e.g. a mixture β warmed up from 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validate import check_positive, check_tau

__all__ = [
    "SGD",
    "Adam",
    "Schedule",
    "as_schedule",
    "constant",
    "cosine",
    "inverse_time",
    "linear",
    "make_optimizer",
    "nash_md_schedule",
]

Schedule = Callable[[int], float]


def constant(lr: float) -> Schedule:
    """η_t = lr."""
    lr = check_positive(lr, "lr", allow_zero=True)
    return lambda t: lr


def inverse_time(lr: float, t0: float = 1.0) -> Schedule:
    """η_t = lr · t0 / (t + t0)  (decays like 1/t)."""
    lr, t0 = check_positive(lr, "lr", allow_zero=True), check_positive(t0, "t0")
    return lambda t: lr * t0 / (t + t0)


def nash_md_schedule(tau: float) -> Schedule:
    """NLHF's step sizes η_t = 2 / (τ (t + 2)), for which KL(π*‖π_T) ≤ 8 / (τ² (T + 1))."""
    tau = check_tau(tau)
    return lambda t: 2.0 / (tau * (t + 2.0))


def _steps(steps: int) -> int:
    if int(steps) < 1:
        raise ValueError(f"steps = {steps}, must be >= 1")
    return int(steps)


def linear(lr: float, steps: int, final: float = 0.0) -> Schedule:
    """η_t = lr + (final − lr) · min(t, steps)/steps  (then final)."""
    lr, final = (
        check_positive(lr, "lr", allow_zero=True),
        check_positive(final, "final", allow_zero=True),
    )
    steps = _steps(steps)
    return lambda t: lr + (final - lr) * (min(t, steps) / steps)


def cosine(lr: float, steps: int, final: float = 0.0) -> Schedule:
    """η_t = final + (lr − final) · ½ (1 + cos(π min(t, steps)/steps))  (then final)."""
    lr, final = (
        check_positive(lr, "lr", allow_zero=True),
        check_positive(final, "final", allow_zero=True),
    )
    steps = _steps(steps)
    return lambda t: final + (lr - final) * 0.5 * (1.0 + math.cos(math.pi * min(t, steps) / steps))


def as_schedule(lr: float | Schedule) -> Schedule:
    """A number becomes a constant schedule; a callable is used as is."""
    return lr if callable(lr) else constant(lr)


@dataclass(frozen=True)
class SGD:
    """SGD with heavy-ball momentum: v ← m v + g,  Δ = −η_t v  (m = 0: plain gradient step)."""

    lr: float | Schedule = 0.1
    momentum: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.momentum) < 1.0:
            raise ValueError(f"momentum = {self.momentum}, must be in [0, 1)")
        if not callable(self.lr):
            check_positive(self.lr, "lr")

    def init(self, params: np.ndarray) -> dict:
        return {"v": np.zeros_like(params)}

    def update(self, grad: np.ndarray, state: dict, t: int) -> tuple[np.ndarray, dict]:
        v = self.momentum * state["v"] + grad
        return -as_schedule(self.lr)(t) * v, {"v": v}


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba) with configurable β1; see the module docstring for the formula."""

    lr: float | Schedule = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.beta1) < 1.0:
            raise ValueError(f"beta1 = {self.beta1}, must be in [0, 1)")
        if not 0.0 <= float(self.beta2) < 1.0:
            raise ValueError(f"beta2 = {self.beta2}, must be in [0, 1)")
        check_positive(self.eps, "eps")
        if not callable(self.lr):
            check_positive(self.lr, "lr")

    def init(self, params: np.ndarray) -> dict:
        return {"m": np.zeros_like(params), "v": np.zeros_like(params)}

    def update(self, grad: np.ndarray, state: dict, t: int) -> tuple[np.ndarray, dict]:
        m = self.beta1 * state["m"] + (1.0 - self.beta1) * grad
        v = self.beta2 * state["v"] + (1.0 - self.beta2) * grad * grad
        mhat = m / (1.0 - self.beta1 ** (t + 1))
        vhat = v / (1.0 - self.beta2 ** (t + 1))
        return -as_schedule(self.lr)(t) * mhat / (np.sqrt(vhat) + self.eps), {"m": m, "v": v}


def make_optimizer(name: str, lr: float | Schedule, **kwargs: Any) -> SGD | Adam:
    """``"sgd"`` or ``"adam"`` by name (a ValueError lists the known names)."""
    table = {"sgd": SGD, "adam": Adam}
    if name not in table:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(table)}")
    return table[name](lr=lr, **kwargs)
