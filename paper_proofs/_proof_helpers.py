"""Shared helpers for the executable proofs: random *valid* games and small exact computations.

Random preference matrices come from the test suite's one generator of valid P
(``tests/strategies.py``: a random upper triangle, 1 − transpose below it, ½ on the diagonal),
here fed by a seeded ``numpy`` draw.  Everything is float64 and seeded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy.special import log_softmax, softmax
from strategies import preference_matrix_from_upper

from prefgame.equilibrium import best_response, kl, solve
from prefgame.games import PreferenceGame

__all__ = [
    "SEEDS",
    "best_response",
    "fd_grad",
    "games",
    "grad",
    "kl",
    "log_softmax",
    "minimise",
    "mixture",
    "population_loss",
    "random_P",
    "random_game",
    "random_policy",
    "softmax",
    "solve_pi",
    "t64",
]

SEEDS = range(8)


def random_P(
    n: int, rng: np.random.Generator, *, low: float = 0.0, high: float = 1.0
) -> np.ndarray:
    """A valid preference matrix: U(low, high) above the diagonal, 1 − Pᵀ below, ½ on it."""
    P = preference_matrix_from_upper(rng.uniform(low, high, size=(n, n)))
    PreferenceGame(P)  # validates
    return P


def random_policy(n: int, rng: np.random.Generator, *, conc: float = 1.0) -> np.ndarray:
    """A full-support Dirichlet(conc) policy (floored away from 0 so logs stay finite)."""
    p = rng.dirichlet(np.full(n, conc)) + 1e-3
    return p / p.sum()


def random_game(
    seed: int, n: int | None = None
) -> tuple[np.ndarray, np.ndarray, float, np.random.Generator]:
    """(P, μ, τ) for a seed: n ∈ {2..7}, random μ, τ log-uniform in [0.05, 2]."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 8)) if n is None else n
    P = random_P(n, rng)
    mu = random_policy(n, rng)
    tau = float(np.exp(rng.uniform(np.log(0.05), np.log(2.0))))
    return P, mu, tau, rng


def games(
    seeds: Iterable[int] = SEEDS, n: int | None = None
) -> list[tuple[np.ndarray, np.ndarray, float, np.random.Generator]]:
    """One :func:`random_game` per seed."""
    return [random_game(s, n) for s in seeds]


def mixture(pi: np.ndarray, mu: np.ndarray, beta: float) -> np.ndarray:
    """Geometric mixture π^{1−β} μ^β / Z (computed in log space)."""
    return softmax((1 - beta) * np.log(pi) + beta * np.log(mu), axis=-1)


def solve_pi(P: np.ndarray, mu: np.ndarray, tau: float) -> np.ndarray:
    eq = solve(PreferenceGame(P, mu), tau)
    assert eq.converged, eq
    return eq.policy


def t64(x: ArrayLike) -> torch.Tensor:
    """A float64 torch tensor."""
    return torch.tensor(np.array(x, dtype=np.float64))


def population_loss(
    z: torch.Tensor,
    P: np.ndarray,
    mu: np.ndarray,
    tau: float,
    sampler: np.ndarray,
    loss: str = "ipo",
) -> torch.Tensor:
    """E_{y, y' ∼ sampler}[ℓ(h_θ(y, y'), P(y ≻ y'))] for logits z (torch, autograd-ready).

    ``sampler`` is a fixed policy (numpy, no gradient: the stop-gradient of the papers); ℓ is the
    soft-label loss from ``prefgame.losses.LOSSES`` (the one definition in the library).
    """
    from prefgame.losses import LOSSES

    u = torch.log_softmax(z, 0) - t64(np.log(mu))
    h = u[:, None] - u[None, :]
    w = t64(np.outer(sampler, sampler))
    return torch.sum(w * LOSSES[loss](h, t64(P), tau=tau))


def grad(fun: Callable[[torch.Tensor], torch.Tensor], z0: np.ndarray) -> np.ndarray:
    """Autograd gradient of a scalar torch function of logits at z0."""
    z = t64(z0).clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fun(z), z)
    return g.numpy()


def fd_grad(
    fun: Callable[[torch.Tensor], torch.Tensor], z0: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """Central finite differences of the same function (float64)."""
    out = np.empty_like(z0)
    for k in range(len(z0)):
        e = np.zeros_like(z0)
        e[k] = eps
        out[k] = (float(fun(t64(z0 + e))) - float(fun(t64(z0 - e)))) / (2 * eps)
    return out


def minimise(
    fun: Callable[[torch.Tensor], torch.Tensor], z0: np.ndarray, iters: int = 200
) -> np.ndarray:
    """Minimise a smooth torch function of logits with L-BFGS (float64)."""
    z = t64(z0).clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [z],
        lr=1,
        max_iter=iters,
        tolerance_grad=1e-14,
        tolerance_change=1e-16,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        val = fun(z)
        val.backward()
        return val

    for _ in range(5):
        opt.step(closure)
    return z.detach().numpy()
