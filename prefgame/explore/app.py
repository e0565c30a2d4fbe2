"""The explorer's page: Panel controls, Bokeh plots, one object for the notebook and the browser.

Why Panel (on Bokeh): the same ``pn.Row`` is displayed inline by a notebook cell (after
``pn.extension()``, which :func:`explorer` calls itself inside a kernel) and served as a
standalone page by :func:`serve` — an in-process Tornado/Bokeh server with every script and
style sheet served locally, so it works with the network closed.  Plots are plain Bokeh figures
rebuilt from :func:`prefgame.explore.model.compute`'s :class:`View`; the controls are Panel
widgets; there is no hand-written JavaScript.  (Dash needs a Plotly layout plus callback ids
and its own notebook mode; ipywidgets needs Voilà and a Jupyter server for the standalone
page.  Panel needs neither.)

The page holds no maths: projecting a policy onto the 2-simplex is
:func:`prefgame.figures.to_simplex`, everything else is an array of the :class:`View`.
Bad input (an invalid upload, τ = 0 for a learner that needs τ > 0, a malformed μ) is shown as
the library's one-line message in a red box; the previous plots stay.

The **guided tour** (:data:`TOUR`, the "guided tour" menu and its "next step" button) sets the
controls for each of six steps — τ large, then small; β; a strong cycle; RLHF against Nash;
online DPO — and says what to look for; ``tests/test_explore.py`` checks each claim on the
numbers.  Only the controls that apply to the chosen game and learners are shown, and trajectories
start from a corner (π_0 = (0.8, 0.1, …)) unless told otherwise.
"""

from __future__ import annotations

import inspect
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, Legend, Range1d, Span
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from ..figures import to_simplex
from ..games import BUILTIN_GAMES, PreferenceGame
from .model import LEARNERS, Settings, View, compute, game_from_upload, warm
from .ports import check_port, free_port

#: A Bokeh figure, and the function that fills its data sources from a :class:`View`.
Plot = Any
Fill = Callable[[View], None]

__all__ = ["Explorer", "check_port", "explorer", "free_port", "serve"]

