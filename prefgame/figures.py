"""Figures of the tabular study, written by ``prefgame figures [--out DIR]`` as PNG and SVG.

Each ``fig_*`` function computes its data with the learners of :mod:`prefgame.dynamics`, draws one
matplotlib figure and returns it with its caption (:func:`set_caption`: the claim the figure makes,
with the numbers computed for it); :func:`make_figures` saves them atomically (write to a temporary
file, then rename) so an interrupted run never leaves a half-written image.

* ``simplex_trajectories`` — RPS, the dice, three raters and a near-cyclic game (2 × 2), τ = 0.1,
  uniform μ (Calandriello App. E): online IPO, offline IPO, IPO-MD (β = 0.25, 0.5, 0.75), Nash-MD,
  online DPO.
* ``nash_md_bound``        — Nash-MD's KL(π*‖π_t) against 8/(τ²(t+1)), and every method's gap by
  step.
* ``dpo_collapse``         — two actions, P(y1 ≻ y2) = 1: DPO → (1, 0), IPO → σ(1/(2τ)).
* ``rps_cycling``          — Hedge self-play and self-play PG (τ = 0) cycle on RPS; at τ = 0.1 OMD
  with a stable step converges, past its step limit it cycles; Nash-MD (with the mixture) converges
  with the same step.
* ``adam_beta1``           — online IPO with Adam: β1 = 0.9 orbits the cycle, β1 = 0 settles.
* ``sampling_error``       — sampled online IPO's error against the number of pairs per step.

:func:`fig_learner_distances` draws, from the study's parts, every post-paper learner's distance to
its target against steps on one log–log plot per game (``figures/learners_<game>.png``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported lazily (see _plt)
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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
from .files import atomic_path, atomic_write
from .optim import Adam

__all__ = [
    "FIGURES",
    "fig_game_dynamics",
    "fig_learner_distances",
    "fig_verify_llm",
    "make_figures",
    "plot_learner_curves",
    "read_caption",
    "save_figure",
    "save_verify_llm",
    "set_caption",
    "simplex_axes",
    "simplex_zoom",
    "to_simplex",
]

INIT3 = np.array([0.1, 0.2, 0.7])


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


#: a figure's caption is saved beside it as ``<stem>.caption.md`` (read by the study's report).
CAPTION_SUFFIX = ".caption.md"


def set_caption(fig: Figure, text: str) -> Figure:
    """Attach ``text`` — the claim the figure makes, with the numbers computed for it — to ``fig``.

    :func:`save_figure` writes it beside the image; :func:`read_caption` reads it back.
    """
    fig.prefgame_caption = " ".join(text.split())
    return fig


def read_caption(path_stem: str | os.PathLike) -> str | None:
    """The caption saved with the figure ``<path_stem>.png``, or None if it has none."""
    path = Path(path_stem).with_suffix(CAPTION_SUFFIX)
    if not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError(
            f"{path}: corrupt figure caption (not UTF-8 text); delete it or rerun with --force"
        ) from None


def _e(x: float) -> str:
    """A distance or gap for a caption: two significant digits."""
    return f"{x:.1e}" if x != 0 and (abs(x) < 1e-2 or abs(x) >= 1e4) else f"{x:.2g}"


def _span(xs: list[float]) -> str:
    """``a`` when the values agree to two decimals, else ``a to b``."""
    lo, hi = f"{min(xs):.2f}", f"{max(xs):.2f}"
    return lo if lo == hi else f"{lo} to {hi}"


def to_simplex(pi: np.ndarray) -> np.ndarray:
    """Barycentric → 2-D, ``[..., 3] → [..., 2]``: y1 = (0, 0), y2 = (1, 0), y3 = (½, √3/2)."""
    pi = np.asarray(pi)
    return np.stack([pi[..., 1] + 0.5 * pi[..., 2], (np.sqrt(3) / 2) * pi[..., 2]], axis=-1)


def simplex_axes(
    ax: Axes, labels: Sequence[str] = ("y1", "y2", "y3"), fontsize: float = 8, title: str = ""
) -> Axes:
    """Draw the 2-simplex's outline with its corner labels on ``ax`` (see :func:`to_simplex`).

    Plot policies on it with ``ax.plot(*to_simplex(pi))`` (one policy) or
    ``ax.plot(*to_simplex(history).T)`` (a trajectory).  Returns ``ax``.
    """
    corners = to_simplex(np.eye(3))
    ax.plot(*np.vstack([corners, corners[:1]]).T, color="0.6", lw=0.8)
    for (x, y), lab, (dx, dy) in zip(corners, labels, [(-0.04, -0.05), (0.04, -0.05), (0, 0.03)]):
        ax.text(x + dx, y + dy, lab, ha="center", va="center", fontsize=fontsize)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def simplex_zoom(
    ax: Axes,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    labels: Sequence[str] = ("y1", "y2", "y3"),
    bounds: Sequence[float] = (0.0, 0.62, 0.34, 0.38),
) -> Axes:
    """Zoom ``ax`` (drawn with :func:`simplex_axes`) on ``xlim × ylim`` and keep the triangle in
    view: an inset (at ``bounds``, axes fraction) shows the whole simplex, labelled, with the
    zoomed region framed in red.  Returns the inset, to draw the same points on it.
    """
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    for text in ax.texts:  # corner labels outside the zoom would stretch a tight bounding box
        text.set_clip_on(True)
    inset = ax.inset_axes(list(bounds))
    simplex_axes(inset, labels, fontsize=7)
    (x0, x1), (y0, y1) = xlim, ylim
    inset.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="tab:red", lw=0.8)
    inset.set_xlim(-0.12, 1.12)
    inset.set_ylim(-0.12, 0.98)
    return inset


def fig_simplex_trajectories(tau: float = 0.1) -> Figure:
    """Every learner's path on the simplex for four 3-action games (2 × 2), with its caption."""
    plt = _plt()
    games = [
        G.rock_paper_scissors(),
        G.intransitive_dice(),
        G.three_rater_types(0.2),
        G.near_cyclic(),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(10, 10.6))
    methods: list[tuple[str, Callable, dict]] = [
        (
            "online IPO",
            lambda g: online_ipo(g, tau, steps=4000, init=INIT3, record_every=1, tol=1e-10),
            {"color": "C0", "lw": 2.2},
        ),
        (
            "offline IPO",
            lambda g: offline_ipo(g, tau, steps=4000, init=INIT3, record_every=1, tol=1e-10),
            {"color": "C1"},
        ),
        (
            "IPO-MD β = 0.25",
            lambda g: ipo_md(g, tau, 0.25, steps=4000, init=INIT3, record_every=1, tol=1e-10),
            {"color": "C2", "ls": "--"},
        ),
        (
            "IPO-MD β = 0.5",
            lambda g: ipo_md(g, tau, 0.5, steps=4000, init=INIT3, record_every=1, tol=1e-10),
            {"color": "C2", "ls": "-."},
        ),
        (
            "IPO-MD β = 0.75",
            lambda g: ipo_md(g, tau, 0.75, steps=4000, init=INIT3, record_every=1, tol=1e-10),
            {"color": "C2", "ls": ":"},
        ),
        (
            "Nash-MD",
            lambda g: nash_md(g, tau, steps=3000, init=INIT3, record_every=1),
            {"color": "C3", "lw": 1.2},
        ),
        (
            "online DPO",
            lambda g: online_dpo(g, tau, steps=4000, init=INIT3, record_every=1, tol=1e-10),
            {"color": "C4"},
        ),
    ]
    final: dict[str, dict[str, float]] = {label: {} for label, _, _ in methods}
    for ax, g in zip(axes.flat, games):
        simplex_axes(ax, g.actions or ("y1", "y2", "y3"), fontsize=11)
        star = solve(g, tau).policy
        for label, run, style in methods:
            hist = run(g).history
            final[label][g.name] = float(np.max(np.abs(hist[-1] - star)))
            xy = to_simplex(hist)
            ax.plot(*xy.T, label=label, alpha=0.85, **{"lw": 1.4, **style})
            ax.plot(*xy[-1], "o", ms=4, color=style["color"])
        ax.plot(*to_simplex(star), "k*", ms=16, label="π*_τ (exact)", zorder=5)
        ax.plot(*to_simplex(INIT3), "ks", ms=6, label="start π_0", zorder=5)
        ax.set_title(f"{g.name}: τ = {tau:g}, uniform μ", fontsize=12, pad=16)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=11, frameon=False)
    fig.suptitle(
        "Trajectories on the simplex (exact-expectation learners, ● = where each stops)",
        fontsize=13,
    )
    fig.tight_layout(rect=(0, 0.09, 1, 0.97))
    flat = [g.name for g in games if np.allclose(g.P @ g.mu, 0.5)]  # Pμ = ½: π*_τ = μ
    return set_caption(fig, _simplex_caption(final, tau, [g.name for g in games], flat))


