"""Figures of the tabular study, written by ``prefgame figures [--out DIR]`` as PNG and SVG.

Each ``fig_*`` function computes its data with the learners of :mod:`prefgame.dynamics`, draws one
matplotlib figure and returns it; :func:`make_figures` saves them atomically (write to a temporary
file, then rename) so an interrupted run never leaves a half-written image.

* ``simplex_trajectories`` — RPS, the dice, three raters and a near-cyclic game, τ = 0.1, uniform μ
  (Calandriello App. E): online IPO, offline IPO, IPO-MD (β = 0.25, 0.5, 0.75), Nash-MD, online DPO.
* ``nash_md_bound``        — Nash-MD's KL(π*‖π_t) against 8/(τ²(t+1)), and every method's gap by step.
* ``dpo_collapse``         — two actions, P(y1 ≻ y2) = 1: DPO → (1, 0), IPO → σ(1/(2τ)).
* ``rps_cycling``          — Hedge self-play and self-play PG (τ = 0) cycle on RPS; at τ = 0.1 OMD with a
  stable step converges, past its step limit it cycles;
  Nash-MD (with the mixture) converges with the same step.
* ``adam_beta1``           — online IPO with Adam: β1 = 0.9 orbits the cycle, β1 = 0 settles.
* ``sampling_error``       — sampled online IPO's error against the number of pairs per step.

:func:`fig_learner_distances` draws, from the study's parts, every post-paper learner's distance to
its target against steps on one log–log plot per game (``figures/learners_<game>.png``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from . import games as G
from .dynamics import (
    ipo_md,
    nash_md,
    nash_md_bound,
    offline_dpo,
    offline_ipo,
    online_dpo,
    online_ipo,
    online_mirror_descent,
    self_play_pg,
)
from .equilibrium import duality_gap, kl, solve
from .files import atomic_path
from .optim import Adam

__all__ = [
    "FIGURES",
    "fig_learner_distances",
    "make_figures",
    "plot_learner_curves",
    "save_figure",
    "simplex_axes",
    "to_simplex",
]

INIT3 = np.array([0.1, 0.2, 0.7])


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def to_simplex(pi: np.ndarray) -> np.ndarray:
    """Barycentric → 2-D: vertices y1 = (0, 0), y2 = (1, 0), y3 = (½, √3/2).  ``[..., 3] → [..., 2]``."""
    pi = np.asarray(pi)
    return np.stack([pi[..., 1] + 0.5 * pi[..., 2], (np.sqrt(3) / 2) * pi[..., 2]], axis=-1)


def simplex_axes(ax, labels) -> None:
    """Draw the 2-simplex's outline with its corner labels on ``ax`` (see :func:`to_simplex`)."""
    corners = to_simplex(np.eye(3))
    ax.plot(*np.vstack([corners, corners[:1]]).T, color="0.6", lw=0.8)
    for (x, y), lab, (dx, dy) in zip(corners, labels, [(-0.04, -0.05), (0.04, -0.05), (0, 0.03)]):
        ax.text(x + dx, y + dy, lab, ha="center", va="center", fontsize=8)
    ax.set_aspect("equal")
    ax.axis("off")


