"""Benchmark: prefgame's regularised-Nash solver against damped fixed-point iteration and
pygambit's logit QRE (λ = 1/τ, uniform μ) on random intransitive games.

    python benchmarks/solver.py [--sizes 10 100 1000] [--taus 1 0.1 0.01 0.001] [--timeout 120]

pygambit is a benchmark-only extra (``pip install pygambit``); without it its columns read
"n/a".  Each pygambit solve runs in a child process with a time limit.  Prints a markdown table
and, last, the speed-up over pygambit at n = 100 (geometric mean over τ).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import numpy as np

from prefgame.equilibrium import best_response, duality_gap, solve
from prefgame.games import random_intransitive


def timed(fn, repeats: int = 3):
    best, out = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def damped_fixed_point(
    P: np.ndarray,
    tau: float,
    *,
    alpha: float = 0.5,
    tol: float = 1e-12,
    max_seconds: float = 10.0,
    max_iter: int = 200_000,
):
    """π ← (1 − α)π + α BR(π) from uniform, until gap ≤ tol or the budget runs out."""
    n = P.shape[0]
    pi = np.full(n, 1.0 / n)
    t0 = time.perf_counter()
    for k in range(1, max_iter + 1):
        pi = (1 - alpha) * pi + alpha * best_response(P, pi, tau)
        if k % 10 == 0 and (
            duality_gap(P, pi, tau) <= tol or time.perf_counter() - t0 > max_seconds
        ):
            break
    return pi, k


def _gambit_worker(P, tau, queue):
    import pygambit as gbt

    A = P - 0.5
    g = gbt.Game.from_arrays(A, -A)
    t = time.perf_counter()
    q = gbt.qre.logit_solve_lambda(g, [1.0 / tau])[0]
    seconds = time.perf_counter() - t
    pi = np.array([float(q.profile[s]) for s in next(iter(g.players)).strategies])
    queue.put((seconds, pi))


def gambit_qre(P: np.ndarray, tau: float, timeout: float):
    try:
        import pygambit  # noqa: F401
    except ImportError:
        return None, None
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_gambit_worker, args=(P, tau, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return float("inf"), None
    return queue.get() if not queue.empty() else (float("nan"), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--taus", type=float, nargs="+", default=[1.0, 0.1, 0.01, 0.001])
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per pygambit solve")
    ap.add_argument("--fp-seconds", type=float, default=10.0, help="budget of the fixed-point run")
    args = ap.parse_args()

    print(
        "| n | τ | prefgame s | prefgame gap | iters | fixed-point s | fixed-point gap | "
        "pygambit s | pygambit gap | pygambit / prefgame |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    ratios_100 = []
    for n in args.sizes:
        P = random_intransitive(n, seed=0).P
        for tau in args.taus:
            solve(P, tau)  # warm-up (BLAS threads, imports)
            s_pg, res = timed(lambda P=P, tau=tau: solve(P, tau))
            t = time.perf_counter()
            pi_fp, it_fp = damped_fixed_point(P, tau, max_seconds=args.fp_seconds)
            s_fp = time.perf_counter() - t
            g_fp = duality_gap(P, pi_fp, tau)
            s_gb, pi_gb = gambit_qre(P, tau, args.timeout)
            if s_gb is None:
                gb_s, gb_gap, ratio = "n/a", "n/a", "n/a"
            elif pi_gb is None:
                gb_s, gb_gap, ratio = f"> {args.timeout:.0f}", "—", f"> {args.timeout / s_pg:.0f}"
            else:
                gb_gap_v = duality_gap(P, pi_gb / pi_gb.sum(), tau)
                gb_s, gb_gap, ratio = f"{s_gb:.3f}", f"{gb_gap_v:.1e}", f"{s_gb / s_pg:.0f}×"
                if n == 100:
                    ratios_100.append(s_gb / s_pg)
            print(
                f"| {n} | {tau:g} | {s_pg:.4f} | {res.duality_gap:.1e} | {res.iterations} | "
                f"{s_fp:.2f} | {g_fp:.1e} ({it_fp} it) | {gb_s} | {gb_gap} | {ratio} |",
                flush=True,
            )
    if ratios_100:
        print(f"speedup_vs_pygambit_n100={float(np.exp(np.mean(np.log(ratios_100)))):.1f}")


if __name__ == "__main__":
    main()
