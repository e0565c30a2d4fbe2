"""Pairwise preference optimisation on tabular policies: online / offline / mixture IPO, DPO, SLiC.

Every learner here minimises the expected soft-label loss of the shared definition
(:mod:`prefgame.losses`; theory: ``docs/theory.md`` §5–§8)

    L(z) = E_{y, y' ∼ sg(w)} [ ℓ(h_π(y, y'), P(y ≻ y')) ],     h_π(y, y') = u(y) − u(y'),
    u = log π − log μ,  π = softmax(z),

where only the sampling distribution w differs:

* ``sampler="online"``  w = π (stop-gradient)          — online IPO / DPO / SLiC (theory §6, §8)
* ``sampler="mixture"`` w ∝ π^{1−β} μ^β (stop-grad.)   — IPO-MD (theory §7); β = 0 online,
  β = 1 offline
* ``sampler="offline"`` w = μ                          — offline IPO / DPO (pairs from μ)

Gradient.  With G[y, y'] = ∂ℓ/∂h (h(y, y'), P(y, y')) and W = w wᵀ,

    ∂L/∂u(k) = Σ_{y'} W[k, y'] G[k, y'] − Σ_y W[y, k] G[y, k] = 2 w(k) Σ_{y'} w(y') G[k, y'],

(G is antisymmetric because the soft-label loss is symmetric: ℓ(−h, 1 − p) = ℓ(h, p)), and
∂L/∂z = ∂L/∂u because L is invariant to shifting u by a constant.  ∂ℓ/∂h comes in closed form
for the three shared losses (:data:`LOSS_DERIVATIVES`, proved equal to torch autograd of
:mod:`prefgame.losses` in ``tests/test_dynamics_pairwise.py``); any other loss callable
``f(h, p, *, tau)`` is differentiated by torch autograd.

Update.  The learner follows the *natural* (sampling-preconditioned) direction

    d(k) = (∂L/∂z)(k) / (2 w(k)) = E_{y' ∼ w} [ G[k, y'] ],         z ← z − lr · d

(Fisher-style preconditioning by the sampling distribution; ``precondition=False`` uses the plain
gradient).  For online IPO d = 2[u − E_π u − (Pπ − ½)/τ], so its only fixed point is
π ∝ μ exp(Pπ/τ) = π*_τ (Prop. 4.1); the step ``lr="auto"`` picks lr = min_k Re λ_k / |λ_k|² from
the eigenvalues λ_k of the Jacobian of d (finite differences, refreshed every ``auto_every``
steps), which makes the linearised iteration a contraction even when P is a strong cycle
(plain best-response iteration, lr = ½ here, cycles there: ``docs/theory.md`` §12).

Sampled flavour (``samples=m``): m pairs (y, y') ∼ w per step and context, soft labels P(y ≻ y')
(or Bernoulli labels with ``labels="hard"``),
d̂(k) = (1/m) Σ_i G_i [1{y_i = k} − 1{y'_i = k}] / (2 w(k)).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike

from .. import losses as L
from ..games import GameLike
from ..optim import SGD, Adam
from ..policies import log_softmax, matvec, softmax
from ._common import (
    Trajectory,
    batched_arrays,
    check_beta,
    check_steps,
    check_tau,
    context_beta,
    context_tau,
    finish,
    init_logits,
    run_loop,
    sample_categorical,
)

__all__ = [
    "LOSS_DERIVATIVES",
    "autograd_loss_derivative",
    "expected_gradient",
    "expected_loss",
    "ipo_md",
    "ipo_md_mixture",
    "loss_derivative",
    "natural_direction",
    "offline_dpo",
    "offline_ipo",
    "offline_ipo_optimum",
    "offline_slic",
    "online_dpo",
    "online_ipo",
    "online_slic",
    "preference_optimisation",
]

LossLike = Union[str, Callable]  # noqa: UP007 (a runtime alias)


# --------------------------------------------------------------------------- ∂ℓ/∂h


def _ipo_dh(h, p, tau):
    # d/dh [p (h − 1/2τ)² + (1 − p)(−h − 1/2τ)²] = 2 (h − (p − ½)/τ)
    return 2.0 * (h - (p - 0.5) / tau)


def _dpo_dh(h, p, tau):
    # d/dh [−p log σ(τh) − (1 − p) log σ(−τh)] = τ (σ(τh) − p)
    return tau * (0.5 * (1.0 + np.tanh(0.5 * tau * h)) - p)


def _slic_dh(h, p, tau):
    # d/dh [p max(0, 1 − τh) + (1 − p) max(0, 1 + τh)] = −τ p 1{τh < 1} + τ (1 − p) 1{τh > −1}
    th = tau * h
    return tau * (-(p * (th < 1.0)) + (1.0 - p) * (th > -1.0))


#: Closed-form ∂ℓ/∂h of the shared soft-label losses ``losses.LOSSES[name]``, each ``f(h, p, tau)``.
LOSS_DERIVATIVES: dict[str, Callable] = {"ipo": _ipo_dh, "dpo": _dpo_dh, "slic": _slic_dh}


def autograd_loss_derivative(loss: Callable) -> Callable:
    """∂ℓ/∂h of any shared-style loss ``loss(h, p, *, tau)`` by torch autograd (elementwise).

    A loss that torch cannot differentiate — written with numpy functions (``np.tanh``,
    ``np.where``), which turn the tensor into an array — fails with an error that names the
    way out: pass its numpy derivative as ``dloss=`` (or write it with array-API operations).
    """
    name = getattr(loss, "__name__", "the custom loss")
    hint = (
        f"pass its numpy derivative as dloss=lambda h, p, tau: ..., or write {name} with "
        "operations that work on torch tensors too (+ - * /, **, abs(), methods such as .tanh())"
    )
    try:
        import torch
    except ImportError as e:  # the tabular core without the llm extra
        raise ImportError(
            f"a custom loss without dloss= is differentiated by torch autograd, and torch is not "
            f"installed (the `llm` extra: pip install -e '.[llm]'); or {hint}"
        ) from e

    def dh(h, p, tau: float):
        # Copies: P arrives read-only (PreferenceGame freezes it) and torch cannot wrap that.
        ht = torch.tensor(np.array(h, dtype=np.float64), requires_grad=True)
        pt = torch.tensor(np.array(p, dtype=np.float64))
        try:
            out = loss(ht, pt, tau=tau)
            if not isinstance(out, torch.Tensor) or not out.requires_grad:
                raise TypeError(f"it returned {type(out).__name__}, not a tensor with a gradient")
            (g,) = torch.autograd.grad(out.sum(), ht)
        except (RuntimeError, TypeError, AttributeError) as e:
            raise TypeError(f"torch autograd could not differentiate {name} ({e}); {hint}") from e
        return g.numpy()

    return dh


def _custom_name(loss: Callable) -> str:
    """A custom loss's label; never a built-in name (which would select a built-in shortcut)."""
    name = getattr(loss, "__name__", "custom")
    return f"custom_{name}" if name in LOSS_DERIVATIVES else name