def _simplex_caption(
    final: dict[str, dict[str, float]], tau: float, names: list[str], flat: list[str]
) -> str:
    """The claim of the simplex figure, from each method's last distance to π*_τ per game.

    ``flat``: the games with Pμ = ½, where π*_τ = μ is every method's fixed point.
    """
    others = [g for g in names if g not in flat] or names
    worst = {m: max(d[g] for g in others) for m, d in final.items()}
    at = [m for m in final if worst[m] <= 1e-6]
    near = [m for m in final if 1e-6 < worst[m] <= 1e-2]
    away = [m for m in final if worst[m] > 1e-2]
    text = (
        f"Exact-expectation learners from π_0 = ({', '.join(f'{x:g}' for x in INIT3)}) at τ = "
        f"{tau:g}, uniform μ; ★ = π*_τ, ● = where each stops. "
    )
    if flat and others != names:
        hit = [m for m in final if all(final[m][g] <= 1e-6 for g in flat)]
        text += (
            f"On {' and '.join(flat)}, Pμ = ½, so π*_τ = μ is every method's fixed point: "
            f"{'all' if len(hit) == len(final) else ', '.join(hit)} end there (≤ 1e-6). "
            f"On {' and '.join(others)} the methods part: "
        )
    if at:
        verb = "ends" if len(at) == 1 else "end"
        text += f"{' and '.join(at)} {verb} at π*_τ (max|π_T − π*_τ| ≤ 1e-6); "
    if near:
        text += (
            ", ".join(
                f"{m} is within {_e(worst[m])}"
                + (" (its step η_t = 2/(τ(t+2)) approaches slowly)" if m == "Nash-MD" else "")
                for m in near
            )
            + "; "
        )
    if away:
        text += (
            ", ".join(f"{m} stops {_e(worst[m])} away" for m in away)
            + " — their fixed points are not π*_τ (IPO-MD's mixture, not its policy, is the "
            "equilibrium of the game at τ/(1−β))."
        )
    return text.rstrip("; ") + ("" if text.rstrip().endswith(".") else ".")