#: Slider grids (τ and η on log grids; τ = 0 is the LP and shows what needs τ > 0).
TAUS = [0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
ETAS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
STEPS = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
#: Gaps below this are drawn at it (a log axis cannot show 0; 1e-16 is double precision's floor).
GAP_FLOOR = 1e-16
COLORS = dict(zip(LEARNERS, Category10_10))
UPLOAD = "uploaded file"

#: What every tour step starts from (then its own values): a corner start, the default steps.
TOUR_BASE: dict[str, Any] = {
    "mu": "",
    "start": "corner",
    "steps": 2000,
    "own_step": True,
    "beta": 0.0,
}

#: The guided tour: (title, the controls it sets, what to look for).  Each claim is checked by
#: ``tests/test_explore.py::test_the_tour_sets_the_controls_and_its_claims_hold``.
TOUR: tuple[tuple[str, dict[str, Any], str], ...] = (
    (
        "1 · τ large: the target sits at μ",
        {"game": "near_cyclic", "tau": 5.0, "learners": ["nash_md", "online_ipo"]},
        (
            "With **τ = 5** the KL penalty to μ dominates: π*_τ (the star) sits next to μ, the "
            "centre of the triangle, and both learners go almost straight to it from the corner. "
            "The gap (bottom right) falls to the floor."
        ),
    ),
    (
        "2 · τ small: the cycle shows",
        {"game": "near_cyclic", "tau": 0.05, "learners": ["nash_md", "online_ipo"]},
        (
            "At **τ = 0.05** the star has moved along the τ-path (top right) towards the von "
            "Neumann winner, and the learners curve round it before they settle: the preferences "
            "are a cycle, y1 ≻ y2 ≻ y3 ≻ y1. Both still end on the star — it is the only point "
            "where online IPO stops."
        ),
    ),
    (
        "3 · add β: IPO-MD's target moves",
        {"game": "near_cyclic", "tau": 0.1, "beta": 0.5, "learners": ["online_ipo", "ipo_md"]},
        (
            "**IPO-MD with β = 0.5** stops off the star. Its mixture π^{1−β} μ^β lands exactly on "
            "π* at τ/(1 − β) = 0.2 (the mixture panel): mixing μ into the opponent acts as a "
            "stronger KL penalty. Slide β and watch the mixture's target move."
        ),
    ),
    (
        "4 · a strong cycle: rock–paper–scissors",
        {"game": "rps", "tau": 0.05, "learners": ["nash_md", "omd", "self_play_pg"]},
        (
            "**Rock–paper–scissors**, τ = 0.05: OMD and self-play PG spiral round the uniform "
            "policy for hundreds of steps before the small τ pulls them in. Nash-MD lands on π*_τ "
            "at once: its first step (η₀τ = 1) replaces π_0 by μ, here uniform, which is π*_τ. "
            "Set τ = 0 to see which learners need τ > 0."
        ),
    ),
    (
        "5 · RLHF against the Nash solution",
        {"game": "three_raters", "eps": 0.1, "tau": 0.05, "learners": ["nash_md", "rlhf"]},
        (
            "**Three rater types** (ε = 0.1): RLHF fits one Bradley–Terry reward and heads for a "
            "corner; Nash-MD ends on π*_τ, near (1/3 + ε/2, 1/3 + ε/2, 1/3 − ε). Compare the "
            "gaps: RLHF's policy is exploitable, the Nash solution is not. Move ε through 0 and "
            "watch RLHF jump."
        ),
    ),
    (
        "6 · online DPO converges — elsewhere",
        {"game": "near_cyclic", "tau": 0.1, "learners": ["online_ipo", "online_dpo"]},
        (
            "**Online DPO** settles (its trajectory stops) but off the star, and its gap flattens "
            "well above the floor: its stationary point is not π*_τ. Online IPO, from the same "
            "corner, reaches the floor."
        ),
    ),
)


# --------------------------------------------------------------------------- figures


def _fig(title: str, **kw):
    f = figure(
        title=title,
        width=kw.pop("width", 430),
        height=kw.pop("height", 380),
        toolbar_location="right",  # beside the plot, off its title
        tools="pan,wheel_zoom,box_zoom,reset,save,hover",
        **kw,
    )
    f.title.text_font_size = "11pt"
    return f


def _legend(f, items, loc="top_right", place="center"):
    """A clickable legend inside the plot (``place="center"``) or beside it (``"right"``)."""
    if items:
        legend = Legend(
            items=items,
            location=loc,
            click_policy="hide",
            label_text_font_size="8pt",
            spacing=0,
            padding=4,
        )
        f.add_layout(legend, place)


# Each plot is built once per *shape* (the actions and the chosen learners) and returns
# (figure, fill); fill(view) only replaces data, titles and markers, so a slider move sends
# new arrays to the page instead of new plots.

Shape = tuple  # (actions, learner keys)


def _col(v):
    """A column: a list stays a list (multi_line wants a list of 1-d arrays), else an array."""
    return v if isinstance(v, list) else np.asarray(v)


def _src(name: str | None = None, **cols) -> ColumnDataSource:
    """A data source; the named ones (``gap:nash_md``, ``star``, ...) are looked up by the
    browser test."""
    return ColumnDataSource({k: _col(v) for k, v in cols.items()}, name=name)


def _set(src: ColumnDataSource, **cols) -> None:
    src.data = {k: _col(v) for k, v in cols.items()}


def _put(widget, value) -> None:
    """Set a control as the page does: ``value``, and ``value_throttled`` for a slider."""
    widget.value = value
    if "value_throttled" in widget.param:
        with param.edit_constant(widget):
            widget.value_throttled = value


def _xy(pi) -> dict:
    xy = to_simplex(np.atleast_2d(pi))
    return {"x": xy[:, 0], "y": xy[:, 1]}


def _action_colors(n: int) -> list[str]:
    return (Category10_10 * (n // 10 + 1))[:n]


def simplex_plot(actions: tuple[str, ...], keys: tuple[str, ...]) -> tuple[Plot, Fill]:
    """The 2-simplex: each learner's π_0 … π_T, π*_τ, the τ-path, IPO-MD's mixture and π* at
    τ/(1−β)."""
    f = _fig(
        "policies on the simplex", width=560, height=380, match_aspect=True, name="policy_plot"
    )
    f.axis.visible = False
    f.grid.visible = False
    corners = to_simplex(np.eye(3))
    outline = np.vstack([corners, corners[:1]])
    f.line(outline[:, 0], outline[:, 1], color="#999999")
    f.text(
        corners[:, 0] + [-0.05, 0.05, 0],
        corners[:, 1] + [-0.05, -0.05, 0.04],
        text=list(actions),
        text_align="center",
        text_baseline="middle",
        text_font_size="10pt",
    )
    f.x_range, f.y_range = Range1d(-0.12, 1.12), Range1d(-0.12, 0.98)
    empty = {"x": [], "y": []}
    path, start, star_b, mix = (_src(**empty) for _ in range(4))
    star = _src("star", **empty)
    items = [
        (
            "τ-path of π*_τ'",
            [f.line("x", "y", source=path, color="#555555", line_dash="dotted", line_width=2)],
        )
    ]
    runs = {}
    for key in keys:
        line, end = _src(f"policy:{key}", **empty), _src(**empty)
        runs[key] = (line, end)
        items.append(
            (
                LEARNERS[key].label,
                [
                    f.line("x", "y", source=line, color=COLORS[key], line_width=2, alpha=0.85),
                    f.scatter("x", "y", source=end, color=COLORS[key], size=7),
                ],
            )
        )
    items += [
        (
            "π_0",
            [f.scatter("x", "y", source=start, size=9, fill_color="white", line_color="black")],
        ),
        ("π*_τ", [f.scatter("x", "y", source=star, marker="star", size=18, color="black")]),
        (
            "π* at τ/(1−β)",
            [
                f.scatter(
                    "x",
                    "y",
                    source=star_b,
                    marker="square",
                    size=14,
                    fill_alpha=0,
                    line_color=COLORS["ipo_md"],
                    line_width=2,
                )
            ],
        ),
        (
            "IPO-MD mixture",
            [f.scatter("x", "y", source=mix, marker="diamond", size=9, color=COLORS["ipo_md"])],
        ),
    ]
    _legend(f, items, "top_left", "right")

    def fill(view: View) -> None:
        f.title.text = f"{view.game.name}: policies on the simplex, τ = {view.settings.tau:g}"
        _set(path, **_xy(view.path))
        for key, (line, end) in runs.items():
            run = view.runs.get(key)
            _set(line, **(_xy(run.history) if run else empty))
            _set(end, **(_xy(run.policy) if run else empty))
        first = next(iter(view.runs.values()), None)
        _set(start, **(_xy(first.history[0]) if first else empty))
        _set(star, **_xy(view.star.policy))
        ok = view.ipo_md is not None and view.star_beta is not None
        _set(star_b, **(_xy(view.star_beta.policy) if ok else empty))
        _set(mix, **(_xy(view.ipo_md.mixture[-1]) if ok else empty))

    return f, fill


def lines_plot(actions: tuple[str, ...], keys: tuple[str, ...]) -> tuple[pn.Column, Fill]:
    """n > 3: π_t(y) against the step t, one small plot per learner, π*_τ(y) dashed."""
    n, colors = len(actions), _action_colors(len(actions))
    figs, fills = [], []
    for key in keys or ("",):
        f = _fig(
            f"{LEARNERS[key].label}: π_t(y) against t (π*_τ dashed)"
            if key
            else "no learner chosen",
            width=560,
            height=300,
            name=f"policy_plot_{key}",
        )
        f.xaxis.axis_label, f.yaxis.axis_label = "step t", "π_t(y)"
        lines = _src(f"policy:{key}", xs=[[]] * n, ys=[[]] * n, color=colors)
        stars = _src(xs=[[]] * n, ys=[[]] * n, color=colors)
        f.multi_line("xs", "ys", source=lines, color="color", line_width=2)
        f.multi_line("xs", "ys", source=stars, color="color", line_dash="dashed", line_width=1)
        figs.append(f)

        def fill(view: View, key=key, lines=lines, stars=stars) -> None:
            run = view.runs.get(key)
            if run is None:
                _set(lines, xs=[[]] * n, ys=[[]] * n, color=colors)
                _set(stars, xs=[[]] * n, ys=[[]] * n, color=colors)
                return
            t = np.arange(len(run.history))
            _set(lines, xs=[t] * n, ys=list(run.history.T), color=colors)
            _set(stars, xs=[[0, t[-1]]] * n, ys=[[p, p] for p in view.star.policy], color=colors)

        fills.append(fill)
    return pn.Column(*[pn.pane.Bokeh(f) for f in figs]), lambda view: [g(view) for g in fills]


def path_plot(actions: tuple[str, ...], keys: tuple[str, ...]) -> tuple[Plot, Fill]:
    """π*_τ'(y) against τ' (log axis), the current τ (solid) and τ/(1−β) (dashed) marked."""
    f = _fig("τ-path of equilibria π*_τ'", width=430, x_axis_type="log", name="path_plot")
    f.xaxis.axis_label, f.yaxis.axis_label = "τ'", "π*_τ'(y)"
    srcs, items = [], []
    for a, c in zip(actions, _action_colors(len(actions))):
        srcs.append(_src(x=[], y=[]))
        items.append((a, [f.line("x", "y", source=srcs[-1], color=c, line_width=2)]))
    at_tau = Span(location=1.0, dimension="height", line_color="black", line_width=2)
    at_tau_b = Span(
        location=1.0,
        dimension="height",
        line_color=COLORS["ipo_md"],
        line_dash="dashed",
        line_width=2,
    )
    f.add_layout(at_tau)
    f.add_layout(at_tau_b)
    _legend(f, items[:10])

    def fill(view: View) -> None:
        for y, src in enumerate(srcs):
            _set(src, x=view.path_taus, y=view.path[:, y])
        tau, beta = view.settings.tau, view.settings.beta
        at_tau.visible = at_tau_b.visible = tau > 0
        if tau > 0:
            at_tau.location, at_tau_b.location = tau, tau / (1 - beta)

    return f, fill


def gap_plot(actions: tuple[str, ...], keys: tuple[str, ...]) -> tuple[Plot, Fill]:
    """gap(π_t) at τ against t, log scale; IPO-MD's mixture at τ/(1−β), dashed."""
    f = _fig("duality gap", width=430, y_axis_type="log", name="gap_plot")
    f.xaxis.axis_label, f.yaxis.axis_label = "step t", f"gap(π_t), drawn ≥ {GAP_FLOOR:g}"
    srcs, items = {}, []
    for key in keys:
        srcs[key] = _src(f"gap:{key}", x=[], y=[])
        items.append(
            (
                LEARNERS[key].label,
                [f.line("x", "y", source=srcs[key], color=COLORS[key], line_width=2)],
            )
        )
    mix = _src(x=[], y=[])
    if "ipo_md" in keys:
        items.append(
            (
                "IPO-MD mixture at τ/(1−β)",
                [
                    f.line(
                        "x",
                        "y",
                        source=mix,
                        color=COLORS["ipo_md"],
                        line_dash="dashed",
                        line_width=2,
                    )
                ],
            )
        )
    _legend(f, items)

    def fill(view: View) -> None:
        f.title.text = f"duality gap at τ = {view.settings.tau:g}"
        for key, src in srcs.items():
            run = view.runs.get(key)
            g = np.maximum(run.gap, GAP_FLOOR) if run else np.zeros(0)
            _set(src, x=np.arange(len(g)), y=g)
        g = (
            np.maximum(view.ipo_md.mixture_gap, GAP_FLOOR)
            if view.ipo_md is not None and "ipo_md" in view.runs
            else np.zeros(0)
        )
        _set(mix, x=np.arange(len(g)), y=g)

    return f, fill


def mixture_plot(actions: tuple[str, ...], keys: tuple[str, ...]) -> tuple[Plot, Fill]:
    """IPO-MD's last mixture (π_T)^{1−β} μ^β against π* at τ/(1−β) (Prop. 5.2), and π*_τ."""
    f = _fig(
        "IPO-MD mixture vs π* at τ/(1−β)", width=560, x_range=list(actions), name="mixture_plot"
    )
    f.yaxis.axis_label = "probability"
    src = _src(a=[], star_b=[], mix=[], star=[], pi=[])
    items = [
        (
            "π* at τ/(1−β)",
            [
                f.scatter(
                    "a",
                    "star_b",
                    source=src,
                    marker="square",
                    size=16,
                    fill_alpha=0,
                    line_color=COLORS["ipo_md"],
                    line_width=2,
                )
            ],
        ),
        (
            "IPO-MD mixture (π_T)^{1−β} μ^β",
            [f.scatter("a", "mix", source=src, marker="diamond", size=10, color=COLORS["ipo_md"])],
        ),
        ("π*_τ", [f.scatter("a", "star", source=src, marker="star", size=12, color="black")]),
        ("IPO-MD π_T", [f.scatter("a", "pi", source=src, size=7, color="#999999")]),
    ]
    _legend(f, items, "top_left", "right")

    def fill(view: View) -> None:
        if view.ipo_md is None or view.star_beta is None:
            f.title.text, f.xaxis.axis_label = "IPO-MD mixture: needs τ > 0", ""
            _set(src, a=[], star_b=[], mix=[], star=[], pi=[])
            return
        mix, star_b = view.ipo_md.mixture[-1], view.star_beta.policy
        tau_b = view.settings.tau / (1 - view.settings.beta)
        f.title.text = f"IPO-MD mixture vs π* at τ/(1−β) = {tau_b:.3g}"
        f.xaxis.axis_label = (
            f"max abs(mixture − π*) = {np.max(np.abs(mix - star_b)):.1e} (Prop. 5.2)"
        )
        _set(
            src,
            a=list(view.actions),
            star_b=star_b,
            mix=mix,
            star=view.star.policy,
            pi=view.ipo_md.policy,
        )

    return f, fill


def summary_markdown(view: View) -> str:
    """π*_τ with its certificate, and each learner's last gap and distance to π*_τ."""
    eq = view.star
    pol = ", ".join(f"{a} {p:.4f}" for a, p in zip(view.actions, eq.policy))
    lines = [
        (
            f"**{view.game.name}**, n = {view.game.n_actions}, τ = {view.settings.tau:g}, "
            f"β = {view.settings.beta:g}, T = {view.settings.steps}  "
        ),
        (
            f"π*_τ = ({pol}); duality gap {float(np.max(eq.duality_gap)):.1e}"
            f"{'' if eq.converged else ' (NOT converged)'}"
        ),
        "",
        "| learner | gap(π_T) | max abs(π_T − π*_τ) | run time |",
        "|---|---|---|---|",
    ]
    for run in view.runs.values():
        secs = "cached" if run.seconds == 0 else f"{run.seconds * 1e3:.0f} ms"
        lines.append(
            f"| {run.label} | {run.gap[-1]:.2e} | {np.max(np.abs(run.policy - eq.policy)):.2e} "
            f"| {secs} |"
        )
    lines.append(f"\nrecomputed in {view.seconds * 1e3:.0f} ms")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the app


class Explorer:
    """The controls, the plots and the wiring between them; :attr:`layout` is what is shown.

    Every control change calls :meth:`update`, which builds :class:`Settings`, calls
    :func:`compute` and redraws; a ``ValueError`` from the library is shown in :attr:`alert`.
    ``last_view`` and ``last_seconds`` (compute + redraw) are kept for tests and benchmarks.
    With ``prefetch`` (default), after each redraw a background thread runs the learners at the
    τ values and β values next to the current ones on the sliders, so that the next τ or β step
    is served from the cache; any control change stops it between two learner runs.
    """

    def __init__(self, settings: Settings | None = None, *, prefetch: bool = True) -> None:
        s = settings or Settings(start="corner")
        self._applying = False  # the tour sets several controls, then redraws once
        self.prefetch = prefetch
        self._generation = 0
        self.prefetch_thread: threading.Thread | None = None
        self.uploaded: PreferenceGame | None = None
        W = pn.widgets
        names = sorted(BUILTIN_GAMES)
        if isinstance(s.game, PreferenceGame):
            self.uploaded = s.game
            names.append(UPLOAD)
        self.game = W.Select(
            label="game",
            options=names,
            value=UPLOAD if self.uploaded else s.game,
            css_classes=["pg-game"],
        )
        self.n = W.IntSlider(label="n (actions)", start=2, end=12, value=s.n, css_classes=["pg-n"])
        self.seed = W.IntInput(label="game seed", value=s.seed, start=0, css_classes=["pg-seed"])
        self.eps = W.FloatSlider(
            label="ε (three_raters)", start=-0.33, end=0.33, step=0.01, value=s.eps
        )
        self.upload = W.FileInput(accept=".npy,.csv,.json", css_classes=["pg-upload"])
        self.mu = W.TextInput(
            label="μ (blank: the game's)",
            value=s.mu,
            placeholder="e.g. 0.5, 0.3, 0.2",
            css_classes=["pg-mu"],
        )
        self.tau = W.DiscreteSlider(
            label="τ", options=sorted({*TAUS, s.tau}), value=s.tau, css_classes=["pg-tau"]
        )
        self.beta = W.FloatSlider(
            label="β (IPO-MD, Nash-MD-PG)",
            start=0.0,
            end=0.95,
            step=0.05,
            value=s.beta,
            css_classes=["pg-beta"],
        )
        self.own_step = W.Checkbox(
            label="each learner's own step size", value=s.eta is None, css_classes=["pg-own-step"]
        )
        self.eta = W.DiscreteSlider(
            label="constant step size η / lr",
            options=sorted({*ETAS, s.eta or 0.1}),
            value=0.1 if s.eta is None else s.eta,
            css_classes=["pg-eta"],
        )
        self.start = W.Select(
            label="start policy π_0",
            value=s.start,
            css_classes=["pg-start"],
            options={
                "μ": "mu",
                "corner (0.8 on the first action)": "corner",
                "uniform": "uniform",
                "random (Dirichlet)": "random",
                "custom": "custom",
            },
        )
        self.start_seed = W.IntInput(label="start seed", value=s.start_seed, start=0)
        self.start_custom = W.TextInput(
            label="custom π_0",
            value=s.start_custom,
            placeholder="e.g. 0.8, 0.1, 0.1",
            css_classes=["pg-start-custom"],
        )
        self.steps = W.DiscreteSlider(
            label="steps T",
            options=sorted({*STEPS, s.steps}),
            value=s.steps,
            css_classes=["pg-steps"],
        )
        self.learners = W.CheckBoxGroup(
            label="learners",
            value=list(s.learners),
            options={v.label: k for k, v in LEARNERS.items()},
            inline=False,
            css_classes=["pg-learners"],
        )
        self.tour = W.Select(
            label="guided tour",
            options={
                "— explore freely —": -1,
                **{title: k for k, (title, _, _) in enumerate(TOUR)},
            },
            value=-1,
            css_classes=["pg-tour"],
        )
        self.tour_next = W.Button(label="start the tour ▶", css_classes=["pg-tour-next"])
        self.tour_text = pn.pane.Alert(
            "", alert_type="info", visible=False, css_classes=["pg-tour-text"], width=880
        )
        self.tour.param.watch(self._on_tour, "value")
        self.tour_next.on_click(self._tour_next)
        self.alert = pn.pane.Alert("", alert_type="danger", visible=False, css_classes=["pg-error"])
        self.summary = pn.pane.Markdown("", css_classes=["pg-summary"], width=880)
        self.plots = pn.Column()
        self._shape: Shape | None = None
        self._fills: list = []
        self.last_view: View | None = None
        self.last_seconds = float("nan")

        for w in (
            self.game,
            self.n,
            self.seed,
            self.eps,
            self.mu,
            self.tau,
            self.beta,
            self.own_step,
            self.eta,
            self.start,
            self.start_seed,
            self.start_custom,
            self.steps,
            self.learners,
        ):
            what = "value_throttled" if "value_throttled" in w.param else "value"
            w.param.watch(self.update, what)
        self.upload.param.watch(self._on_upload, "value")

        controls = pn.Column(
            "## prefgame explore",
            self.tour,
            self.tour_next,
            self.game,
            self.n,
            self.seed,
            self.eps,
            pn.pane.Markdown("or upload P (.npy, .csv, .json):", margin=(0, 10)),
            self.upload,
            self.mu,
            self.tau,
            self.beta,
            self.own_step,
            self.eta,
            self.start,
            self.start_seed,
            self.start_custom,
            self.steps,
            pn.pane.Markdown("**learners**", margin=(0, 10)),
            self.learners,
            width=300,
        )
        self.layout = pn.Row(
            controls, pn.Column(self.tour_text, self.alert, self.plots, self.summary)
        )
        self.update()

    # ------------------------------------------------------------------ events

    def settings(self) -> Settings:
        """The :class:`Settings` the controls show."""
        return Settings(
            game=self.uploaded if self.game.value == UPLOAD else self.game.value,
            n=int(self.n.value),
            seed=int(self.seed.value or 0),
            eps=float(self.eps.value),
            mu=self.mu.value,
            tau=float(self.tau.value),
            beta=float(self.beta.value),
            eta=None if self.own_step.value else float(self.eta.value),
            start=self.start.value,
            start_seed=int(self.start_seed.value or 0),
            start_custom=self.start_custom.value,
            steps=int(self.steps.value),
            learners=tuple(self.learners.value),
        )

    def _on_upload(self, event) -> None:
        if not event.new:
            return
        try:
            self.uploaded = game_from_upload(self.upload.filename or "upload", event.new)
        except ValueError as exc:
            self._show_error(str(exc))
            return
        if UPLOAD not in self.game.options:
            self.game.options = [*self.game.options, UPLOAD]
        if self.game.value == UPLOAD:
            self.update()
        else:
            self.game.value = UPLOAD  # triggers update()

    def tour_step(self, k: int) -> None:
        """Show step ``k`` of :data:`TOUR`: set its controls, redraw once, say what to look for."""
        title, values, text = TOUR[k]
        widgets = {
            "game": self.game,
            "eps": self.eps,
            "mu": self.mu,
            "tau": self.tau,
            "beta": self.beta,
            "own_step": self.own_step,
            "start": self.start,
            "steps": self.steps,
            "learners": self.learners,
        }
        self._applying = True
        try:
            for name, value in {**TOUR_BASE, **values}.items():
                _put(widgets[name], value)
        finally:
            self._applying = False
        self.tour_text.object = f"**Tour {title}** — {text}"
        self.tour_text.visible = True
        self.tour_next.label = "next step ▶" if k + 1 < len(TOUR) else "back to step 1 ▶"
        if self.tour.value != k:
            self.tour.value = k  # (its watcher calls this again; harmless, all cached)
        self.update()

    def _on_tour(self, event) -> None:
        if event.new is None or event.new < 0:
            self.tour_text.visible = False
            self.tour_next.label = "start the tour ▶"
            return
        if not self._applying:
            self.tour_step(int(event.new))

    def _tour_next(self, _event=None) -> None:
        k = self.tour.value
        self.tour_step(0 if k is None or k < 0 or k + 1 >= len(TOUR) else k + 1)

    def _draw(self, view: View) -> None:
        """Rebuild the plots if the shape (actions, learners) changed, then fill them with
        ``view``."""
        shape = (view.actions, tuple(dict.fromkeys(view.settings.learners)))
        if shape != self._shape:
            policy = simplex_plot if len(view.actions) == 3 else lines_plot
            built = [make(*shape) for make in (policy, path_plot, mixture_plot, gap_plot)]
            panes = [
                b if isinstance(b, pn.viewable.Viewable) else pn.pane.Bokeh(b) for b, _ in built
            ]
            self.plots.objects = [pn.Row(panes[0], panes[1]), pn.Row(panes[2], panes[3])]
            self._shape, self._fills = shape, [fill for _, fill in built]
        for fill in self._fills:
            fill(view)

    def _show_error(self, message: str) -> None:
        self.alert.object = message
        self.alert.visible = True

    def update(self, *events: Any) -> None:
        """Recompute (cached) and redraw; a library ``ValueError`` goes to the red box."""
        if self._applying:
            return
        t0 = time.perf_counter()
        self._generation += 1  # stops a running prefetch
        name = self.game.value
        params = () if name == UPLOAD else tuple(inspect.signature(BUILTIN_GAMES[name]).parameters)
        # only the controls that apply to this game and these learners are shown
        self.n.visible, self.seed.visible = "n" in params, "seed" in params
        self.eps.visible = "eps" in params
        self.eta.visible = not self.own_step.value
        self.beta.visible = any(LEARNERS[k].uses_beta for k in self.learners.value)
        self.start_seed.visible = self.start.value == "random"
        self.start_custom.visible = self.start.value == "custom"
        try:
            view = compute(self.settings(), taus=tuple(self.tau.options), betas=self._betas())
        except (ValueError, FloatingPointError) as exc:
            self._show_error(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 -- the page shows one line, never a traceback
            self._show_error(f"{type(exc).__name__}: {exc}")
            return
        with pn.io.hold():  # one message to the page for the whole redraw
            self.alert.object = "\n\n".join(view.errors)
            self.alert.visible = bool(view.errors)
            self._draw(view)
            self.last_view = view
            self.last_seconds = time.perf_counter() - t0
            self.summary.object = (
                summary_markdown(view) + f" (plots filled in {self.last_seconds * 1e3:.0f} ms)"
            )
        if self.prefetch:
            self._start_prefetch(view.settings)

    def stop_prefetch(self) -> None:
        """Stop a running prefetch (after its current learner run) and wait for it."""
        self._generation += 1
        if self.prefetch_thread is not None:
            self.prefetch_thread.join()

    def _betas(self) -> tuple[float, ...]:
        """The β slider's notches (start + k·step, rounded to 10 decimals)."""
        b = self.beta
        k = round((b.end - b.start) / b.step)
        return tuple(round(b.start + i * b.step, 10) for i in range(k + 1))

    def _start_prefetch(self, s: Settings) -> None:
        """Warm the caches for τ one slider notch up and down, then β one notch up and down (the
        learners that use β: IPO-MD always, for its panel), in a daemon thread; each warm runs the
        whole τ grid in one batch where the learner can (:func:`compute`'s ``taus``)."""
        grid, gen, betas = self.tau.options, self._generation, self._betas()
        if s.tau not in grid:
            return
        i = grid.index(s.tau)
        moves = [
            replace(s, tau=grid[j]) for j in (i + 1, i - 1) if 0 <= j < len(grid) and grid[j] > 0
        ]
        b = self.beta
        moves += [
            replace(s, beta=round(s.beta + d, 10))
            for d in (b.step, -b.step)
            if b.start <= round(s.beta + d, 10) <= b.end
        ]

        def work() -> None:
            for move in moves:
                warm(move, stop=lambda: self._generation != gen, taus=tuple(grid), betas=betas)

        self.prefetch_thread = threading.Thread(
            target=work, name="prefgame-explore-prefetch", daemon=True
        )
        self.prefetch_thread.start()


_EXTENSION_LOADED = False


def explorer(game: str | PreferenceGame = "near_cyclic", **settings: Any) -> pn.Row:
    """The explorer as one Panel object: ``explorer()`` in a notebook cell shows it inline.

    Keyword arguments set the controls' start values (the fields of :class:`Settings`, e.g.
    ``explorer("rps", tau=0.05, beta=0.5, learners=("nash_md", "online_dpo"))``); ``game`` may
    be a built-in name or a :class:`~prefgame.games.PreferenceGame`.
    """
    global _EXTENSION_LOADED
    if not _EXTENSION_LOADED and "ipykernel" in sys.modules:
        pn.extension()  # loads Bokeh/Panel's JavaScript into the notebook
        _EXTENSION_LOADED = True
    settings.setdefault("start", "corner")  # trajectories from far away, not a blob at μ
    return Explorer(Settings(game=game, **settings)).layout


def serve(
    port: int | None = None,
    *,
    open_browser: bool = True,
    address: str = "127.0.0.1",
    **settings: Any,
) -> None:
    """Serve the explorer at ``http://address:port/`` until interrupted (``prefgame explore``).

    ``port=None`` picks a free one.  The URL is printed on stdout first.
    """
    if port is None:
        port = free_port(address)
    check_port(port, address)
    print(f"prefgame explore: serving at http://{address}:{port}/  (Ctrl-C stops)", flush=True)
    pn.serve(
        lambda: explorer(**settings),
        port=port,
        address=address,
        show=open_browser,
        websocket_origin=[f"{address}:{port}", f"localhost:{port}"],
        title="prefgame explore",
        verbose=False,
    )