def loss_derivative(loss: LossLike, dloss: Callable | None = None) -> tuple[str, Callable]:
    """(name, ∂ℓ/∂h) for a loss given by name (``"ipo"``, ``"dpo"``, ``"slic"``) or as a callable.

    A custom loss ``f(h, p, *, tau)`` is differentiated by torch autograd unless ``dloss`` — its
    derivative ``dloss(h, p, tau)`` in numpy — is given (then torch is not needed).
    """
    if dloss is not None:
        if not callable(loss) or not callable(dloss):
            raise ValueError(
                "dloss= needs a callable loss f(h, p, *, tau) and a callable dloss(h, p, tau)"
            )
        return _custom_name(loss), dloss
    if callable(loss):
        for name, f in L.LOSSES.items():
            if f is loss:
                return name, LOSS_DERIVATIVES[name]
        return _custom_name(loss), autograd_loss_derivative(loss)
    if loss not in LOSS_DERIVATIVES:
        raise ValueError(
            f"unknown loss {loss!r}; known: {', '.join(LOSS_DERIVATIVES)} (or pass a callable)"
        )
    return loss, LOSS_DERIVATIVES[loss]


# --------------------------------------------------------------------------- expectations


def _log_sampler(z, logmu, sampler: str, beta: float, logpi: np.ndarray | None = None):
    """log w of the sampler; ``logpi``: log_softmax(z) where the caller has it already."""
    logpi = log_softmax(z) if logpi is None and sampler != "offline" else logpi
    if sampler == "online":
        return logpi
    if sampler == "offline":
        return np.broadcast_to(logmu, z.shape)
    if sampler == "mixture":
        return log_softmax((1.0 - beta) * logpi + beta * logmu)
    raise ValueError(f"unknown sampler {sampler!r}; known: online, offline, mixture")