def fig_nash_md_bound(tau: float = 0.1) -> Figure:
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.6))
    T = 20000
    t = np.unique(np.geomspace(1, T, 200).astype(int))
    last_kl, ratio, slopes = {}, 0.0, []
    late = t >= T // 10  # the last decade of steps: the fitted power of t
    for g in (G.three_rater_types(0.2), G.near_cyclic(), G.random_intransitive(20, seed=1)):
        star = solve(g, tau).policy
        run = nash_md(g, tau, steps=T, record_every=1, init=None)
        K = kl(star, run.history[t])
        last_kl[g.name] = float(K[-1])
        slopes.append(float(np.polyfit(np.log(t[late]), np.log(K[late]), 1)[0]))
        ratio = max(ratio, float(np.max(K / nash_md_bound(tau, t))))
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
    last_gap = {}
    for label, run in runs.items():
        gap = np.maximum(
            duality_gap(np.broadcast_to(g.P, run.history.shape + (3,)), run.history, tau), 1e-18
        )
        last_gap[label.split(" (")[0]] = float(gap[-1])
        b.semilogy(run.steps + 1, gap, label=label)
    b.set_xscale("log")
    b.set_xlabel("step t + 1")
    b.set_ylabel("duality gap of π_t (τ-regularised game)")
    b.set_title(f"near-cyclic game, τ = {tau:g}: gaps (floored at 1e-18)", fontsize=9)
    b.legend(fontsize=7)
    fig.tight_layout()
    kls = ", ".join(f"{_e(v)} ({k})" for k, v in last_kl.items())
    gaps = ", ".join(f"{k} {'≤ 1e-18' if v <= 1e-18 else _e(v)}" for k, v in last_gap.items())
    return set_caption(
        fig,
        f"Left: Nash-MD with the theorem's steps η_t = 2/(τ(t+2)), τ = {tau:g}, stays below the "
        f"bound 8/(τ²(t+1)) at every step (largest ratio KL/bound {_e(ratio)}); at t = {T} "
        f"KL(π*_τ‖π_t) = {kls} against a bound of {_e(float(nash_md_bound(tau, T)))}; over the "
        f"last decade it falls as t^p with p = {_span(slopes)} (the bound is 1/t). Right: the "
        f"duality gap after {steps} steps on the near-cyclic game: {gaps} — the gap reaches "
        "zero only for the methods whose fixed point is π*_τ.",
    )


