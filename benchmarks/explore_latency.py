"""Benchmark: how long one control move of ``prefgame explore`` takes to recompute and redraw.

    .venv/bin/python benchmarks/explore_latency.py [--steps 2000] [--repeats 3]

For the 3-action near-cycle and a 10-action random intransitive game, an :class:`Explorer`
(the served page's own object, its prefetch off) is moved through τ (each value new to the
cache), β, the number of steps and back to a τ already seen; then, with the page's default
prefetch of the neighbouring τ notches (given time to finish, as a reader looking at the plots
gives it), τ one notch at a time.  Each move's time is ``Explorer.last_seconds`` — the
library's computation (:func:`prefgame.explore.model.compute`) plus refilling every Bokeh plot.
Not included: the websocket message and the browser's repaint (the browser test prints the
key-press-to-redraw time it sees, ``pytest tests/test_explore_browser.py -s``).
"""

from __future__ import annotations

import argparse
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
        out.setdefault("τ move (new τ)", []).append(app.last_seconds)
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
    # The page's default: after a redraw, the neighbouring τ notches are warmed in the background
    # (while the user looks at the plots); the next τ step then only refills the plots.
    M.clear_caches()
    app = Explorer(M.Settings(game=game, n=n, tau=0.1, steps=steps, learners=learners))
    for tau in (0.2, 0.5, 1.0):
        app.prefetch_thread.join()
        _move(app.tau, tau)
        out.setdefault("τ notch after the prefetch (page default)", []).append(app.last_seconds)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3, help="best of this many repeats")
    args = ap.parse_args()
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}, steps {args.steps}"
    )
    cases = [
        ("near_cyclic", 3, ("nash_md", "online_ipo", "ipo_md")),
        ("random_intransitive", 10, ("nash_md", "online_ipo", "ipo_md")),
        ("random_intransitive", 10, ("nash_md", "online_ipo", "ipo_md", "online_dpo", "rlhf")),
    ]
    print("| game | n | learners | move | seconds (median; max) |\n|---|---|---|---|---|")
    for game, n, learners in cases:
        runs = [bench(game, n, args.steps, learners) for _ in range(args.repeats)]
        best = {k: np.min([r[k] for r in runs], axis=0) for k in runs[0]}
        for move, secs in best.items():
            print(
                f"| {game} | {n} | {len(learners)} | {move} "
                f"| {np.median(secs):.3f}; {np.max(secs):.3f} |"
            )


if __name__ == "__main__":
    main()
