"""The main job: the whole tabular study on the built-in games, as a markdown report.

``prefgame study --out DIR`` (what ``make run`` calls) runs, for every built-in game and every τ,
the equivalence study (:mod:`prefgame.equivalence`: exact solver, Nash-MD, online IPO, IPO-MD,
online DPO, RLHF) plus offline IPO / DPO, online SLiC, self-play PG, Nash-MD-PG(β), online mirror
descent and IPO-MD at a second β, all in their exact-expectation flavour from the same seeded
starting policy, and writes

* ``DIR/parts/<game>__tau<repr(τ)>.json`` — one file per (game, exact τ), verified on load,
  written atomically as soon as it is done; a rerun skips the parts already there (``--force``
  recomputes);
* ``DIR/figures/*.png|svg``        — the figures of :mod:`prefgame.figures`, each with its caption
  (``*.caption.md``: the figure's claim with the numbers computed when it was drawn), which the
  report prints under it;
* ``DIR/report.md``                — tables of every method's duality gap and max-abs distance to
  π*_τ, rewritten (atomically) after every part, so an interrupted run still leaves a report of
  what is finished.

Each part also holds ``learners``: every post-paper learner of the one registry
:data:`prefgame.dynamics.LEARNERS` (``docs/algorithms.md``) measured by
:func:`prefgame.equivalence.learner_entry` — steps until the promised iterate is within 1e-8 of
its target (π*_τ, or the τ = 0 LP solution for a learner whose ``target`` is ``"nash_0"``), last
and average iterate, and the distance curve drawn in ``figures/learners_<game>.png`` (all
learners, log scale, one panel per τ).  The τ-free learners (SPPO, DNO, SPO) are run once per
game and reused across τ.  The paper's figures are drawn when a built-in game is studied; a game
of one's own gets ``figures/dynamics_<game>.png`` (the paper's methods at the study's τ).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from . import games as G
from .dynamics import (
    ipo_md,
    nash_md_pg,
    offline_dpo,
    offline_ipo,
    online_mirror_descent,
    online_slic,
    self_play_pg,
)
from .dynamics.registry import LEARNERS
from .equilibrium import solve as G_solve
from .equivalence import TARGET_TOL, equivalence_study, learner_entry, method_entry
from .files import atomic_write

__all__ = [
    "EXTRA_METHODS",
    "LEARNER_STEPS",
    "STUDY_GAMES",
    "free_game_name",
    "game_fingerprint",
    "load_part",
    "min_study_tau",
    "part_path",
    "run_learners",
    "run_study",
    "run_unit",
    "write_report",
]

#: (label, constructor) of the games in the study.
STUDY_GAMES: dict[str, Callable[[], G.PreferenceGame]] = {
    "rps": G.rock_paper_scissors,
    "dice": G.intransitive_dice,
    "three_raters": lambda: G.three_rater_types(0.1),
    "near_cyclic": G.near_cyclic,
    "cyclic5": lambda: G.cyclic(5),
    "bradley_terry": lambda: G.make_game("bradley_terry"),
    "random_intransitive10": lambda: G.random_intransitive(10, seed=0),
    "random_intransitive10_mu": lambda: G.random_intransitive(10, seed=0).with_mu(
        np.arange(1, 11) / 55
    ),
}

#: Methods beyond the equivalence study, each ``f(game, tau, init, steps) -> Trajectory``.
EXTRA_METHODS: dict[str, Callable] = {
    "ipo_md_beta0.5": lambda g, t, i, s: ipo_md(g, t, 0.5, steps=s, tol=1e-12, init=i),
    "offline_ipo": lambda g, t, i, s: offline_ipo(g, t, steps=s, tol=1e-12, init=i),
    "offline_dpo": lambda g, t, i, s: offline_dpo(g, t, steps=s, tol=1e-11, init=i),
    "online_slic": lambda g, t, i, s: online_slic(g, t, steps=min(s, 20_000), lr=0.02, init=i),
    "self_play_pg": lambda g, t, i, s: self_play_pg(g, t, lr=0.05, steps=s, tol=1e-12, init=i),
    "nash_md_pg_beta0.125": lambda g, t, i, s: nash_md_pg(
        g, t, 0.125, lr=0.05, steps=s, tol=1e-12, init=i
    ),
    "omd_eta0.5": lambda g, t, i, s: online_mirror_descent(
        g, t, eta=min(0.5, 1 / t), steps=s, tol=1e-11, init=i
    ),
}

MAIN_ORDER = ("nash_md", "online_ipo", "ipo_md", "online_dpo", "rlhf")

#: Step caps of the post-paper learners in the study, by the iterate their guarantee covers: the
#: last-iterate ones converge linearly (≲ 10³ steps to 1e-8 here); the average-iterate ones
#: converge like 1/√T at best, so 1e-8 is out of reach and the cap sets the curve's length.
LEARNER_STEPS = {"last": 100_000, "average": 10_000}

#: τ-free learners' entries, keyed by (P, μ, π_0): computed once per game, reused across τ.
_TAU_FREE_CACHE: dict[tuple, dict] = {}


def start_policy(n: int, seed: int) -> np.ndarray:
    """The common starting policy π_0: Dirichlet(1) with this seed, floored at 1e-3."""
    pi = np.maximum(np.random.default_rng(seed).dirichlet(np.ones(n)), 1e-3)
    return pi / pi.sum()


def run_learners(game: G.PreferenceGame, tau: float, init: np.ndarray, star: np.ndarray) -> dict:
    """Every learner of :data:`LEARNERS` on one game at one τ, with its distance curve."""
    out, lp = {}, None
    for name, spec in LEARNERS.items():
        steps = min(LEARNER_STEPS[spec.guarantee], spec.max_steps or LEARNER_STEPS["last"])
        check = 1 if spec.guarantee == "last" else 10
        if spec.regularised:  # run at this τ (the target: π*_τ, or the LP solution)
            if spec.target == "nash_0" and lp is None:
                lp = np.asarray(G_solve(game, 0.0).policy)
            out[name] = learner_entry(
                game,
                tau,
                name,
                star=star,
                target=star if spec.target == "nash" else lp,
                init=init,
                max_steps=steps,
                check_every=check,
                curve=True,
            )
            continue
        key = (name, game.P.tobytes(), np.asarray(game.mu).tobytes(), init.tobytes(), steps)
        if key not in _TAU_FREE_CACHE:
            if lp is None:
                lp = np.asarray(G_solve(game, 0.0).policy)
            _TAU_FREE_CACHE[key] = learner_entry(
                game,
                tau,
                name,
                star=star,
                target=lp,
                init=init,
                max_steps=steps,
                check_every=check,
                curve=True,
            )
        e = dict(_TAU_FREE_CACHE[key])
        e.update(method_entry(game, tau, star, np.asarray(e["policy"])))  # τ-dependent fields
        out[name] = e
    return out


def run_unit(
    game: G.PreferenceGame,
    tau: float,
    *,
    seed: int = 0,
    max_steps: int = 200_000,
    beta: float = 0.125,
) -> dict:
    """The equivalence study, :data:`EXTRA_METHODS` and the post-paper learners on one game at one
    τ (JSON-ready)."""
    init = start_policy(game.n_actions, seed)
    out = equivalence_study(game, tau, beta, init=init, max_steps=max(max_steps, 1_000_000))
    star = np.asarray(out["exact"]["policy"])
    out["init"] = init.tolist()
    out["extra_methods"] = {}
    for name, f in EXTRA_METHODS.items():
        t0 = time.perf_counter()
        run = f(game, tau, init, max_steps)
        out["extra_methods"][name] = method_entry(
            game,
            tau,
            star,
            run.policy,
            steps=run.iterations,
            converged=bool(run.converged),
            seconds=time.perf_counter() - t0,
        )
    out["learners"] = run_learners(game, tau, init, star)
    return out


def _tau_str(tau: float) -> str:
    """τ as ``:g`` when that is exact, else its full ``repr`` (0.1 vs 0.1000001 stay apart)."""
    short = f"{tau:g}"
    return short if float(short) == tau else repr(float(tau))


def _fmt(x: float) -> str:
    return f"{x:.2e}" if x != 0 else "0"


def _steps_cell(e: dict) -> str:
    s = e["steps_to_target"]
    return " / ".join("–" if s[k] is None else str(s[k]) for k in ("last", "average"))


def _learner_sections(parts: list[dict], taus) -> list[str]:
    """The post-paper learners' comparison (tables per τ, claims and fitted rates)."""
    parts = [p for p in parts if "learners" in p]
    if not parts:
        return []
    names = list(parts[0]["learners"])
    lines = [
        "## The post-paper learners: who reaches which equilibrium, how fast",
        "",
        (
            "Each learner (exact expectation, same start π_0, default step of its theorem; "
            "derivations in `docs/algorithms.md`) runs until the iterate its theory promises is "
            f"within {TARGET_TOL:g} (max-abs) of its target, or up to {LEARNER_STEPS['last']:,} "
            f"steps (last-iterate learners) / {LEARNER_STEPS['average']:,} steps (average-iterate "
            "learners). Target: π*_τ for "
            + ", ".join(f"`{n}`" for n in names if LEARNERS[n].target == "nash")
            + "; the τ = 0 LP solution (von Neumann winner)† for "
            + ", ".join(f"`{n}`" for n in names if LEARNERS[n].target == "nash_0")
            + " (of these, "
            + ", ".join(f"`{n}`" for n in names if not LEARNERS[n].regularised)
            + " ignore τ and μ only sets π_0: the same in every τ section; the others use τ as a "
            "proximal strength towards a reference they move). INPO is MMD with η/(1 − ητ) and "
            "DNO is SPPO with η ↔ 1/η — the same maps, so their rows coincide "
            "(`docs/algorithms.md` §4, §5)."
        ),
        "",
    ]
    claims = ["| learner | target | guarantee | claimed rate | source |", "|---|---|---|---|---|"]
    for n in names:
        e = parts[0]["learners"][n]
        claims.append(
            f"| {n} | {e['target']} | {e['guarantee']} iterate | {e['rate']} | {e['source']} |"
        )
    lines += claims + [""]
    hdr = (
        "| game | "
        + " | ".join(
            n + ("†" if parts[0]["learners"][n]["target"] != "pi*_tau" else "") for n in names
        )
        + " |"
    )
    for tau in taus:
        rows = [p for p in parts if p["tau"] == tau]
        if not rows:
            continue
        lines += [
            (
                f"### τ = {_tau_str(tau)}: steps to within {TARGET_TOL:g} of the target, last / "
                "average iterate (– = not within the cap)"
            ),
            "",
            hdr,
            "|---|" + "---|" * len(names),
        ]
        for p in rows:
            lines.append(
                f"| {p['label']} | "
                + " | ".join(_steps_cell(p["learners"][n]) for n in names)
                + " |"
            )
        lines += [
            "",
            (
                f"### τ = {_tau_str(tau)}: max-abs distance to the target at the end, "
                "last / average iterate"
            ),
            "",
            hdr,
            "|---|" + "---|" * len(names),
        ]
        for p in rows:
            cells = [
                f"{_fmt(p['learners'][n]['target_max_abs_diff'])} / "
                f"{_fmt(p['learners'][n]['average_max_abs_diff'])}"
                for n in names
            ]
            lines.append(f"| {p['label']} | " + " | ".join(cells) + " |")
        lines += [
            "",
            (
                f"### τ = {_tau_str(tau)}: fitted rate of the promised iterate — last-iterate "
                "learners: ρ², ρ the fitted contraction factor of the distance per step, next to "
                "the theorem's factor on KL(π*‖π_t) (KL is quadratic in the distance, so ρ² ≤ "
                "claim is the check); average-iterate learners: exponent p of distance ∝ tᵖ over "
                "the last decade"
            ),
            "",
            hdr,
            "|---|" + "---|" * len(names),
        ]
        for p in rows:
            cells = []
            for n in names:
                e = p["learners"][n]
                r = e["fitted_rate"]
                if r is None:
                    cells.append("–")
                elif "claimed_kl_factor" in e:
                    cells.append(f"{r * r:.4g} ({e['claimed_kl_factor']:.4g})")
                else:
                    cells.append(f"{r:.3g}")
            lines.append(f"| {p['label']} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


#: A learner "reaches π*_τ" in the report when max|π_T − π*_τ| is at most this.
REACH_TOL = 1e-6


def _reaches(part: dict, method: str) -> bool:
    e = part[method] if method in part else part["extra_methods"][method]
    return e["max_abs_diff"] <= REACH_TOL


def _takeaway(parts: list[dict], taus) -> list[str]:
    """The report's opening: what it shows in five lines, then a ✓/✗ "reaches π*_τ" table per τ."""
    if not parts:
        return []
    methods = [
        m
        for m in (*MAIN_ORDER, *EXTRA_METHODS)
        if all(m in p or m in p["extra_methods"] for p in parts)
    ]
    hits = {m: sum(_reaches(p, m) for p in parts) for m in methods}
    every = [m for m in methods if hits[m] == len(parts)]
    never = [m for m in methods if hits[m] == 0]
    some = [f"{m} ({hits[m]}/{len(parts)})" for m in methods if 0 < hits[m] < len(parts)]
    worst = max(float(np.max(p["exact"]["duality_gap"])) for p in parts)
    games = sorted({p["label"] for p in parts})
    lines = [
        "## What this report shows",
        "",
        (
            f"1. π*_τ solved exactly for {len(games)} game(s) × "
            f"{len(parts) // max(len(games), 1)} τ value(s) (largest certified duality gap "
            f"{_fmt(worst)}); every learner runs from the same π_0 and is measured against it."
        ),
        (
            f"2. Reach π*_τ (max|π_T − π*_τ| ≤ {REACH_TOL:g}) in every part: "
            f"{', '.join(every) or 'none'}."
        ),
        f"3. Never: {', '.join(never) or 'none'}; in some parts: {', '.join(some) or 'none'}.",
        (
            "4. By the theory, IPO-MD's policy is not π*_τ (its mixture is π* at τ/(1−β), checked "
            "per game below), and online DPO, the offline methods and RLHF have other fixed "
            "points; at τ > 0 self-play PG and OMD with a stable step reach π*_τ too — "
            "regularisation makes them converge; Nash-MD's mixture adds a guarantee with the "
            "theorem's step sizes, at a rate independent of n."
        ),
        (
            "5. `stopped` in the tables below is each learner's own stopping test; only ✓ means "
            "that it reached π*_τ."
        ),
        "",
    ]
    for tau in taus:
        rows = [p for p in parts if p["tau"] == tau]
        if not rows:
            continue
        lines += [
            f"### Reaches π*_τ? τ = {_tau_str(tau)} (✓: max|π_T − π*_τ| ≤ {REACH_TOL:g})",
            "",
            "| game | " + " | ".join(methods) + " |",
            "|---|" + "---|" * len(methods),
        ]
        for p in rows:
            lines.append(
                f"| {p['label']} | "
                + " | ".join("✓" if _reaches(p, m) else "✗" for m in methods)
                + " |"
            )
        lines.append("")
    return lines


def write_report(
    out_dir: Path,
    parts: list[dict],
    *,
    taus: Sequence[float],
    figures: list[str],
    pending: int = 0,
) -> Path:
    """Assemble ``report.md`` from the finished parts (atomically)."""
    lines = _report_lines(parts, taus=taus, pending=pending)
    if figures:
        from .figures import read_caption

        lines += ["## Figures", ""]
        for k, f in enumerate(figures, 1):
            caption = read_caption(out_dir / "figures" / f) or (
                "(no caption saved with this figure: `prefgame study --force` redraws it)"
            )
            lines += [f"![{f}](figures/{f}.png)", "", f"**Figure {k}** (`{f}`). {caption}", ""]
    path = out_dir / "report.md"
    atomic_write(path, "\n".join(lines) + "\n")
    return path


def _report_lines(parts: list[dict], *, taus: Sequence[float], pending: int = 0) -> list[str]:
    """The report's text (without its figures), from the finished parts."""
    lines = ["# prefgame: the tabular study", ""]
    lines += _takeaway(parts, taus)
    intro = (
        "Every learner runs in its exact-expectation flavour from the same starting policy π_0 "
        "(Dirichlet(1), seed 0) on each game; μ is uniform unless the game name says `_mu`. "
        "`gap` is the duality gap of the last iterate in the τ-regularised game; "
        "`max|π−π*|` is its max-abs distance to the exact equilibrium π*_τ (Newton, certified). "
        "Nash-MD uses η_t = 2/(τ(t+2)) and is run until it is within 1e-6 of π*_τ (a measurement; "
        "the step count is reported). IPO-MD's mixture is compared with π* at τ/(1−β) (Prop. 5.2)."
    )
    lines += [intro, ""]
    lines += [
        (
            "Methods: `nash_md` (closed form, η_t = 2/(τ(t+2))); `online_ipo`, `ipo_md` (β = "
            "0.125), `ipo_md_beta0.5`, `offline_ipo`, `online_dpo`, `offline_dpo` (shared "
            "soft-label losses, natural step with the Jacobian-based `lr='auto'`); `rlhf` (policy "
            "gradient on a Bradley–Terry reward fitted to P); `online_slic` (hinge: a subgradient "
            "method with constant lr 0.02, capped at 20,000 steps — `stopped: no` means it had not "
            "stopped moving); `self_play_pg` and `nash_md_pg_beta0.125` (natural policy gradient, "
            "lr 0.05); `omd_eta0.5` (online mirror descent against π_t, η = min(0.5, 1/τ))."
        ),
        "",
    ]
    if pending:
        lines += [f"**Incomplete: {pending} part(s) still to run.**", ""]
    methods = list(MAIN_ORDER) + list(EXTRA_METHODS)
    # summary: max-abs distance per game and method
    for tau in taus:
        rows = [p for p in parts if p["tau"] == tau]
        if not rows:
            continue
        lines += [f"## Summary, τ = {_tau_str(tau)}: max |π_T − π*_τ|", ""]
        lines += ["| game | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for p in rows:
            cells = [
                _fmt(p[m]["max_abs_diff"])
                if m in p
                else _fmt(p["extra_methods"][m]["max_abs_diff"])
                for m in methods
            ]
            lines.append(f"| {p['label']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Per game", ""]
    for p in parts:
        lines += [f"### {p['label']} (n = {p['n']}), τ = {_tau_str(p['tau'])}", ""]
        lines += [
            "| method | gap | max\\|π−π*\\| | steps | stopped (own test) |",
            "|---|---|---|---|---|",
        ]
        for m in ["exact", *MAIN_ORDER]:
            e = p[m]
            lines.append(
                f"| {m} | {_fmt(e['duality_gap'])} | {_fmt(e['max_abs_diff'])} | {e['steps']} | "
                f"{'yes' if e['converged'] else 'no'} |"
            )
        for m, e in p["extra_methods"].items():
            lines.append(
                f"| {m} | {_fmt(e['duality_gap'])} | {_fmt(e['max_abs_diff'])} | {e['steps']} | "
                f"{'yes' if e['converged'] else 'no'} |"
            )
        nm, im = p["nash_md"], p["ipo_md"]
        bias = ", ".join(
            f"η = {b['eta']:g}: {_fmt(b['max_abs_diff'])}" for b in p["nash_md_constant"]
        )
        within = "within 1e-6" if nm["converged"] else "NOT within 1e-6"
        lines += [
            "",
            (
                f"- Nash-MD: {within} after {nm['steps']} steps; KL(π*‖π_T) = {_fmt(nm['kl'])} "
                f"≤ bound 8/(τ²(T+1)) = {_fmt(nm['kl_bound'])}."
            ),
            f"- Constant-step Nash-MD, bias of its fixed point: {bias}.",
            (
                f"- IPO-MD (β = {p['beta']:g}): mixture vs π* at τ/(1−β) = {im['mixture_tau']:g}: "
                f"{_fmt(im['mixture_max_abs_diff'])}."
            ),
            "",
        ]
    lines += _learner_sections(parts, taus)
    return lines


def _check_part(part: dict, name: str) -> None:
    """Raise (KeyError, TypeError, ...) if the report or the learners' figure cannot be drawn from
    ``part``: a part that parses as JSON may still have lost or mistyped fields."""
    from .figures import _learners_caption

    _report_lines([part], taus=[part["tau"]])
    if "learners" in part:
        _learners_caption(name, [part])
        for e in part["learners"].values():
            c = e["curve"]
            n = {
                len(np.asarray(c[k], dtype=float).reshape(-1)) for k in ("steps", "last", "average")
            }
            if len(n) != 1:
                raise ValueError("a learner's curve has fields of different lengths")


def part_path(out_dir: Path, name: str, tau: float) -> Path:
    """``parts/<game>__tau<repr(τ)>.json``: the exact τ (``repr`` round-trips a float), so that
    τ = 0.1 and τ = 0.1000001 never share a file."""
    return Path(out_dir) / "parts" / f"{name}__tau{float(tau)!r}.json"


def game_fingerprint(game: G.PreferenceGame) -> str:
    """sha256 of the game's P, μ and ρ (float64 bytes): a part is reused only for the same game."""
    h = hashlib.sha256()
    for a in (game.P, game.mu, game.rho):
        if a is not None:
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()


def load_part(path: Path, name: str, tau: float, game: G.PreferenceGame) -> dict | None:
    """The finished part at ``path`` if it is for this game (label and fingerprint) and exactly this
    τ; ``None`` if there is none or it was computed for other parameters (it is then recomputed).

    A part that cannot be read (not a JSON object, a directory, bad bytes) is a ``ValueError``
    naming the file and suggesting ``--force``.
    """
    if not path.exists():
        return None
    hint = "delete it or rerun with --force"
    if not path.is_file():
        raise ValueError(f"{path}: study part is not a file; {hint}")
    try:
        part = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise ValueError(f"{path}: corrupt study part ({why}); {hint}") from None
    if not isinstance(part, dict) or not {"tau", "label", "exact"} <= set(part):
        raise ValueError(
            f"{path}: corrupt study part (not a finished part: keys tau, label, exact "
            f"missing); {hint}"
        )
    if part["label"] != name or part["tau"] != tau:
        return None
    fp = part.get("game_fingerprint")
    if fp is not None and fp != game_fingerprint(game):
        return None  # the game's parameters changed since: recompute
    try:
        extra = part["extra_methods"]
        if isinstance(extra, dict) and set(EXTRA_METHODS) - set(extra):
            return None  # written before a method was registered: recompute
        _check_part(part, name)
    except (KeyError, TypeError, IndexError, ValueError, AttributeError) as exc:
        what = f"{type(exc).__name__}: {_one_line(exc)}"
        raise ValueError(f"{path}: corrupt study part (unreadable field, {what}); {hint}") from None
    return part


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:120]


def min_study_tau(game: G.PreferenceGame) -> float:
    """The smallest τ the study runs on ``game``: L/√T with L = max|P − ½| and T the study's
    step cap of the last-iterate learners.  MMD at its theorem's step contracts KL(π*_τ‖π_t) by
    1 − ητ ≈ τ²/L² per step, so below this τ no learner of the study moves measurably toward
    π*_τ within its budget (every part would run every learner to its cap, for hours)."""
    L = float(np.max(np.abs(game.P - 0.5)))
    return L / float(np.sqrt(LEARNER_STEPS["last"]))


def _stored_fingerprints(out_dir: Path, name: str) -> dict[Path, str | None]:
    """{part file: its game fingerprint} of the parts of game ``name`` in ``out_dir`` (a file that
    cannot be read maps to ``None``: :func:`load_part` names it later)."""
    found = {}
    for path in sorted((Path(out_dir) / "parts").glob(f"{glob.escape(name)}__tau*.json")):
        try:
            part = json.loads(path.read_text())
            found[path] = part.get("game_fingerprint") if isinstance(part, dict) else None
        except (OSError, ValueError, RecursionError):
            found[path] = None
    return found


def free_game_name(out_dir: str | os.PathLike, name: str, game: G.PreferenceGame) -> str:
    """``name``, or ``name_2``, ``name_3``, …: the first whose finished parts in ``out_dir`` (if
    any) are of this very game, so that a second matrix with the same file stem never replaces
    the parts of the first (``prefgame study --matrix A/data.npy`` then ``B/data.npy``)."""
    fp = game_fingerprint(game)
    candidate, k = name, 1
    while any(f not in (None, fp) for f in _stored_fingerprints(Path(out_dir), candidate).values()):
        k += 1
        candidate = f"{name}_{k}"
    return candidate


def run_study(
    out_dir: str | os.PathLike = "results",
    *,
    taus: Sequence[float] = (0.1, 1.0),
    games: Sequence[str] | None = None,
    force: bool = False,
    figures: bool = True,
    max_steps: int = 200_000,
    progress: bool = True,
) -> Path:
    """Run every (game, τ) part not on disk yet, the figures and the report; returns its path."""
    from tqdm import tqdm

    from .figures import FIGURES, make_figures

    out_dir = Path(out_dir)
    names = list(STUDY_GAMES) if games is None else list(games)
    for n in names:
        if n not in STUDY_GAMES:
            raise ValueError(f"unknown study game {n!r}; known: {', '.join(STUDY_GAMES)}")
    taus = [float(t) for t in taus]
    for t in taus:
        if not (np.isfinite(t) and t > 0):
            raise ValueError(f"tau = {t}, must be a finite number > 0")
    for what, seq in (("game", names), ("tau", taus)):
        repeated = sorted({repr(x) if what == "tau" else x for x in seq if seq.count(x) > 1})
        if repeated:
            print(
                f"prefgame study: note: repeated {what} {', '.join(repeated)} run once",
                file=sys.stderr,
            )
    names, taus = list(dict.fromkeys(names)), list(dict.fromkeys(taus))
    for n in names:  # a limit stated up front, not hours of learners that cannot move
        floor = min_study_tau(STUDY_GAMES[n]())
        small = [t for t in taus if t < floor]
        if small:
            raise ValueError(
                f"tau = {small[0]!r} is too small for the study on {n}: the learners approach "
                f"pi*_tau by about tau^2/L^2 per step (MMD's theorem, L = max|P - 1/2|), so within "
                f"the study's {LEARNER_STEPS['last']:,} steps none gets there unless tau >= "
                f"L/sqrt(steps) = {floor:.3g}; `prefgame solve --tau {small[0]!r}` gives pi*_tau "
                "alone"
            )
    if not force:  # a game of one's own never replaces the finished parts of another game
        for n in names:
            if n in BUILTIN_STUDY_GAMES:
                continue  # a built-in game whose definition changed is recomputed
            fp = game_fingerprint(STUDY_GAMES[n]())
            other = [p for p, f in _stored_fingerprints(out_dir, n).items() if f not in (None, fp)]
            if other:
                raise ValueError(
                    f"{other[0]}: a finished part of another game named {n!r}; register this "
                    "game under another name, choose another output folder, or pass force=True "
                    "(--force) to replace it"
                )
    units = [(n, t) for t in taus for n in names]
    # the paper's figures are about their own games (RPS, the dice, ...): drawn when the study
    # runs a built-in game; a game of one's own gets figures of its own (dynamics_<game>)
    fig_names = list(FIGURES) if figures and set(names) & BUILTIN_STUDY_GAMES else []
    labels = list(dict.fromkeys(names))
    own = [n for n in labels if n not in BUILTIN_STUDY_GAMES] if figures else []
    n_learner_figs = (len(labels) + len(own)) if figures else 0
    parts: list[dict] = []
    bar = tqdm(
        total=len(units) + len(fig_names) + n_learner_figs,
        desc="prefgame study",
        unit="part",
        disable=not progress,
    )
    try:
        for k, (name, tau) in enumerate(units):
            path = part_path(out_dir, name, tau)
            bar.set_postfix_str(f"{name} τ={tau!r}")
            game = STUDY_GAMES[name]()
            part = None if force else load_part(path, name, tau, game)
            if (
                part is None or "learners" not in part
            ):  # missing, forced, or written before the learners
                part = run_unit(game, tau, max_steps=max_steps)
                part["label"] = name
                part["game_fingerprint"] = game_fingerprint(game)
                atomic_write(path, json.dumps(part))
            parts.append(part)
            write_report(
                out_dir,
                parts,
                taus=taus,
                figures=[],
                pending=len(units) - k - 1 + len(fig_names) + n_learner_figs,
            )
            bar.update(1)
        done_figs: list[str] = []
        for f in fig_names:
            bar.set_postfix_str(f"figure {f}")
            make_figures(out_dir / "figures", [f], skip_existing=not force)
            done_figs.append(f)
            write_report(
                out_dir,
                parts,
                taus=taus,
                figures=done_figs,
                pending=len(fig_names) - len(done_figs) + n_learner_figs,
            )
            bar.update(1)
        if figures:
            import matplotlib.pyplot as plt

            from .figures import fig_learner_distances, save_figure

            for i, label in enumerate(labels):
                bar.set_postfix_str(f"figure learners_{label}")
                fig = fig_learner_distances(label, [p for p in parts if p["label"] == label])
                save_figure(fig, out_dir / "figures" / f"learners_{label}")
                plt.close(fig)
                done_figs.append(f"learners_{label}")
                write_report(
                    out_dir,
                    parts,
                    taus=taus,
                    figures=done_figs,
                    pending=len(labels) - i - 1 + len(own),
                )
                bar.update(1)
            from .figures import fig_game_dynamics

            for i, label in enumerate(own):
                bar.set_postfix_str(f"figure dynamics_{label}")
                stem = out_dir / "figures" / f"dynamics_{label}"
                if force or not stem.with_suffix(".png").exists():
                    fig = fig_game_dynamics(STUDY_GAMES[label](), label, taus)
                    save_figure(fig, stem)
                    plt.close(fig)
                done_figs.append(f"dynamics_{label}")
                write_report(out_dir, parts, taus=taus, figures=done_figs, pending=len(own) - i - 1)
                bar.update(1)
    except KeyboardInterrupt:  # Ctrl-C: what is finished is on disk; say how to resume
        raise KeyboardInterrupt(
            f"finished parts are kept in {out_dir / 'parts'}; rerun the same command to resume"
        ) from None
    finally:
        bar.close()  # ends the bar's line, so that a message after it starts a line of its own
    return write_report(out_dir, parts, taus=taus, figures=done_figs)


# ---------------------------------------------------------------------- your own game / learner

#: The built-in study games (a user's game may not take one of these names).
BUILTIN_STUDY_GAMES = frozenset(STUDY_GAMES)


def register_game(name: str, game: G.PreferenceGame, *, replace: bool = False) -> str:
    """Add ``game`` to the study under ``name`` (the part files are ``parts/<name>__tau<τ>.json``).

    After ``register_game("mine", g)``, ``run_study(out, games=["mine"])`` runs every learner on it;
    ``prefgame study --matrix P.npy`` does this with the file's stem as the name.
    """
    if not isinstance(game, G.PreferenceGame):
        raise TypeError(
            f"register_game({name!r}, ...): expected a PreferenceGame, got {type(game).__name__}"
        )
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise ValueError(
            f"study game name {name!r}: must be non-empty, without '/' or a leading '.'"
        )
    if name in STUDY_GAMES and not replace:
        raise ValueError(f"study game {name!r} exists; pass replace=True or choose another name")
    STUDY_GAMES[name] = lambda g=game: g
    return name


def register_method(name: str, learner: Callable, *, replace: bool = False) -> str:
    """Add a learner to every part of the study, beside :data:`EXTRA_METHODS`.

    ``learner(game, tau, init, steps)`` gets the game, τ, the study's common start policy π_0 and a
    step cap, and returns a :class:`~prefgame.dynamics.Trajectory` (``policy``, ``iterations``,
    ``converged``) — e.g.
    ``lambda g, t, i, s: preference_optimisation(g, t, loss=f, init=i, steps=s)``.
    The report then lists its duality gap and distance to π*_τ next to every built-in learner.
    """
    if not callable(learner):
        raise TypeError(f"register_method({name!r}, ...): the learner must be callable")
    if name in MAIN_ORDER or name == "exact" or (name in EXTRA_METHODS and not replace):
        raise ValueError(f"study method {name!r} exists; pass replace=True or choose another name")
    EXTRA_METHODS[name] = learner
    return name