def fig_simplex_trajectories(tau: float = 0.1):
    plt = _plt()
    games = [
        G.rock_paper_scissors(),
        G.intransitive_dice(),
        G.three_rater_types(0.2),
        G.near_cyclic(),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.6))
    methods: list[tuple[str, Callable, dict]] = [
        (
            "online IPO",
            lambda g: online_ipo(g, tau, steps=4000, init=INIT3, record_every=1, tol=1e-10),
            {"color": "C0", "lw": 2},
        ),
        (
            "offline IPO",
            lambda g: offline_ipo(g, tau, steps=4000, init=INIT3, record_every=1, tol=1e-10),
            {"color": "C1"},
        ),
        (
            "IPO-MD β=0.25",
            lambda g: ipo_md(g, tau, 0.25, steps=4000, init=INIT3, record_every=1, tol=1e-10),
            {"color": "C2", "ls": "--"},
        ),
        (
            "IPO-MD β=0.5",
            lambda g: ipo_md(g, tau, 0.5, steps=4000, init=INIT3, record_every=1, tol=1e-10),
            {"color": "C2", "ls": "-."},
        ),
        (
            "IPO-MD β=0.75",
            lambda g: ipo_md(g, tau, 0.75, steps=4000, init=INIT3, record_every=1, tol=1e-10),
            {"color": "C2", "ls": ":"},
        ),
        (
            "Nash-MD",
            lambda g: nash_md(g, tau, steps=3000, init=INIT3, record_every=1),
            {"color": "C3", "lw": 1},
        ),
        (
            "online DPO",
            lambda g: online_dpo(g, tau, steps=4000, init=INIT3, record_every=1, tol=1e-10),
            {"color": "C4"},
        ),
    ]
    for ax, g in zip(axes, games):
        simplex_axes(ax, g.actions or ("y1", "y2", "y3"))
        for label, run, style in methods:
            xy = to_simplex(run(g).history)
            ax.plot(*xy.T, label=label, alpha=0.85, **{"lw": 1.3, **style})
            ax.plot(*xy[-1], "o", ms=3, color=style["color"])
        star = to_simplex(solve(g, tau).policy)
        ax.plot(*star, "k*", ms=13, label="π*_τ (exact)", zorder=5)
        ax.plot(*to_simplex(INIT3), "ks", ms=5, label="start π_0", zorder=5)
        ax.set_title(f"{g.name}, τ = {tau:g}, uniform μ", fontsize=9)
    axes[0].legend(loc="upper left", fontsize=7, bbox_to_anchor=(-0.05, 1.02), frameon=False)
    fig.suptitle(
        "Trajectories on the simplex (exact-expectation learners): online IPO and Nash-MD reach π*_τ; "
        "offline IPO, IPO-MD and online DPO stop elsewhere",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def fig_nash_md_bound(tau: float = 0.1):
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.6))
    T = 20000
    t = np.unique(np.geomspace(1, T, 200).astype(int))
    for g in (G.three_rater_types(0.2), G.near_cyclic(), G.random_intransitive(20, seed=1)):
        star = solve(g, tau).policy
        run = nash_md(g, tau, steps=T, record_every=1, init=None)
        K = kl(star, run.history[t])
        a.loglog(t, np.maximum(K, 1e-300), label=f"Nash-MD, {g.name}")
    a.loglog(t, nash_md_bound(tau, t), "k--", label="bound 8/(τ²(t+1))")
    a.loglog(t, 1.0 / t.astype(float) ** 2, "k:", label="1/t² (reference slope)")
    a.set_xlabel("step t")
    a.set_ylabel("KL(π*_τ ‖ π_t)")
    a.set_title(f"Nash-MD last iterate, η_t = 2/(τ(t+2)), τ = {tau:g}", fontsize=9)
    a.legend(fontsize=7)
    g = G.near_cyclic()
    star = solve(g, tau).policy
    steps = 3000
    runs = {
        "Nash-MD (η_t = 2/(τ(t+2)))": nash_md(g, tau, steps=steps, init=INIT3, record_every=1),
        "online IPO (exact)": online_ipo(g, tau, steps=steps, init=INIT3, record_every=1),
        "online mirror descent (η = 1)": online_mirror_descent(
            g, tau, eta=1.0, steps=steps, init=INIT3, record_every=1
        ),
        "online DPO (exact)": online_dpo(g, tau, steps=steps, init=INIT3, record_every=1),
        "offline IPO": offline_ipo(g, tau, steps=steps, init=INIT3, record_every=1),
    }
    for label, run in runs.items():
        gap = np.maximum(
            duality_gap(np.broadcast_to(g.P, run.history.shape + (3,)), run.history, tau), 1e-18
        )
        b.semilogy(run.steps + 1, gap, label=label)
    b.set_xscale("log")
    b.set_xlabel("step t + 1")
    b.set_ylabel("duality gap of π_t (τ-regularised game)")
    b.set_title(f"near-cyclic game, τ = {tau:g}: gaps (floored at 1e-18)", fontsize=9)
    b.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_dpo_collapse():
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    P = np.array([[0.5, 1.0], [0.0, 0.5]])
    tau = 0.5
    steps = 5000
    dpo = offline_dpo(P, tau, steps=steps, lr=1.0, record_every=1)
    ipo = offline_ipo(P, tau, steps=steps, lr=0.1, record_every=1)
    a.semilogx(dpo.steps + 1, dpo.history[:, 0], label="offline DPO")
    a.semilogx(ipo.steps + 1, ipo.history[:, 0], label="offline IPO")
    a.axhline(1 / (1 + np.exp(-1 / (2 * tau))), color="k", ls="--", lw=0.8, label="σ(1/(2τ))")
    a.set_xlabel("step + 1")
    a.set_ylabel("π(y1)")
    a.set_title(f"two actions, P(y1 ≻ y2) = 1, uniform μ, τ = {tau:g}", fontsize=9)
    a.legend(fontsize=8)
    taus = np.geomspace(0.05, 5, 25)
    fin_ipo = [offline_ipo(P, t, steps=20000, tol=1e-12).policy[0] for t in taus]
    fin_dpo = [offline_dpo(P, t, steps=3000, lr=2.0 / t**2).policy[0] for t in taus]
    b.semilogx(taus, fin_dpo, "o-", ms=3, label="offline DPO after 3000 steps (→ 1 for every τ)")
    b.semilogx(taus, fin_ipo, "s-", ms=3, label="offline IPO (converged)")
    b.semilogx(taus, 1 / (1 + np.exp(-1 / (2 * taus))), "k--", lw=0.8, label="σ(1/(2τ))")
    b.set_xlabel("τ")
    b.set_ylabel("π(y1)")
    b.set_title("DPO ignores τ here; IPO keeps the regularisation", fontsize=9)
    b.legend(fontsize=8)
    fig.tight_layout()
    return fig


