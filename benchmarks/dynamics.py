"""Benchmark: exact-expectation online IPO on a batch of random games, batched vs a per-game loop.

    .venv/bin/python benchmarks/dynamics.py [--games 10000] [--n 10] [--steps 1000]
                                            [--loop-games 200]

The batched run is :func:`prefgame.dynamics.online_ipo` on one ``[c, n, n]`` PreferenceGame (fixed
natural step lr, so no per-step Jacobian).  The reference is a straightforward per-game Python loop
doing the same update (d = 2[u − E_π u − (Pπ − ½)/τ], z ← z − lr d) on ``[n]`` arrays; it runs on
``--loop-games`` games and is extrapolated linearly to the full batch.  Both must agree to 1e-12.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from prefgame.dynamics import online_ipo
from prefgame.equilibrium import solve
from prefgame.games import random_intransitive


def per_game_loop(P: np.ndarray, mu: np.ndarray, tau: float, lr: float, steps: int) -> np.ndarray:
    """The straightforward version: one game at a time, one step at a time."""
    out = np.empty_like(mu)
    for k in range(P.shape[0]):
        logmu = np.log(mu[k])
        z = logmu - logmu.mean()
        for _ in range(steps):
            pi = np.exp(z - z.max())
            pi /= pi.sum()
            u = np.log(pi) - logmu
            d = 2.0 * (u - pi @ u - (P[k] @ pi - 0.5) / tau)
            z = z - lr * d
            z = z - z.mean()
        pi = np.exp(z - z.max())
        out[k] = pi / pi.sum()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--games", type=int, default=10_000)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--tau", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=0.2)
    ap.add_argument("--loop-games", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    game = random_intransitive(a.n, seed=0, contexts=a.games)
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        run = online_ipo(game, a.tau, steps=a.steps, lr=a.lr)
        times.append(time.perf_counter() - t0)
    batched = min(times)
    star = solve(game, a.tau).policy
    err = float(np.max(np.abs(run.policy - star)))

    k = min(a.loop_games, a.games)
    t0 = time.perf_counter()
    ref = per_game_loop(game.P[:k], game.mu[:k], a.tau, a.lr, a.steps)
    loop = (time.perf_counter() - t0) * a.games / k
    agree = float(np.max(np.abs(ref - run.policy[:k])))

    print(f"machine: {platform.processor() or platform.machine()}, numpy {np.__version__}")
    print(
        f"{a.games} games x {a.n} actions x {a.steps} exact online-IPO steps "
        f"(tau = {a.tau:g}, lr = {a.lr:g})"
    )
    print(
        f"batched (prefgame.dynamics.online_ipo): {batched:.2f} s  (best of {a.repeats}: "
        + ", ".join(f"{t:.2f}" for t in times)
        + ")"
    )
    print(f"per-game Python loop: {loop:.1f} s  (measured on {k} games, extrapolated)")
    print(
        f"speed-up: {loop / batched:.0f}x;  batched vs loop max |diff| = {agree:.1e};  "
        f"max |pi_T - pi*| over the batch = {err:.1e}"
    )


if __name__ == "__main__":
    main()