def expected_loss(
    z: np.ndarray,
    P: np.ndarray,
    logmu: np.ndarray,
    tau: float,
    *,
    loss: LossLike = "ipo",
    sampler: str = "online",
    beta: float = 0.0,
) -> np.ndarray:
    """L(z) = Σ_{y,y'} w(y) w(y') ℓ(h(y, y'), P(y, y')) per context, with the shared loss
    (numpy)."""
    f = L.LOSSES[loss] if isinstance(loss, str) else loss
    w = np.exp(_log_sampler(z, logmu, sampler, beta))
    u = log_softmax(z) - logmu
    h = u[..., :, None] - u[..., None, :]
    return np.einsum("...i,...j,...ij->...", w, w, f(h, P, tau=tau))


def expected_gradient(
    z: np.ndarray,
    P: np.ndarray,
    logmu: np.ndarray,
    tau: float,
    *,
    loss: LossLike = "ipo",
    sampler: str = "online",
    beta: float = 0.0,
    dloss: Callable | None = None,
) -> np.ndarray:
    """∂L/∂z with sg(w): ∂L/∂u(k) = Σ_{y'} W[k,y'] G[k,y'] − Σ_y W[y,k] G[y,k] (module docstring).

    ``dloss``: the numpy derivative ∂ℓ/∂h of a custom ``loss`` (see :func:`loss_derivative`).
    """
    _, dh = loss_derivative(loss, dloss)
    w = np.exp(_log_sampler(z, logmu, sampler, beta))
    u = log_softmax(z) - logmu
    G = dh(u[..., :, None] - u[..., None, :], P, tau)
    W = w[..., :, None] * w[..., None, :]
    gu = (W * G).sum(axis=-1) - (W * G).sum(axis=-2)
    return gu - softmax(z) * gu.sum(axis=-1, keepdims=True)  # chain rule through log softmax


def natural_direction(
    z: np.ndarray,
    P: np.ndarray,
    logmu: np.ndarray,
    tau: float,
    *,
    dh: Callable,
    loss_name: str,
    sampler: str = "online",
    beta: float = 0.0,
    precondition: bool = True,
) -> np.ndarray:
    """d(k) = E_{y'∼w}[G[k, y']] (= ∂L/∂z / 2w), or the plain gradient if ``precondition=False``.

    For IPO, G is linear in h and the sum over y' collapses to O(n²) work per context:
    d = 2[u − E_w u − (Pw − ½)/τ].
    """
    logpi = log_softmax(z)
    logw = _log_sampler(z, logmu, sampler, beta, logpi)
    w = np.exp(logw)
    u = logpi - logmu
    if loss_name == "ipo":
        d = 2.0 * (u - (w * u).sum(axis=-1, keepdims=True) - (matvec(P, w) - 0.5) / tau)
    else:
        G = dh(u[..., :, None] - u[..., None, :], P, tau)
        d = matvec(G, w)
    return d if precondition else 2.0 * w * d


# --------------------------------------------------------------------------- auto step


