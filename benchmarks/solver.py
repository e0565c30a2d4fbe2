"""Benchmark: prefgame's regularised-Nash solver against damped fixed-point iteration and
pygambit's logit QRE (λ = 1/τ, uniform μ) on random intransitive games.

    python benchmarks/solver.py [--sizes 10 100 1000] [--taus 1 0.1 0.01 0.001] [--timeout 120]
    python benchmarks/solver.py --scaling [--sizes 100 1000 3000 10000] [--taus 1 0.001]

pygambit is a benchmark-only extra (``pip install pygambit``); without it its columns read
"n/a".  Each pygambit solve runs in a child process with a time limit.  Prints a markdown table
and, last, the speed-up over pygambit at n = 100 (geometric mean over τ).

``--scaling``: the solver's cost against the physical limit, reading P.  Each (n, τ) solve runs
in a fresh process that loads P from a .npy file, so its peak resident memory (VmHWM,
P included) is the solve's own; time is also given in units of one float64 product P·v timed
in the same process just before and after the solve (the mean of the two medians), next to
the solver's own count of products (``matvecs``: bytes of P read, in units of P).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
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


def matvec_seconds(P: np.ndarray, repeats: int = 7) -> float:
    """Median wall time of one float64 product P·v."""
    v = np.random.default_rng(0).random(P.shape[-1])
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        P @ v
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def peak_rss_bytes() -> int:
    """This process's peak resident memory: VmHWM (Linux), which starts afresh at exec (unlike
    ru_maxrss, which keeps the parent's peak across fork + exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _scaling_child(path: str, tau: float) -> None:
    """One solve in this fresh process; prints one JSON line."""
    from prefgame.games import PreferenceGame

    P = np.load(path)
    t = time.perf_counter()
    game = PreferenceGame(P)  # validation, timed apart from the solve
    validate_s = time.perf_counter() - t
    before = matvec_seconds(P)
    res = solve(game, tau)
    after = matvec_seconds(P)
    peak = peak_rss_bytes()
    print(
        json.dumps(
            {
                "seconds": res.seconds,
                "matvec_s": 0.5 * (before + after),
                "matvecs": res.matvecs,
                "iterations": res.iterations,
                "gap": float(res.duality_gap),
                "residual": float(res.residual),
                "converged": res.converged,
                "peak_bytes": peak,
                "validate_s": validate_s,
            }
        )
    )


def scaling(sizes: list[int], taus: list[float]) -> None:
    print(
        "| n | τ | path | solve s | P·v s | solve / P·v | matvecs (bytes of P) | Newton it | gap | "
        "residual | certified | peak RSS GiB (P GiB) | validate P s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    from prefgame.equilibrium import KRYLOV_ABOVE

    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = os.path.join(tmp, f"P{n}.npy")
            np.save(path, random_intransitive(n, seed=0).P)
            for tau in taus:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", path, "--taus", str(tau)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                r = json.loads(out.stdout.strip().splitlines()[-1])
                mv = "—" if r["matvecs"] is None else f"{r['matvecs']:.0f}"
                print(
                    f"| {n} | {tau:g} | {'Newton–Krylov' if n > KRYLOV_ABOVE else 'dense Newton'}"
                    f" | {r['seconds']:.3f} | {r['matvec_s']:.2e} | "
                    f"{r['seconds'] / r['matvec_s']:.0f} | {mv} | {r['iterations']} | "
                    f"{r['gap']:.1e} | {r['residual']:.1e} | {r['converged']} | "
                    f"{r['peak_bytes'] / 2**30:.2f} ({8 * n * n / 2**30:.2f}) | "
                    f"{r['validate_s']:.2f} |",
                    flush=True,
                )
            os.remove(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--taus", type=float, nargs="+", default=None)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per pygambit solve")
    ap.add_argument("--fp-seconds", type=float, default=10.0, help="budget of the fixed-point run")
    ap.add_argument("--scaling", action="store_true", help="the n = 10² … 10⁴ scaling curve")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return _scaling_child(args.child, args.taus[0])
    if args.scaling:
        return scaling(args.sizes or [100, 1000, 3000, 10000], args.taus or [1.0, 0.001])
    args.sizes = args.sizes or [10, 100, 1000]
    args.taus = args.taus or [1.0, 0.1, 0.01, 0.001]

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