def fig_dpo_collapse() -> Figure:
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
    sig = 1 / (1 + np.exp(-1 / (2 * taus)))
    return set_caption(
        fig,
        f"Two actions with P(y1 ≻ y2) = 1 (a deterministic preference), uniform μ. Left, τ = "
        f"{tau:g}: offline DPO drives π(y1) to {dpo.policy[0]:.4f} after {steps} steps (its "
        "loss has no minimiser: π(y1) → 1), offline IPO settles at "
        f"{ipo.policy[0]:.4f}, σ(1/(2τ)) = {1 / (1 + np.exp(-1 / (2 * tau))):.4f}. Right: over "
        f"τ ∈ [{taus[0]:g}, {taus[-1]:g}] DPO's π(y1) after 3000 steps lies between "
        f"{min(fin_dpo):.3f} and {max(fin_dpo):.4f}, still heading to 1 whatever τ, while IPO's "
        f"matches σ(1/(2τ)) to {_e(float(np.max(np.abs(np.array(fin_ipo) - sig))))}: DPO "
        "ignores the regularisation here, IPO keeps it.",
    )


def fig_rps_cycling() -> Figure:
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
    last = {}
    for label, run in runs.items():
        last[label] = float(np.abs(run.history[-100:] - 1 / 3).max(-1).min())
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
    dist = "; ".join(f"{k.split(' (')[0]}: {_e(v)}" for k, v in last.items())
    return set_caption(
        fig,
        "Rock–paper–scissors from (0.5, 0.3, 0.2); π*_τ is uniform for every τ. Closest "
        f"approach to uniform over the last 100 of 3000 steps — {dist}. Without "
        "regularisation (τ = 0) Hedge and self-play PG circle the equilibrium without reaching "
        "it; at τ = 0.1 online mirror descent with a step inside its stability limit converges "
        "as Nash-MD does, and only a step past that limit (η = 6) makes it cycle, where "
        "Nash-MD's mixture with μ still converges with the same step.",
    )