def _jacobian_step(
    direction: Callable[[np.ndarray], np.ndarray], z: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """lr = min_k Re λ_k / |λ_k|² over the eigenvalues of ∂d/∂z (finite differences), per context.

    With this lr every linearised mode satisfies |1 − lr λ|² ≤ 1 − lr Re λ < 1.  The shift mode
    (λ ≈ 0, d is shift-invariant) is ignored.  Unstable modes (Re λ ≤ 0) cannot be fixed by any
    step size; they are ignored too and the learner is reported unconverged if it cycles.
    """
    n = z.shape[-1]
    E = np.eye(n) * eps
    zp = z[None, :, :] + E[:, None, :]  # [n, c, n]
    zm = z[None, :, :] - E[:, None, :]
    J = (direction(zp) - direction(zm)) / (2 * eps)  # [j, c, k] = ∂d_k/∂z_j
    J = np.transpose(J, (1, 2, 0))  # [c, k, j]
    lam = np.linalg.eigvals(J)
    scale = np.max(np.abs(lam), axis=-1, keepdims=True) + 1e-300
    ok = (lam.real > 1e-9 * scale) & (np.abs(lam) > 1e-8 * scale)
    ratio = np.where(ok, lam.real / np.maximum(np.abs(lam) ** 2, 1e-300), np.inf)
    lr = ratio.min(axis=-1)
    return np.where(np.isfinite(lr), lr, 1e-3)[:, None]


# --------------------------------------------------------------------------- the learner


def preference_optimisation(
    game: GameLike,
    tau: float,
    *,
    loss: LossLike = "ipo",
    sampler: str = "online",
    beta: float = 0.0,
    steps: int = 1000,
    lr: str | float | Callable = "auto",
    optimizer: SGD | Adam | None = None,
    precondition: bool = True,
    samples: int | None = None,
    labels: str = "soft",
    seed: int = 0,
    init: ArrayLike | None = None,
    mu: ArrayLike | None = None,
    record_every: int | None = None,
    tol: float | None = None,
    check_every: int = 10,
    auto_every: int = 20,
    max_move: float = 0.1,
    method: str | None = None,
    dloss: Callable | None = None,
) -> Trajectory:
    """Minimise the expected pairwise loss (module docstring) on a batch of games.

    Args:
        game: PreferenceGame (single or batched) or matrix P; ``mu`` overrides its μ.
        tau: τ > 0 of the loss, or (``loss="ipo"``) one τ per context, ``[c]``
            (:func:`~prefgame.dynamics._common.context_tau`: each context as its own run).
        loss: ``"ipo"``, ``"dpo"``, ``"slic"`` (the shared definitions) or a callable
            ``f(h, p, *, tau)`` (elementwise; written with array-API operations so that torch
            autograd can differentiate it).
        dloss: the derivative ∂ℓ/∂h of a custom ``loss`` as a numpy function ``dloss(h, p, tau)``;
            given, torch is not needed (use it where the derivative is simple).  A custom loss
            reaches π*_τ only if its stationarity condition E_{y'∼w}[∂ℓ/∂h(h(y, y'), P(y, y'))] = 0
            has π*_τ as its solution; ``converged`` says only that the update stopped, so check
            the result with ``duality_gap`` (zero only at π*_τ).
        sampler: ``"online"`` (w = sg π), ``"mixture"`` (w ∝ sg π^{1−β} μ^β), ``"offline"`` (w = μ).
        beta: the mixture's β, or one β per context ``[c]``
            (:func:`~prefgame.dynamics._common.context_beta`: each context as its own run).
        lr: ``"auto"`` (exact flavour only: Jacobian-based step, see module docstring), a number
            or a schedule t ↦ lr_t (plain SGD on the direction).
        optimizer: an :class:`~prefgame.optim.SGD` / :class:`~prefgame.optim.Adam`, overriding
            ``lr``.
        precondition: follow d = ∂L/∂z / 2w (default) or the plain gradient ∂L/∂z.
        samples: None → exact expectation; m → m sampled pairs per step and context (seeded).
        labels: ``"soft"`` (label p = P(y ≻ y')) or ``"hard"`` (Bernoulli(p)); sampled flavour only.
        auto_every, max_move: with ``lr="auto"``, refresh the step every ``auto_every`` steps and
            move no logit by more than ``max_move`` per step.
        tol: stop when the max-norm of d is ≤ tol in every context (exact flavour).
    Returns:
        :class:`Trajectory`; ``extra["sampler_policy"]`` is w at the last iterate (for IPO-MD the
        mixture (π_T)^{1−β} μ^β, which Prop. 5.2 says is π* at τ/(1−β)).
    """
    per_context = np.ndim(tau) > 0
    tau = tau if per_context else check_tau(tau)
    beta = beta if np.ndim(beta) > 0 else check_beta(beta)
    steps = check_steps(steps)
    if sampler not in ("online", "offline", "mixture"):
        raise ValueError(f"unknown sampler {sampler!r}; known: online, offline, mixture")
    if labels not in ("soft", "hard"):
        raise ValueError(f"labels = {labels!r}, must be 'soft' or 'hard'")
    name, dh = loss_derivative(loss, dloss)
    P, logmu, single = batched_arrays(game, mu)
    if np.ndim(beta) > 0:
        beta = context_beta(beta, P.shape[0])
    if per_context:
        tau = context_tau(tau, P.shape[0])
        if name != "ipo":
            raise ValueError(f"one tau per context works with loss='ipo' only, not {name!r}")
    rng = np.random.default_rng(seed)
    if samples is not None:
        samples = check_steps(samples, "samples", 1)
        if optimizer is None and lr == "auto":
            raise ValueError(
                "lr='auto' needs the exact flavour; give a number or a schedule with samples="
            )

    def direction(zz):
        Pz = P if zz.ndim == 2 else np.broadcast_to(P, zz.shape + P.shape[-1:])
        lm = logmu if zz.ndim == 2 else np.broadcast_to(logmu, zz.shape)
        return natural_direction(
            zz,
            Pz,
            lm,
            tau,
            dh=dh,
            loss_name=name,
            sampler=sampler,
            beta=beta,
            precondition=precondition,
        )

    def sampled_direction(zz):
        logw = _log_sampler(zz, logmu, sampler, beta)
        c, n = zz.shape
        ys, ys2 = sample_categorical(rng, logw, samples), sample_categorical(rng, logw, samples)
        u = log_softmax(zz) - logmu
        h = np.take_along_axis(u, ys, -1) - np.take_along_axis(u, ys2, -1)
        p = P[np.arange(c)[:, None], ys, ys2]
        if labels == "hard":
            p = (rng.random(p.shape) < p).astype(np.float64)
        g = dh(h, p, tau) / samples  # [c, m]
        rows = np.arange(c)[:, None] * n
        gu = (
            np.bincount((rows + ys).ravel(), g.ravel(), c * n)
            - np.bincount((rows + ys2).ravel(), g.ravel(), c * n)
        ).reshape(c, n)
        return gu / (2.0 * np.exp(logw)) if precondition else gu

    auto = optimizer is None and isinstance(lr, str)
    if auto and lr != "auto":
        raise ValueError(f"lr = {lr!r}, must be 'auto', a number or a schedule")
    if optimizer is None and not auto:
        optimizer = SGD(lr=lr)
    state = optimizer.init(np.zeros_like(logmu)) if optimizer is not None else None
    cur = {"lr": None}

    def step(z: np.ndarray, t):
        nonlocal state
        d = direction(z) if samples is None else sampled_direction(z)
        if auto:
            if t % auto_every == 0:
                cur["lr"] = _jacobian_step(direction, z)
            move = cur["lr"] * d
            # Trust region: far from the fixed point the linearisation says little, so no logit
            # moves by more than max_move per step (a no-op near convergence).
            big = np.max(np.abs(move), axis=-1, keepdims=True)
            return z - move * np.minimum(1.0, max_move / np.maximum(big, 1e-300))
        delta, state = optimizer.update(d, state, t)
        return z + delta

    stat = (lambda zz: np.max(np.abs(direction(zz)), axis=-1)) if samples is None else None
    z, hist, rec, it, conv = run_loop(
        step,
        init_logits(init, logmu),
        steps,
        record_every=record_every,
        stationarity=stat,
        tol=tol,
        check_every=check_every,
    )
    extra = {
        "sampler_policy": np.exp(_log_sampler(z, logmu, sampler, beta)),
        "loss": name,
        "sampler": sampler,
        "beta": beta if np.ndim(beta) == 0 else beta[:, 0],
    }
    if auto and cur["lr"] is not None:
        extra["lr_last"] = cur["lr"][:, 0]
    return finish(z, hist, rec, it, conv, single, method or f"{sampler}_{name}", tau, extra)


# --------------------------------------------------------------------------- named learners


def online_ipo(game: GameLike, tau: float, **kw: Any) -> Trajectory:
    """Online IPO: IPO loss with y, y' ∼ sg(π), soft labels.  Fixed point π*_τ (Prop. 4.1)."""
    return preference_optimisation(
        game, tau, loss="ipo", sampler="online", method="online_ipo", **kw
    )


def ipo_md(game: GameLike, tau: float, beta: float, **kw: Any) -> Trajectory:
    """IPO-MD: IPO loss with y, y' ∼ sg(π^{1−β} μ^β).  Its mixture at the fixed point is π* at
    τ/(1−β)."""
    return preference_optimisation(
        game, tau, loss="ipo", sampler="mixture", beta=beta, method="ipo_md", **kw
    )


def offline_ipo(game: GameLike, tau: float, **kw: Any) -> Trajectory:
    """Offline IPO: pairs from μ.  Population optimum π ∝ μ exp(P(y ≻ μ)/τ)."""
    return preference_optimisation(
        game, tau, loss="ipo", sampler="offline", method="offline_ipo", **kw
    )


def online_dpo(game: GameLike, tau: float, **kw: Any) -> Trajectory:
    """Online DPO: DPO loss with y, y' ∼ sg(π), soft labels (does not reach π*_τ in general)."""
    return preference_optimisation(
        game, tau, loss="dpo", sampler="online", method="online_dpo", **kw
    )


def offline_dpo(game: GameLike, tau: float, **kw: Any) -> Trajectory:
    """Offline DPO: DPO loss with pairs from μ."""
    return preference_optimisation(
        game, tau, loss="dpo", sampler="offline", method="offline_dpo", **kw
    )


def online_slic(
    game: GameLike, tau: float, *, lr: float | Callable[[int], float] = 0.05, **kw: Any
) -> Trajectory:
    """Online SLiC (hinge) with y, y' ∼ sg(π).  The hinge has no useful curvature: lr is a
    number."""
    return preference_optimisation(
        game, tau, loss="slic", sampler="online", lr=lr, method="online_slic", **kw
    )


def offline_slic(
    game: GameLike, tau: float, *, lr: float | Callable[[int], float] = 0.05, **kw: Any
) -> Trajectory:
    """Offline SLiC (hinge) with pairs from μ."""
    return preference_optimisation(
        game, tau, loss="slic", sampler="offline", lr=lr, method="offline_slic", **kw
    )


# --------------------------------------------------------------------------- closed forms


def offline_ipo_optimum(game: GameLike, tau: float, mu: ArrayLike | None = None) -> np.ndarray:
    """Offline IPO's population optimum π(y) ∝ μ(y) exp(P(y ≻ μ)/τ) (``docs/theory.md`` §5)."""
    tau = check_tau(tau)
    P, logmu, single = batched_arrays(game, mu)
    pi = softmax(logmu + matvec(P, np.exp(logmu)) / tau)
    return pi[0] if single else pi


def ipo_md_mixture(policy: np.ndarray, mu: np.ndarray, beta: float) -> np.ndarray:
    """The IPO-MD sampling policy π^{1−β} μ^β / Z."""
    beta = check_beta(beta)
    return softmax((1.0 - beta) * np.log(policy) + beta * np.log(mu))
