"""Exact Nash equilibria of preference games, each with a certificate.

Regularised game (``docs/theory.md`` §2–§3; Munos et al., NLHF, arXiv:2312.00886, Prop. 1;
symbols in ``docs/notation.md``), for τ > 0 and full-support μ:

    P_τ(π ≻ π') = πᵀPπ' − τ KL(π‖μ) + τ KL(π'‖μ),

has a unique symmetric equilibrium π*_τ, the fixed point of the best response

    BR(π) = softmax(log μ + Pπ/τ),        π*_τ = BR(π*_τ).

Duality gap (exploitability) of any policy π — using πᵀPπ = ½:

    gap(π) = 2 [τ log Σ_y μ(y) exp((Pπ)(y)/τ) + τ KL(π‖μ)] − 1 = 2τ KL(π ‖ BR(π)) ≥ 0,

zero iff π = π*_τ.  The second form is a sum of non-negative terms and is what we compute.

The solver is damped Newton on the centred-logit residual

    F(z) = z − log μ − P softmax(z)/τ  (minus its mean),   J = I − A S/τ,  S = diag π − ππᵀ,

with A = P − ½ antisymmetric.  A·S has purely imaginary eigenvalues, so J is never singular; a
backtracking line search on ‖F‖ and continuation in τ (solve at a larger τ, warm-start the next)
make it robust down to τ = 1e-3.  Up to n = 1000 (:data:`KRYLOV_ABOVE`) each Newton step is a
dense solve with J; above, Newton–Krylov: J is only applied to vectors,

    J v = C(v − A S v/τ),   S v = π ⊙ v − π (πᵀv),   A w = P w − ½ (Σw) 1,

one product with P each (A is never formed), and GMRES solves each step only as accurately as
Newton needs.  GMRES on I − A S/τ (similar to I minus a skew matrix, eigenvalues 1 ± iθ,
|θ| ≤ ρ = ‖S^½ A S^½‖/τ) gains about 1/ρ of a digit (natural log) per product, so a certified
τ = 1e-3 solve at n = 10⁴ takes ≈ 200 products' worth of reading P.  τ = 0 (the von Neumann
winner) is an LP solved with HiGHS.

Example — two actions with P(y₁ ≻ y₂) = 0.8 and uniform μ, where π*_τ(y₁) = σ((0.8 − ½)/τ)
(``docs/theory.md`` §2), and the von Neumann winner of NLHF's three rater types (ε = 0.1):

>>> from prefgame.equilibrium import duality_gap, solve
>>> from prefgame.games import three_rater_types
>>> eq = solve([[0.5, 0.8], [0.2, 0.5]], tau=0.5)
>>> eq.policy                      # σ(0.6) = 0.6456563…
array([0.64565631, 0.35434369])
>>> eq.converged, bool(eq.duality_gap <= 1e-12)
(True, True)
>>> round(duality_gap([[0.5, 0.8], [0.2, 0.5]], [0.5, 0.5], 0.5), 6)   # uniform is exploitable
0.044341
>>> solve(three_rater_types(0.1), tau=0.0).policy.round(6)   # (1/3 + ε/2, 1/3 + ε/2, 1/3 − ε)
array([0.383333, 0.383333, 0.233333])
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import solve_triangular
from scipy.optimize import linprog
from scipy.special import log_softmax, softmax
from threadpoolctl import ThreadpoolController

from ._validate import check_positive, check_tau
from .games import GameLike, game_arrays, validate_policy

__all__ = [
    "Equilibrium",
    "best_response",
    "duality_gap",
    "exploitability",
    "fixed_point_residual",
    "kl",
    "residual_floor",
    "solve",
    "solve_regularized",
    "solve_unregularized",
]


@dataclass(frozen=True)
class Equilibrium:
    """A solution with its certificate.

    Attributes:
        policy: π, ``[n]`` for a single game or ``[c, n]`` for a batch of contexts.
        duality_gap: gap(π) (per context ``[c]`` for a batch); ≤ 1e-12 when converged.
        residual: max-norm of the centred fixed-point residual F (linear in the error).
        iterations: Newton iterations used (all continuation stages), or LP iterations.
        converged: whether every context met the tolerance.
        tau: the temperature.
        seconds: wall-clock time of the solve.
        matvecs: products with P used, in units of one float64 product P·v (bytes of the
            matrix read; summed over contexts) — the Newton–Krylov path's cost measure.
            ``None`` for the dense and LP paths.
    """

    policy: np.ndarray
    duality_gap: np.ndarray | float
    residual: np.ndarray | float
    iterations: int
    converged: bool
    tau: float
    seconds: float = 0.0
    matvecs: float | None = None

    def total_gap(self, rho: np.ndarray | None = None) -> float:
        """The context-weighted gap Σ_x ρ(x) gap_x (the gap of the contextual game)."""
        g = np.atleast_1d(self.duality_gap)
        w = np.full(g.shape, 1.0 / g.size) if rho is None else np.asarray(rho)
        return float(w @ g)

    def to_dict(self) -> dict:
        out = {
            "policy": np.asarray(self.policy).tolist(),
            "duality_gap": np.asarray(self.duality_gap).tolist(),
            "residual": np.asarray(self.residual).tolist(),
            "tau": self.tau,
            "n": int(np.shape(self.policy)[-1]),
            "iterations": int(self.iterations),
            "seconds": self.seconds,
            "converged": bool(self.converged),
        }
        if self.matvecs is not None:
            out["matvecs"] = float(self.matvecs)
        return out


# --------------------------------------------------------------------------- certificates


def kl(
    p: np.ndarray,
    q: np.ndarray | None = None,
    *,
    logp: np.ndarray | None = None,
    logq: np.ndarray | None = None,
) -> np.ndarray:
    """KL(p‖q) = Σ p log(p/q) over the last axis (p, q probability vectors), as a sum of
    non-negative terms.

    Written Σ_{p(y)>0} p(y) (e^{−d} − 1 + d) + Σ_{p(y)=0} q(y) with d = log p − log q: since
    Σ_{p>0} p e^{−d} = Σ_{p>0} q and Σ q = 1, this is exactly Σ p d, it is ≥ 0 in floating
    point, and accurate for p ≈ q.  (The q-mass off p's support must be counted: without it a
    p that misses actions would get too small a divergence.)  Pass log-probabilities to avoid
    log(0).

    >>> round(float(kl(np.array([1.0, 0.0]), np.array([0.25, 0.75]))), 12)   # log 4
    1.38629436112
    """
    with np.errstate(divide="ignore"):
        logp = np.log(p) if logp is None else logp
        logq = np.log(q) if logq is None else logq
    p = np.exp(logp)
    with np.errstate(invalid="ignore", over="ignore"):
        d = logp - logq
        q = np.exp(logq)
        # p(e^{−d} − 1 + d) = q − p + p d; the expm1 form is the accurate one for small |d|,
        # the other cannot overflow when p ≪ q (e^{−d} huge).
        near = np.abs(d) < 1.0
        on = np.where(near, p * (np.expm1(np.where(near, -d, 0.0)) + d), q - p + p * d)
        term = np.where(p > 0, on, q)
    return np.maximum(term, 0.0).sum(axis=-1)


def best_response(
    P: GameLike, pi: ArrayLike, tau: float, mu: ArrayLike | None = None, *, log: bool = False
) -> np.ndarray:
    """BR(π) = softmax(log μ + Pπ/τ), the unique maximiser of π'ᵀPπ − τ KL(π'‖μ)."""
    P, mu = game_arrays(P, mu)
    tau = check_tau(tau)
    z = np.log(mu) + np.einsum("...ij,...j->...i", P, pi) / tau
    return log_softmax(z, axis=-1) if log else softmax(z, axis=-1)


def duality_gap(
    game: GameLike, policy: ArrayLike, tau: float, mu: ArrayLike | None = None
) -> np.ndarray | float:
    """gap(π) = 2[τ log Σ μ exp(Pπ/τ) + τ KL(π‖μ)] − 1 = 2τ KL(π‖BR(π)) (τ > 0);
    gap(π) = 2 max_y (Pπ)(y) − 1 at τ = 0.  ≥ 0, and 0 exactly at the equilibrium.

    Works on a single game (``[n]`` policy → float) or a batch (``[c, n]`` → ``[c]``).
    """
    P, mu = game_arrays(game, mu)
    tau = check_tau(tau, allow_zero=True)
    pi = validate_policy(policy, P.shape[-1], name="policy", full_support=False, atol=1e-6)
    if pi.shape != P.shape[:-1]:
        raise ValueError(
            f"policy has shape {pi.shape}, expected {P.shape[:-1]} for P of shape {P.shape}"
        )
    pi = pi / pi.sum(axis=-1, keepdims=True)
    v = np.einsum("...ij,...j->...i", P, pi)
    if tau == 0:
        # ½ = πᵀPπ, so max_y (Pπ)(y) − ½ ≥ 0; written as a max of differences.
        g = 2.0 * np.max(v - np.sum(pi * v, axis=-1, keepdims=True), axis=-1)
        g = np.maximum(g, 0.0)
    else:
        logbr = log_softmax(np.log(mu) + v / tau, axis=-1)
        with np.errstate(divide="ignore"):
            g = 2.0 * tau * kl(pi, logp=np.log(pi), logq=logbr)
    return float(g) if np.ndim(g) == 0 else g


exploitability = duality_gap


def fixed_point_residual(
    game: GameLike,
    policy: ArrayLike,
    tau: float,
    mu: ArrayLike | None = None,
    *,
    log_policy: ArrayLike | None = None,
) -> np.ndarray | float:
    """max_y |F(y)|, F = log π − log μ − Aπ/τ minus its mean (A = P − ½): zero iff π = π*_τ.

    A = P − ½ gives the same centred F as P (½·1ᵀπ is constant across y) with half the
    magnitude, hence half the rounding floor ≈ ε·(|log π| + |log μ| + ½/τ).  Pass
    ``log_policy`` (e.g. ``log_softmax`` of the solver's logits) where entries of π underflow
    to 0: log 0 would make F infinite or NaN although π is the correctly rounded equilibrium.
    """
    P, mu = game_arrays(game, mu)
    tau = check_tau(tau)
    pi = np.asarray(policy, dtype=np.float64)
    if log_policy is None:
        with np.errstate(divide="ignore"):
            log_policy = np.log(pi)
    F = _centred_F(P - 0.5, np.log(mu), tau, np.asarray(log_policy, dtype=np.float64), pi)
    r = np.max(np.abs(F), axis=-1)
    return float(r) if np.ndim(r) == 0 else r


def _centred_F(A, logmu, tau, logpi, pi):
    """F = log π − log μ − Aπ/τ, centred (mean over actions removed); NaN-free for finite logs."""
    with np.errstate(invalid="ignore"):
        F = logpi - logmu - np.einsum("...ij,...j->...i", A, pi) / tau
        return F - F.mean(axis=-1, keepdims=True)


def residual_floor(A: np.ndarray, logmu: np.ndarray, tau: float, pi: np.ndarray) -> np.ndarray:
    """Rounding floor of the centred residual, per context ``[c]``:

        16 ε ‖J‖∞ (1 + max|log μ| + max|Aπ|/τ),   J = I − A S/τ,  S = diag π − ππᵀ.

    The logits z are floats of size ≈ |log μ| + |Aπ|/τ, known to a few ulps; F(z) amplifies
    that error by its Jacobian J, whose norm grows like 1/τ.  No float64 π has a smaller
    residual than this, so the residual test must not ask for less (at τ = 1e-6 the floor is
    ≈ 1e-7 while the duality gap is ≈ 1e-21).
    """
    eps = np.finfo(np.float64).eps
    Ap = np.einsum("...ij,...j->...i", A, pi)
    AS = A * pi[..., None, :] - Ap[..., :, None] * pi[..., None, :]
    n = pi.shape[-1]
    J = np.eye(n) - AS / tau
    norm_J = np.max(np.sum(np.abs(J), axis=-1), axis=-1)
    scale = 1.0 + np.max(np.abs(logmu), axis=-1) + np.max(np.abs(Ap), axis=-1) / tau
    return 16.0 * eps * norm_J * scale


# --------------------------------------------------------------------------- τ > 0: Newton

_BLAS = ThreadpoolController()
#: Below this many actions one BLAS thread is faster (and immune to oversubscription: a
#: multi-threaded OpenBLAS on a busy machine can be 100× slower on 100×100 solves).
_SINGLE_THREAD_BELOW = 300


def _newton(
    A: np.ndarray, logmu: np.ndarray, tau: float, z: np.ndarray, *, tol: float, max_iter: int
) -> tuple[np.ndarray, int, np.ndarray]:
    """Damped Newton for F(z) = C(z − log μ − A softmax(z)/τ) = 0 on a batch ``[c, n]``.

    (P may be replaced by A = P − ½: the ½·11ᵀπ term is constant across y and centred away.)
    Returns (z, iterations, residual max-norm per context).
    """
    n = z.shape[-1]
    eye = np.eye(n)

    F, pi = _residual(A, logmu, tau, z)
    norm = np.sqrt(np.sum(F * F, axis=-1))
    active = np.max(np.abs(F), axis=-1) > tol
    it = 0
    while active.any() and it < max_iter:
        it += 1
        idx = np.flatnonzero(active)
        p = pi[idx]
        # J = I − A S/τ with S = diag π − ππᵀ:  A S = A diag(π) − (Aπ)πᵀ.
        Ap = np.einsum("cij,cj->ci", A[idx], p)
        J = eye - (A[idx] * p[:, None, :] - Ap[:, :, None] * p[:, None, :]) / tau
        try:
            d = -np.linalg.solve(J, F[idx][..., None])[..., 0]
        except np.linalg.LinAlgError:  # cannot happen in exact arithmetic (see module doc)
            d = -F[idx]
        d = d - d.mean(axis=-1, keepdims=True)
        # Backtracking line search on ‖F‖ (per context).
        step = np.ones(len(idx))
        z_idx = z[idx]
        for _ in range(40):
            z_new = z_idx + step[:, None] * d
            F_new, pi_new = _residual(A[idx], logmu[idx], tau, z_new)
            n_new = np.sqrt(np.sum(F_new * F_new, axis=-1))
            ok = (n_new <= (1 - 1e-4 * step) * norm[idx]) | (n_new <= tol)
            if ok.all():
                break
            step = np.where(ok, step, step * 0.5)
        # Accept the last trial point even where the line search stalled: at machine
        # precision ‖F‖ can no longer decrease monotonically.
        z[idx] = z_new - z_new.mean(axis=-1, keepdims=True)
        F[idx], pi[idx], norm[idx] = F_new, pi_new, n_new
        active[idx] = np.max(np.abs(F_new), axis=-1) > tol
        stalled = ~ok & (step < 1e-9)
        if stalled.any():
            # No descent direction left at this precision: stop those contexts.
            active[idx[stalled]] = False
    return z, it, np.max(np.abs(F), axis=-1)


def _residual(A, logmu, tau, z):
    """Centred F(z) = z − log μ − A softmax(z)/τ and π = softmax(z), batched ``[c, n]``."""
    pi = softmax(z, axis=-1)
    F = z - logmu - np.einsum("cij,cj->ci", A, pi) / tau
    return F - F.mean(axis=-1, keepdims=True), pi


def solve_regularized(
    game: GameLike,
    tau: float,
    mu: ArrayLike | None = None,
    *,
    tol: float = 1e-12,
    max_iter: int = 200,
    init: ArrayLike | None = None,
    krylov: bool | None = None,
) -> Equilibrium:
    """π*_τ for τ > 0 and full-support μ (single game or batch), by Newton with continuation.

    ``krylov=None`` picks the path by size: dense Newton up to :data:`KRYLOV_ABOVE` actions,
    matrix-free Newton–Krylov above (``True``/``False`` force one).  Both continue in τ from
    max(τ, 1) down by factors of 4 and return the same certificate; the Krylov path also
    reports ``matvecs`` and never forms an n×n float64 array besides P (its float32 active
    rows A_K· are half of P's bytes at most).

    Converged means: duality gap ≤ ``tol`` and centred residual ‖F‖∞ ≤ max(1e-9, its rounding
    floor :func:`residual_floor`) (the residual is linear in the error, the gap quadratic) in
    every context.  F is computed with A = P − ½ and log π from the logits, so entries of π that
    underflow to 0 do not turn it into NaN.  If that is not met, the result
    says ``converged=False``; it is never silently wrong.
    """
    t0 = time.perf_counter()
    P, mu = game_arrays(game, mu)
    tau = check_tau(tau)
    tol = check_positive(tol, "tol")
    if krylov is None:
        krylov = P.shape[-1] > KRYLOV_ABOVE
    if krylov:
        return _solve_krylov(P, mu, tau, tol, max_iter, init, t0)
    if P.shape[-1] < _SINGLE_THREAD_BELOW:
        with _BLAS.limit(limits=1, user_api="blas"):
            return _solve_regularized(P, mu, tau, tol, max_iter, init, t0)
    return _solve_regularized(P, mu, tau, tol, max_iter, init, t0)


def _solve_regularized(P, mu, tau, tol, max_iter, init, t0) -> Equilibrium:
    single = P.ndim == 2
    Pb = P[None] if single else P
    mub = mu[None] if single else mu
    A = Pb - 0.5
    logmu = np.log(mub)
    res_tol = 1e-11
    # Continuation: τ_0 = max(τ, 1) down to τ geometrically (factor ≤ 4 per stage).
    taus = [tau]
    while taus[-1] < 1.0:
        taus.append(taus[-1] * 4.0)
    taus = taus[::-1]
    if init is not None:
        z = np.log(np.broadcast_to(np.asarray(init, dtype=np.float64), mub.shape)).copy()
        taus = [tau]
    else:
        z = logmu + np.einsum("cij,cj->ci", A, mub) / taus[0]
    z = z - z.mean(axis=-1, keepdims=True)
    iters = 0
    for k, t in enumerate(taus):
        last = k == len(taus) - 1
        # Intermediate stages only need to land in the next stage's basin of attraction.
        z, it, res = _newton(A, logmu, t, z, tol=res_tol if last else 0.1, max_iter=max_iter)
        iters += it
    # log π from the logits: entries of π may underflow to 0 at small τ (log 0 → NaN in F).
    logpi = log_softmax(z, axis=-1)
    pi = np.exp(logpi)
    gap = np.atleast_1d(duality_gap(Pb, pi, tau, mub))
    res = np.max(np.abs(_centred_F(A, logmu, tau, logpi, pi)), axis=-1)
    res_ok = res <= np.maximum(1e-9, residual_floor(A, logmu, tau, pi))
    converged = bool(np.all(gap <= tol) and np.all(res_ok))
    if single:
        return Equilibrium(
            pi[0], float(gap[0]), float(res[0]), iters, converged, tau, time.perf_counter() - t0
        )
    return Equilibrium(pi, gap, res, iters, converged, tau, time.perf_counter() - t0)


# --------------------------------------------------------------------------- τ > 0: Newton–Krylov

#: ``solve_regularized`` switches to the matrix-free Newton–Krylov path above this many actions
#: (``krylov=None``).  Dense Newton costs ≈ n³/3 flops per iteration and an n×n Jacobian per
#: context; Newton–Krylov costs a few hundred products with P and O(n) memory besides P.
KRYLOV_ABOVE = 1000
#: Continuation of the Krylov path: τ, then τ·f for f here, then ×4 up to ≥ 1 (measured at
#: n = 10⁴, τ = 1e-3: (4,), (2,) and (1.5, 3) all read P ≈ 190–205 times).
_KRYLOV_LAST_STAGES: tuple = (4.0,)
#: Start each stage from the secant extrapolation (linear in log τ) of the previous two.
_KRYLOV_PREDICT = True
#: The active set drops the lightest actions holding at most this · τ of the mass.
_KRYLOV_DROP = 1e-4


class _Products:
    """Products with the game's matrix, counted in units of one float64 product P·v (bytes
    of matrix read, relative to reading P once: a product with the float32 rows A_K·
    counts ½ k/n, building them k/n + ½ k/n)."""

    def __init__(self, P: np.ndarray):
        self.P = P
        self.n = P.shape[-1]
        self.count = 0.0

    def A(self, v: np.ndarray) -> np.ndarray:
        """A·v = P·v − ½ (Σv) 1, without forming A = P − ½."""
        self.count += 1.0
        return self.P @ v - 0.5 * v.sum()


class _Block:
    """The rows K of A = P − ½ in float32 (k×n; K the active set), copied in row chunks
    straight into float32: the Jacobian products of the inner Krylov solves, A_K· (S v)
    with S v zero off K.  (Whole rows, not A_KK: a column gather costs several times a
    product with P, the extra n − k columns ≈ 7% per product at n = 10⁴, τ = 1e-3.)  A
    rebuilt block reuses the previous one's memory (``buf``) where it fits."""

    def __init__(self, prod: _Products, K: np.ndarray, buf: np.ndarray | None = None):
        k, n = K.size, prod.n
        self.K = K
        self.in_K = np.zeros(n, dtype=bool)
        self.in_K[K] = True
        if buf is None or buf.size < k * n:
            buf = np.empty(k * n, dtype=np.float32)
        self.buf = buf
        self.A32 = buf[: k * n].reshape(k, n)
        step = max(1, (1 << 21) // max(n, 1))  # ≈ 16 MiB of float64 rows at a time
        tmp = np.empty((min(step, k), n))  # one buffer: fresh 16 MiB arrays each page-fault
        for s in range(0, k, step):
            e = min(s + step, k)
            np.take(prod.P, K[s:e], axis=0, out=tmp[: e - s])
            np.subtract(tmp[: e - s], 0.5, out=self.A32[s:e], casting="unsafe")
        self.sq = 0.5 * k / n
        prod.count += k / n + self.sq

    def covers(self, K: np.ndarray) -> bool:
        return bool(self.in_K[K].all())


def _gmres(matvec, b: np.ndarray, rtol: float, maxiter: int) -> tuple[np.ndarray, int]:
    """GMRES (no restart, x₀ = 0, classical Gram–Schmidt with DGKS re-orthogonalisation,
    Givens rotations) for
    M x = b, stopping at ‖b − M x‖ ≤ rtol ‖b‖; returns (x, iterations)."""
    n = b.size
    beta = float(np.linalg.norm(b))
    if beta == 0.0:
        return np.zeros(n), 0
    V = np.empty((maxiter + 1, n))
    H = np.zeros((maxiter + 1, maxiter))
    cs, sn, g = np.zeros(maxiter), np.zeros(maxiter), np.zeros(maxiter + 1)
    V[0] = b / beta
    g[0] = beta
    k = 0
    while k < maxiter:
        w = matvec(V[k])
        w_norm = np.linalg.norm(w)
        # One BLAS thread for these thin products: threaded, each took ~8 ms at n = 10⁴ on the
        # busy 2-core machine (0.1 of a product with P), single-threaded 0.3 ms.
        with _BLAS.limit(limits=1, user_api="blas"):
            for _ in range(2):  # the second pass only where cancellation lost digits (DGKS)
                h = V[: k + 1] @ w
                w -= h @ V[: k + 1]
                H[: k + 1, k] += h
                h_norm = np.linalg.norm(w)
                if h_norm > 0.7 * w_norm:
                    break
                w_norm = h_norm
        H[k + 1, k] = h_norm
        breakdown = H[k + 1, k] <= 1e-14 * beta
        if not breakdown:
            V[k + 1] = w / H[k + 1, k]
        for i in range(k):
            H[i, k], H[i + 1, k] = (
                cs[i] * H[i, k] + sn[i] * H[i + 1, k],
                -sn[i] * H[i, k] + cs[i] * H[i + 1, k],
            )
        r = np.hypot(H[k, k], H[k + 1, k])
        cs[k], sn[k] = H[k, k] / r, H[k + 1, k] / r
        H[k, k], H[k + 1, k] = r, 0.0
        g[k + 1], g[k] = -sn[k] * g[k], cs[k] * g[k]
        k += 1
        if abs(g[k]) <= rtol * beta or breakdown:
            break
    y = solve_triangular(H[:k, :k], g[:k])
    return y @ V[:k], k


def _active_set(pi: np.ndarray, tau: float) -> np.ndarray:
    """K: all actions but the lightest ones whose total mass is ≤ 1e-4 τ (sorted indices).
    Dropping them changes the Jacobian J = I − A S/τ by ≤ ~1e-4 in ∞-norm: the inexact
    Newton step stays a contraction by ~1e4 per step."""
    order = np.argsort(pi)
    drop = int(np.searchsorted(np.cumsum(pi[order]), _KRYLOV_DROP * tau, side="right"))
    return np.sort(order[drop:])


def _newton_krylov(
    prod: _Products,
    logmu: np.ndarray,
    tau: float,
    z: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    state: dict,
) -> tuple[np.ndarray, int, float]:
    """Inexact Newton for F(z) = C(z − log μ − A softmax(z)/τ) = 0 (one context, ``[n]``),
    matrix-free.

    Newton step: solve (I − A S/τ) d = −F, S = diag π − ππᵀ, by GMRES to a relative residual
    η_k (Eisenstat–Walker: η_k = 0.9 (‖F_k‖/‖F_{k−1}‖)², in [tol/‖F‖, ½]).  The uncentred
    system is non-singular (A S is similar to the skew S^½ A S^½) and its solution solves
    the centred one, since C(I − A S/τ) = J and F is centred.  Short solves use exact float64
    products A(S v); once a solve needs ≥ 8 products, the later ones use the float32 rows
    A_K· on the active set K (:func:`_active_set`, :class:`_Block`), and the dropped rows D
    follow from one float64 product: d_D = −F_D + (A S d)_D/τ (the system is
    block-triangular when S_D = 0).
    The float32 and dropped-column errors only make the step inexact; F itself is always
    float64.  A backtracking line search on ‖F‖₂ globalises it.
    Returns (z, iterations, ‖F‖∞).
    """
    n = z.size

    def residual(z):
        pi = softmax(z)
        F = z - logmu - prod.A(pi) / tau
        return F - F.mean(), pi

    F, pi = residual(z)
    norm = float(np.linalg.norm(F))
    eta, prev = 0.5, None
    it = 0
    while np.max(np.abs(F)) > tol and it < max_iter:
        it += 1
        if prev is not None:
            e = 0.9 * (norm / prev) ** 2
            eta = min(0.5, max(e, 0.9 * eta**2) if 0.9 * eta**2 > 0.1 else e)
        rtol = max(eta, 0.5 * tol / max(norm, 1e-300))
        if state.get("long"):
            K = _active_set(pi, tau)
            blk = state.get("block")
            if blk is None or not blk.covers(K) or blk.K.size > 1.05 * K.size:
                buf = None if blk is None else blk.buf
                state["block"] = blk = None
                blk = state["block"] = _Block(prod, K, buf)
            K, in_K = blk.K, blk.in_K
            pK = pi[K]

            s32 = np.zeros(n, dtype=np.float32)

            def jv(v, pK=pK, blk=blk, s32=s32):
                s = pK * v
                s -= pK * s.sum()
                s32[blk.K] = s
                prod.count += blk.sq
                return v - (blk.A32 @ s32).astype(np.float64) / tau

            dK, k = _gmres(jv, -F[K], rtol, 300)
            d = -F.copy()
            d[K] = dK
            if K.size < n:
                s = np.zeros(n)
                s[K] = pK * dK - pK * (pK @ dK)
                u = prod.A(s)
                d[~in_K] += u[~in_K] / tau
        else:

            def jv(v, pi=pi):
                s = pi * v
                s -= pi * s.sum()
                return v - prod.A(s) / tau

            d, k = _gmres(jv, -F, rtol, 300)
        if k >= 8:
            state["long"] = True
        d -= d.mean()
        step = 1.0
        for _ in range(30):
            z_new = z + step * d
            z_new -= z_new.mean()
            F_new, pi_new = residual(z_new)
            n_new = float(np.linalg.norm(F_new))
            if n_new <= (1 - 1e-4 * step) * norm or np.max(np.abs(F_new)) <= tol:
                break
            step *= 0.5
        prev = norm
        z, F, pi, norm = z_new, F_new, pi_new, n_new
        if step < 1e-8:  # no descent left at this precision
            break
    return z, it, float(np.max(np.abs(F)))


def _residual_floor_rows(P, logmu, tau, pi, Ap) -> float:
    """:func:`residual_floor` for one context, reading P in row chunks (no n×n array)."""
    eps = np.finfo(np.float64).eps
    n = pi.size
    norm_J = 0.0
    step = max(1, (1 << 22) // n)
    for s in range(0, n, step):
        M = (P[s : s + step] - 0.5) * pi - Ap[s : s + step, None] * pi
        M /= -tau
        r = np.arange(M.shape[0])
        M[r, s + r] += 1.0
        norm_J = max(norm_J, float(np.max(np.sum(np.abs(M), axis=-1))))
    scale = 1.0 + np.max(np.abs(logmu)) + np.max(np.abs(Ap)) / tau
    return 16.0 * eps * norm_J * scale


def _solve_krylov(P, mu, tau, tol, max_iter, init, t0) -> Equilibrium:
    """Newton–Krylov with continuation in τ for each context; the certificate of
    :func:`solve_regularized` computed from one float64 product P·π per context."""
    single = P.ndim == 2
    Pb = P[None] if single else P
    mub = np.broadcast_to(mu, Pb.shape[:-1])
    c, n = mub.shape
    pis, gaps, ress = np.empty((c, n)), np.empty(c), np.empty(c)
    res_ok = np.zeros(c, dtype=bool)
    iters, units = 0, 0.0
    for x in range(c):
        prod = _Products(Pb[x])
        logmu = np.log(mub[x])
        taus = [tau * f for f in (1.0, *_KRYLOV_LAST_STAGES)]
        while taus[-1] < 1.0:
            taus.append(taus[-1] * 4.0)
        taus = taus[::-1]
        if init is not None:
            z = np.log(np.broadcast_to(np.asarray(init, dtype=np.float64), mub.shape)[x])
            taus = [tau]
        else:
            z = logmu + prod.A(mub[x]) / taus[0]
        z = z - z.mean()
        state: dict = {}
        z_prev = None
        for k, t in enumerate(taus):
            last = k == len(taus) - 1
            if _KRYLOV_PREDICT and z_prev is not None and k >= 2:
                # secant predictor along the path, linear in log τ
                z_here = z
                z = z + (z - z_prev) * (np.log(t / taus[k - 1]) / np.log(taus[k - 1] / taus[k - 2]))
                z_prev = z_here
            else:
                z_prev = z
            z, it, _ = _newton_krylov(
                prod, logmu, t, z, tol=3e-10 if last else 0.1, max_iter=max_iter, state=state
            )
            iters += it
        state.clear()
        logpi = log_softmax(z)
        pi = np.exp(logpi)
        Ap = prod.A(pi)
        logbr = log_softmax(logmu + Ap / tau)
        gaps[x] = 2.0 * tau * kl(pi, logp=logpi, logq=logbr)
        F = logpi - logmu - Ap / tau
        F -= F.mean()
        ress[x] = np.max(np.abs(F))
        # the rounding floor (one more pass over P) only where the residual exceeds 1e-9
        res_ok[x] = ress[x] <= 1e-9 or ress[x] <= _residual_floor_rows(Pb[x], logmu, tau, pi, Ap)
        pis[x] = pi
        units += prod.count
    converged = bool(np.all(gaps <= tol) and np.all(res_ok))
    seconds = time.perf_counter() - t0
    if single:
        return Equilibrium(
            pis[0], float(gaps[0]), float(ress[0]), iters, converged, tau, seconds, units
        )
    return Equilibrium(pis, gaps, ress, iters, converged, tau, seconds, units)


# --------------------------------------------------------------------------- τ = 0: LP


def solve_unregularized(game: GameLike, *, tol: float = 1e-9) -> Equilibrium:
    """A von Neumann winner (τ = 0): max_π min_y' (πᵀP)(y') by linear programming (HiGHS).

    LP: maximise v subject to Pᵀπ ≥ v·1, 1ᵀπ = 1, π ≥ 0.  The game is symmetric zero-sum
    with value ½.  The equilibrium need not be unique; one is returned.  μ plays no role.
    """
    t0 = time.perf_counter()
    P, _ = game_arrays(game)
    tol = check_positive(tol, "tol")
    single = P.ndim == 2
    Pb = P[None] if single else P
    pis, its = [], 0
    n = Pb.shape[-1]
    for Pk in Pb:
        c = np.zeros(n + 1)
        c[-1] = -1.0  # maximise v
        A_ub = np.hstack([-Pk.T, np.ones((n, 1))])  # v − (Pᵀπ)_j ≤ 0
        A_eq = np.hstack([np.ones((1, n)), np.zeros((1, 1))])
        res = linprog(
            c,
            A_ub=A_ub,
            b_ub=np.zeros(n),
            A_eq=A_eq,
            b_eq=[1.0],
            bounds=[(0, None)] * n + [(None, None)],
            method="highs",
        )
        if res.status != 0:
            raise RuntimeError(f"HiGHS failed on the unregularised game: {res.message}")
        pi = np.clip(res.x[:n], 0.0, None)
        pis.append(pi / pi.sum())
        its += int(getattr(res, "nit", 0))
    pi = np.stack(pis)
    gap = np.atleast_1d(duality_gap(Pb, pi, 0.0))
    converged = bool(np.all(gap <= tol))
    if single:
        return Equilibrium(
            pi[0], float(gap[0]), float(gap[0]), its, converged, 0.0, time.perf_counter() - t0
        )
    return Equilibrium(pi, gap, gap, its, converged, 0.0, time.perf_counter() - t0)


def solve(game: GameLike, tau: float, mu: ArrayLike | None = None, **kwargs: Any) -> Equilibrium:
    """π*_τ for τ > 0 (Newton), or a von Neumann winner for τ = 0 (LP).

    ``tol=None`` (or absent) keeps each solver's own gap tolerance: 1e-12 for Newton, 1e-9 for
    the LP (HiGHS is accurate to its feasibility tolerance, not to 1e-12).
    """
    tau = check_tau(tau, allow_zero=True)
    if kwargs.get("tol", 0) is None:
        del kwargs["tol"]
    if tau == 0:
        return solve_unregularized(game, **kwargs)
    return solve_regularized(game, tau, mu, **kwargs)
