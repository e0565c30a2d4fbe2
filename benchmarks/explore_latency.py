"""Benchmark: how long one control move of ``prefgame explore`` takes to recompute and redraw.

    .venv/bin/python benchmarks/explore_latency.py [--steps 2000] [--repeats 3] [--json]

For the 3-action near-cycle and a 10-action random intransitive game, an :class:`Explorer` (the
served page's own object, its prefetch off) is loaded cold (empty caches) and moved through τ
(values the page has not shown yet: the first load has already run them for Nash-MD and the IPO
family, in one batched call per learner), β (at the last τ: the first β move misses and runs
IPO-MD's batch, the second is a hit), the number of steps, back to a τ already shown and to a τ
with the learners' runs forgotten (the worst case: a miss runs the batch in the foreground); then,
with the page's default prefetch of the neighbouring τ and β notches (given time to finish, as a
reader looking at the plots gives it), τ one notch at a time and β one notch at a time. Each move's
time is ``Explorer.last_seconds`` — the library's computation
(:func:`prefgame.explore.model.compute`) plus refilling every Bokeh plot. Not included: the
websocket message and the browser's repaint (the browser test prints the key-press-to-redraw time
it sees, ``pytest tests/test_explore_browser.py -s``).

``--json`` prints one JSON object instead of the table: for the n = 3 near-cycle with the default
learners, ``tau_change_p50_s`` (a τ move, prefetch off: the issue's target),
``tau_change_miss_p50_s`` (a τ move with the learner runs forgotten), ``beta_change_p50_s``,
``steps_down_p50_s``, ``tau_cached_s``, ``first_load_s``, ``tau_notch_prefetch_p50_s`` and
``beta_notch_prefetch_p50_s``; ``scenarios`` holds every case's every row (median, max, each move).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import param

from prefgame.explore import model as M
from prefgame.explore.app import Explorer


def _move(widget, value) -> None:
    widget.value = value
    if "value_throttled" in widget.param:
        with param.edit_constant(widget):
            widget.value_throttled = value


def bench(game: str, n: int, steps: int, learners: tuple[str, ...]) -> dict[str, list[float]]:
    M.clear_caches()
    t0 = time.perf_counter()
    app = Explorer(
        M.Settings(game=game, n=n, tau=0.1, steps=steps, learners=learners), prefetch=False
    )
    out = {"first load (cold)": [time.perf_counter() - t0]}
    assert not app.alert.visible, app.alert.object
    for tau in (0.2, 0.5, 1.0, 0.05):
        _move(app.tau, tau)
        out.setdefault("τ move (τ not shown yet)", []).append(app.last_seconds)
    for beta in (0.5, 0.75):
        _move(app.beta, beta)
        out.setdefault("β move", []).append(app.last_seconds)
    for s in (1000, 500):
        _move(app.steps, s)
        out.setdefault("steps down (cached prefix)", []).append(app.last_seconds)
    _move(app.steps, steps)
    _move(app.beta, 0.25)
    _move(app.tau, 0.2)
    out["τ move (τ seen before: cached)"] = [app.last_seconds]
    # The worst case of a τ move: the learners' runs forgotten, so the move misses and runs the
    # batch (the cross through (τ, β) on the sliders' grids) in the foreground.
    for tau in (0.5, 1.0):
        M._RUNS.clear()
        _move(app.tau, tau)
        out.setdefault("τ move, learner runs cleared (a batched miss)", []).append(app.last_seconds)
    # The page's default: after a redraw, the neighbouring τ notches are warmed in the background
    # (while the user looks at the plots); the next τ step then only refills the plots.
    M.clear_caches()
    app = Explorer(M.Settings(game=game, n=n, tau=0.1, steps=steps, learners=learners))
    for tau in (0.2, 0.5, 1.0):
        app.prefetch_thread.join()
        _move(app.tau, tau)
        out.setdefault("τ notch after the prefetch (page default)", []).append(app.last_seconds)
    for beta in (0.3, 0.35, 0.4):
        app.prefetch_thread.join()
        _move(app.beta, beta)
        out.setdefault("β notch after the prefetch (page default)", []).append(app.last_seconds)
    app.stop_prefetch()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3, help="best of this many repeats")
    ap.add_argument("--json", action="store_true", help="print one JSON object, not the table")
    args = ap.parse_args()
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}, steps {args.steps}"
    )
    if not args.json:
        print(machine)
    cases = [
        ("near_cyclic", 3, ("nash_md", "online_ipo", "ipo_md")),
        ("random_intransitive", 10, ("nash_md", "online_ipo", "ipo_md")),
        ("random_intransitive", 10, ("nash_md", "online_ipo", "ipo_md", "online_dpo", "rlhf")),
    ]
    rows = []
    if not args.json:
        print("| game | n | learners | move | seconds (median; max) |\n|---|---|---|---|---|")
    for game, n, learners in cases:
        runs = [bench(game, n, args.steps, learners) for _ in range(args.repeats)]
        best = {k: np.min([r[k] for r in runs], axis=0) for k in runs[0]}
        for move, secs in best.items():
            row = {
                "game": game,
                "n": n,
                "learners": list(learners),
                "move": move,
                "p50_s": float(np.median(secs)),
                "max_s": float(np.max(secs)),
                "seconds": [float(x) for x in secs],
            }
            rows.append(row)
            if not args.json:
                print(
                    f"| {game} | {n} | {len(learners)} | {move} "
                    f"| {row['p50_s']:.3f}; {row['max_s']:.3f} |"
                )
    if args.json:
        first = {r["move"]: r["p50_s"] for r in rows if r["n"] == cases[0][1]}
        out = {
            "tau_change_p50_s": first["τ move (τ not shown yet)"],
            "beta_change_p50_s": first["β move"],
            "tau_change_miss_p50_s": first["τ move, learner runs cleared (a batched miss)"],
            "steps_down_p50_s": first["steps down (cached prefix)"],
            "tau_cached_s": first["τ move (τ seen before: cached)"],
            "first_load_s": first["first load (cold)"],
            "tau_notch_prefetch_p50_s": first["τ notch after the prefetch (page default)"],
            "beta_notch_prefetch_p50_s": first["β notch after the prefetch (page default)"],
            "case": {"game": cases[0][0], "n": cases[0][1], "learners": list(cases[0][2])},
            "machine": machine,
            "repeats": args.repeats,
            "scenarios": rows,
        }
        print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