def fig_rps_cycling():
    plt = _plt()
    g = G.rock_paper_scissors()
    init = np.array([0.5, 0.3, 0.2])
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 5.4))
    simplex_axes(a, g.actions)
    runs = {
        "Hedge self-play (OMD, τ = 0, η = 0.1)": online_mirror_descent(
            g, 0.0, eta=0.1, steps=3000, init=init, record_every=1
        ),
        "self-play softmax PG (τ = 0, lr = 0.5, no preconditioning)": self_play_pg(
            g, 0.0, lr=0.5, precondition=False, steps=3000, init=init, record_every=1
        ),
        "OMD, τ = 0.1, η = 0.5 (within its stability limit)": online_mirror_descent(
            g, 0.1, eta=0.5, steps=3000, init=init, record_every=1
        ),
        "OMD, τ = 0.1, η = 6 (past its stability limit)": online_mirror_descent(
            g, 0.1, eta=6.0, steps=3000, init=init, record_every=1
        ),
        "Nash-MD, τ = 0.1, constant η = 6": nash_md(
            g, 0.1, eta=6.0, steps=3000, init=init, record_every=1
        ),
        "Nash-MD, τ = 0.1, constant η = 1": nash_md(
            g, 0.1, eta=1.0, steps=3000, init=init, record_every=1
        ),
    }
    for label, run in runs.items():
        a.plot(*to_simplex(run.history).T, lw=0.6, alpha=0.8, label=label)
        b.semilogy(
            run.steps + 1, np.maximum(np.abs(run.history - 1 / 3).max(-1), 1e-17), label=label
        )
    a.plot(*to_simplex(np.full(3, 1 / 3)), "k*", ms=12)
    a.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 0.0), frameon=False)
    b.set_xscale("log")
    b.set_xlabel("step + 1")
    b.set_ylabel("max |π_t − uniform|")
    b.legend(fontsize=8, loc="lower left")
    b.set_title(
        "rock–paper–scissors, start (0.5, 0.3, 0.2): distance of the last iterate", fontsize=9
    )
    a.set_title(
        "τ = 0: Hedge and self-play PG cycle. τ = 0.1: OMD with a stable step converges\n"
        "like Nash-MD; OMD cycles only past its step-size limit",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def fig_adam_beta1(tau: float = 0.1):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, g in zip(axes, (G.rock_paper_scissors(), G.near_cyclic())):
        star = solve(g, tau).policy
        for b1 in (0.0, 0.5, 0.9, 0.99):
            run = online_ipo(
                g,
                tau,
                optimizer=Adam(lr=0.01, beta1=b1),
                steps=3000,
                init=[0.6, 0.3, 0.1],
                record_every=1,
            )
            ax.semilogy(
                run.steps,
                np.maximum(np.abs(run.history - star).max(-1), 1e-17),
                lw=0.9,
                label=f"Adam β1 = {b1:g}",
            )
        ax.set_xlabel("step")
        ax.set_ylabel("max |π_t − π*_τ|")
        ax.set_title(f"online IPO with Adam (lr 0.01) on {g.name}, τ = {tau:g}", fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def fig_sampling_error(tau: float = 0.5):
    plt = _plt()
    g = G.three_rater_types(0.2)
    star = solve(g, tau).policy
    reps = 48
    batch = G.PreferenceGame(np.broadcast_to(g.P, (reps, 3, 3)), g.mu)
    ms = np.array([2, 4, 8, 16, 32, 64, 128, 256])
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for lr in (0.1, 0.03):
        err = []
        for m in ms:
            run = online_ipo(batch, tau, samples=int(m), steps=800, lr=lr, seed=1, record_every=50)
            err.append(np.sqrt(((run.history[-4:] - star) ** 2).sum(-1).mean()))
        ax.loglog(ms, err, "o-", ms=4, label=f"sampled online IPO, lr = {lr:g}")
    ax.loglog(ms, err[0] * np.sqrt(ms[0] / ms), "k--", lw=0.8, label="∝ 1/√m")
    ax.set_xlabel("pairs per step m")
    ax.set_ylabel("RMS ‖π_T − π*_τ‖ (48 seeds)")
    ax.set_title(f"three raters (ε = 0.2), τ = {tau:g}, 800 steps", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_learner_curves(ax, learners: dict, title: str = "", tol: float = 1e-8) -> None:
    """Distance to the target against steps for each learner entry (with a ``curve``) on ``ax``.

    Solid: last iterate; dashed: average iterate; log–log; zero distances drawn at 1e-17.
    """
    for k, (name, e) in enumerate(learners.items()):
        c = e["curve"]
        t = np.asarray(c["steps"], dtype=float) + 1
        star = "" if e["target"] == "pi*_tau" else " (τ=0 target)"
        ax.loglog(t, np.maximum(c["last"], 1e-17), color=f"C{k}", lw=1.3, label=f"{name}{star}")
        ax.loglog(t, np.maximum(c["average"], 1e-17), color=f"C{k}", lw=0.9, ls="--")
    ax.axhline(tol, color="k", lw=0.6, ls=":")
    ax.set_xlabel("step t + 1")
    ax.set_ylabel("max |π − π_target|  (solid: last, dashed: average)")
    ax.set_title(title, fontsize=9)


def fig_learner_distances(label: str, parts: list[dict]):
    """One figure per game: a panel per τ with every post-paper learner's distance curve."""
    plt = _plt()
    parts = sorted(parts, key=lambda p: p["tau"])
    fig, axes = plt.subplots(1, len(parts), figsize=(6 * len(parts), 4.4), squeeze=False)
    for ax, p in zip(axes[0], parts):
        plot_learner_curves(
            ax, p["learners"], f"{label}, τ = {p['tau']:g}: target π*_τ (τ = 0 for SPPO, DNO, SPO)"
        )
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


#: name → figure function (the CLI's ``--only`` choices).
FIGURES: dict[str, Callable] = {
    "simplex_trajectories": fig_simplex_trajectories,
    "nash_md_bound": fig_nash_md_bound,
    "dpo_collapse": fig_dpo_collapse,
    "rps_cycling": fig_rps_cycling,
    "adam_beta1": fig_adam_beta1,
    "sampling_error": fig_sampling_error,
}


def save_figure(fig, path_stem: Path) -> list[Path]:
    """Save ``fig`` as ``<stem>.png`` and ``<stem>.svg``, each written atomically."""
    out = []
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    for ext in ("png", "svg"):
        final = path_stem.with_suffix(f".{ext}")
        with atomic_path(final) as tmp:
            fig.savefig(
                tmp,
                dpi=130,
                format=ext,
                bbox_inches="tight",
                metadata={"Date": None} if ext == "svg" else None,
            )
        out.append(final)
    return out


def make_figures(
    out_dir: str | os.PathLike = "figures",
    only: Iterable[str] | None = None,
    skip_existing: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Draw and save the figures (all, or the names in ``only``); returns the written paths."""
    names = list(FIGURES) if only is None else list(only)
    for n in names:
        if n not in FIGURES:
            raise ValueError(f"unknown figure {n!r}; known: {', '.join(FIGURES)}")
    plt = _plt()
    out_dir = Path(out_dir)
    written = []
    for n in names:
        stem = out_dir / n
        if (
            skip_existing
            and stem.with_suffix(".png").exists()
            and stem.with_suffix(".svg").exists()
        ):
            written += [stem.with_suffix(".png"), stem.with_suffix(".svg")]
        else:
            fig = FIGURES[n]()
            written += save_figure(fig, stem)
            plt.close(fig)
        if progress is not None:
            progress(n)
    return written