def fig_adam_beta1(tau: float = 0.1) -> Figure:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    final: dict[str, list[str]] = {}
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
            d = float(np.abs(run.history[-1] - star).max())
            final.setdefault(g.name, []).append(f"β1 = {b1:g}: {_e(d)}")
        ax.set_xlabel("step")
        ax.set_ylabel("max |π_t − π*_τ|")
        ax.set_title(f"online IPO with Adam (lr 0.01) on {g.name}, τ = {tau:g}", fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    dist = "; ".join(f"{name}: {', '.join(v)}" for name, v in final.items())
    return set_caption(
        fig,
        f"Online IPO (exact expectation) trained with Adam, lr 0.01, τ = {tau:g}, from "
        f"(0.6, 0.3, 0.1). max|π_T − π*_τ| after 3000 steps — {dist}. Momentum (Adam's β1, not "
        "IPO-MD's β) carries the iterate around the preference cycle: the larger β1, the "
        "longer it orbits π*_τ before settling.",
    )


def fig_sampling_error(tau: float = 0.5) -> Figure:
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
    slope = float(np.polyfit(np.log(ms), np.log(err), 1)[0])
    ax.loglog(ms, err[0] * np.sqrt(ms[0] / ms), "k--", lw=0.8, label="∝ 1/√m")
    ax.set_xlabel("pairs per step m")
    ax.set_ylabel("RMS ‖π_T − π*_τ‖ (48 seeds)")
    ax.set_title(f"three raters (ε = 0.2), τ = {tau:g}, 800 steps", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return set_caption(
        fig,
        f"Sampled online IPO (m pairs per step, 800 steps, {reps} seeds) on three raters "
        f"(ε = 0.2), τ = {tau:g}: the RMS distance to π*_τ at lr = 0.03 falls from "
        f"{_e(err[0])} at m = {ms[0]} to {_e(err[-1])} at m = {ms[-1]}, a log–log slope of "
        f"{slope:.2f} (1/√m would be −0.5): the sampled learner's error is sampling noise around "
        "π*_τ, not a different fixed point.",
    )


def plot_learner_curves(ax: Axes, learners: dict, title: str = "", tol: float = 1e-8) -> None:
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


def fig_learner_distances(label: str, parts: list[dict]) -> Figure:
    """One figure per game: a panel per τ with every post-paper learner's distance curve."""
    plt = _plt()
    parts = sorted(parts, key=lambda p: p["tau"])
    fig, axes = plt.subplots(1, len(parts), figsize=(6 * len(parts), 4.4), squeeze=False)
    for ax, p in zip(axes[0], parts):
        plot_learner_curves(
            ax,
            p["learners"],
            f"{label}, τ = {p['tau']:g}: target π*_τ (τ = 0 for {_tau0_learners()})",
        )
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return set_caption(fig, _learners_caption(label, parts))


def _tau0_learners() -> str:
    """The learners whose target is a τ = 0 equilibrium, from the registry ("sppo, dno, ...")."""
    from .dynamics.registry import LEARNERS

    return ", ".join(n for n, s in LEARNERS.items() if s.target == "nash_0")


def fig_game_dynamics(game: G.PreferenceGame, label: str, taus: Sequence[float]) -> Figure:
    """The paper's methods on one study game, a panel per τ of the study: the duality gap of the
    last iterate by step for Nash-MD (η_t = 2/(τ(t+2))), online IPO, online mirror descent
    (η = 1), online DPO and offline IPO, all from μ (exact expectation), with Nash-MD's
    KL(π*_τ‖π_t) beside its bound 8/(τ²(t+1)).  ``prefgame study --matrix P.npy`` draws it for
    the user's game at the study's τ."""
    plt = _plt()
    taus = sorted(float(t) for t in taus)
    fig, axes = plt.subplots(1, len(taus), figsize=(6 * len(taus), 4.4), squeeze=False)
    steps = 3000
    t = np.arange(1, steps + 2)
    notes = []
    for ax, tau in zip(axes[0], taus):
        star = solve(game, tau).policy
        runs = {
            "Nash-MD": nash_md(game, tau, steps=steps, record_every=1),
            "online IPO": online_ipo(game, tau, steps=steps, record_every=1),
            "online mirror descent (η = 1)": online_mirror_descent(
                game, tau, eta=1.0, steps=steps, record_every=1
            ),
            "online DPO": online_dpo(game, tau, steps=steps, record_every=1),
            "offline IPO": offline_ipo(game, tau, steps=steps, record_every=1),
        }
        last = {}
        for name, run in runs.items():
            P = np.broadcast_to(game.P, run.history.shape + (game.n_actions,))
            gap = np.maximum(duality_gap(P, run.history, tau), 1e-18)
            last[name] = float(gap[-1])
            ax.loglog(run.steps + 1, gap, label=f"gap, {name}")
        K = np.maximum(kl(star, runs["Nash-MD"].history), 1e-300)
        ax.loglog(runs["Nash-MD"].steps + 1, K, "k-", lw=0.8, label="KL(π*_τ‖π_t), Nash-MD")
        ax.loglog(t, nash_md_bound(tau, t - 1), "k--", label="bound 8/(τ²(t+1))")
        ax.set_xlabel("step t + 1")
        ax.set_ylabel("duality gap of π_t; KL for Nash-MD")
        ax.set_title(f"{label}, τ = {tau:g}: duality gap (floored at 1e-18)", fontsize=9)
        ratio = float(np.max(K / nash_md_bound(tau, runs["Nash-MD"].steps)))
        gaps = ", ".join(f"{k} {'≤ 1e-18' if v <= 1e-18 else _e(v)}" for k, v in last.items())
        notes.append(
            f"τ = {tau:g}: after {steps} steps the gap is {gaps}; Nash-MD's KL stays at "
            f"{_e(ratio)} of its bound or below"
        )
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return set_caption(
        fig,
        f"The paper's methods on {label} ({game.n_actions} actions), from μ with exact "
        f"expectations. {'; '.join(notes)}. The gap reaches zero only for the methods whose "
        "fixed point is π*_τ (Nash-MD, online IPO, online mirror descent).",
    )


def _learners_caption(label: str, parts: list[dict], tol: float = 1e-8) -> str:
    """The claim of a study game's learner figure: who reaches its target, and when."""
    head = (
        f"Post-paper learners on {label} from the study's π_0: max distance of the last (solid) "
        f"and average (dashed) iterate to the target (π*_τ; the τ = 0 solution for "
        f"{_tau0_learners()}); dotted line: {tol:g}."
    )
    text = [head]
    for p in parts:
        hit, miss = [], []
        for name, e in p["learners"].items():
            promised = e["guarantee"]
            k = e["steps_to_target"].get(promised)
            if k is not None:
                hit.append(f"{name} ({promised} iterate, {k} steps)")
            else:
                d = e["target_max_abs_diff" if promised == "last" else "average_max_abs_diff"]
                miss.append(f"{name} ({promised} iterate {_e(d)} away after {e['steps']} steps)")
        text.append(
            f"τ = {p['tau']:g}: within {tol:g} of its target: {', '.join(hit) or 'none'}"
            + (f"; not within: {', '.join(miss)}." if miss else ".")
        )
    return " ".join(text)


def fig_verify_llm(report: dict) -> Figure:
    """``prefgame verify-llm``'s report: per method, the exact KL(target ‖ π_θ) to the target its
    theory promises (left) and KL(π*_τ ‖ π_θ) (right) against optimiser steps."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    methods = report["methods"]
    for k, (name, m) in enumerate(methods.items()):
        steps = np.asarray(m["steps"])
        axes[0].semilogy(steps, m["kl_to_target"], color=f"C{k}", label=f"{name} → {m['target']}")
        axes[1].semilogy(steps, m["kl_to_pi_star"], color=f"C{k}", label=name)
    if "reduction" in report:
        r = report["reduction"]["mean"]
        axes[0].semilogy(
            r["steps"], r["kl_to_target"], color="k", ls="--", label="online_ipo (mean) → mean_ipo"
        )
        axes[1].semilogy(
            r["steps"], r["kl_to_pi_star"], color="k", ls="--", label="online_ipo (mean)"
        )
    task = report["task"]
    axes[0].set_title("exact KL(target ‖ π_θ) to the method's own target", fontsize=9)
    axes[1].set_title("exact KL(π*_τ ‖ π_θ)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("optimiser step")
    axes[0].set_ylabel("nats (all sequences)")
    axes[0].legend(fontsize=7)
    fig.suptitle(
        f"tiny GPT-2 on the sequence game ({task['n_sequences']} completions, L = "
        f"{task['max_length']}), τ = {report['tau']:g}, β = {report['beta']:g}",
        fontsize=10,
    )
    fig.tight_layout()
    parts = [
        f"{name}: {_e(m['kl_to_target'][0])} → {_e(m['kl_to_target'][-1])} from {m['target']}"
        f" (KL to π*_τ {_e(m['kl_to_pi_star'][-1])})"
        for name, m in methods.items()
    ]
    mix = report["mixture"]
    return set_caption(
        fig,
        "A real transformer trained online by each method on an enumerable sequence game "
        f"({task['n_sequences']} completions), measured exactly after every "
        f"{report['config']['log_every']} steps: " + "; ".join(parts) + ". "
        f"At β = {mix['beta']:g} the token-level and sequence-level mixtures differ by at most "
        f"{_e(mix['token_vs_sequence_max_abs'])} per sequence, and their fixed points lie "
        f"KL {_e(mix['fixed_points_kl'])} apart.",
    )


def save_verify_llm(report: dict, path_stem: str | os.PathLike) -> list[Path]:
    """Draw :func:`fig_verify_llm` and save it as ``<stem>.png/.svg/.caption.md``."""
    fig = fig_verify_llm(report)
    try:
        return save_figure(fig, Path(path_stem))
    finally:
        _plt().close(fig)


#: name → figure function (the CLI's ``--only`` choices).
FIGURES: dict[str, Callable] = {
    "simplex_trajectories": fig_simplex_trajectories,
    "nash_md_bound": fig_nash_md_bound,
    "dpo_collapse": fig_dpo_collapse,
    "rps_cycling": fig_rps_cycling,
    "adam_beta1": fig_adam_beta1,
    "sampling_error": fig_sampling_error,
}


def save_figure(fig: Figure, path_stem: Path) -> list[Path]:
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
    caption = getattr(fig, "prefgame_caption", None)
    if caption is not None:
        path = path_stem.with_suffix(CAPTION_SUFFIX)
        atomic_write(path, caption + "\n")
        out.append(path)
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
        if skip_existing and all(
            stem.with_suffix(x).exists() for x in (".png", ".svg", CAPTION_SUFFIX)
        ):
            written += [stem.with_suffix(x) for x in (".png", ".svg", CAPTION_SUFFIX)]
        else:
            fig = FIGURES[n]()
            written += save_figure(fig, stem)
            plt.close(fig)
        if progress is not None:
            progress(n)
    return written
