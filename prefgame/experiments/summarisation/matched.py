"""Exactly matched KL: τ (or the SFT temperature) found per method so that KL(π‖μ) hits a target.

The search reads only the policy's own log-probabilities on *training* prompts (``kl_train``
of seed 0); it never sees the gold judge or an evaluation prompt.  KL(π_τ‖μ) falls as τ grows,
roughly as a power of τ, so the search works on (log τ, log KL):

* a point within the tolerance (|KL / target − 1| ≤ ``kl_tolerance``) ends it;
* with points on both sides of the target, the next τ interpolates the two nearest linearly in
  (log τ, log KL), kept inside the inner 80 % of the bracket (regula falsi with a guard);
* with points on one side only, it steps outward from the extreme τ (the largest when every
  KL is too large) with the slope of the two extreme points (−1 when unknown or rising: noise),
  at most a factor ``MAX_STEP`` in τ per step.

Seed-0 runs are shared by both targets of a method (the search for 2 nats starts from every
point of the search for 1 nat); the chosen τ then gets ``matched_seeds`` seeds, and the search
is repeated with each τ's KL taken as the mean over its seeds, until no τ changes.  The control
is the SFT policy sharpened by a temperature T < 1 (no judge at all), matched the same way with
T in place of τ.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from prefgame.experiments.summarisation import data as D
from prefgame.experiments.summarisation import pipeline as P
from prefgame.experiments.summarisation.config import ExperimentConfig

__all__ = [
    "MAX_STEP",
    "match_all",
    "matched_runs",
    "next_value",
    "search_tau",
    "sharpened_sft",
    "within",
]

#: the largest factor by which one extrapolation step may change τ (or T)
MAX_STEP = 10.0
_FLOOR = 1e-3  # KL estimates below this (or negative: sampling noise) count as 1e-3 nat


def within(kl: float, target: float, tol: float) -> bool:
    """|KL / target − 1| ≤ tol."""
    return abs(kl / target - 1.0) <= tol


def _closest(points: dict[float, float], target: float) -> float:
    return min(points, key=lambda t: (abs(math.log(max(points[t], _FLOOR) / target)), -t))


def next_value(
    points: dict[float, float], target: float, *, tol: float, upper: float | None = None
) -> float | None:
    """The next τ to try given ``points`` {τ: KL}, or ``None`` when one is within ``tol``.

    KL is assumed to fall as τ grows.  ``upper`` caps τ (the SFT temperature cannot exceed 1).
    """
    if not points:
        raise ValueError("the search needs at least one measured point")
    if any(within(k, target, tol) for k in points.values()):
        return None
    v_star = math.log(target)
    pts = sorted((math.log(t), math.log(max(k, _FLOOR))) for t, k in points.items())
    above = [(u, v) for u, v in pts if v > v_star]  # KL too large: τ too small
    below = [(u, v) for u, v in pts if v < v_star]
    if above and below:
        (ua, va), (ub, vb) = max(above), min(below)
        if ua < ub and va != vb:
            u = ua + (v_star - va) * (ub - ua) / (vb - va)
            u = min(max(u, ua + 0.1 * (ub - ua)), ub - 0.1 * (ub - ua))
        else:  # noise broke monotonicity: split the difference
            u = 0.5 * (ua + ub)
        return math.exp(u)
    # one side known: step outward from its extreme τ (the largest when every KL is too
    # large), with the slope of the two extreme points when it falls, else −1
    near = pts[::-1][:2] if above else pts[:2]
    slope = -1.0
    if len(near) == 2 and near[0][0] != near[1][0]:
        s = (near[0][1] - near[1][1]) / (near[0][0] - near[1][0])
        if s < -0.1:
            slope = s
    u0, v0 = near[0]
    step = (v_star - v0) / slope
    step = max(-math.log(MAX_STEP), min(math.log(MAX_STEP), step))
    u = u0 + step
    if upper is not None and u >= math.log(upper):
        u = 0.5 * (u0 + math.log(upper))
    return math.exp(u)


def _kl(cfg: ExperimentConfig, work: Path, arm: str, method: str, tau: float) -> float:
    """KL(π_τ‖μ) on training prompts: the mean over the seeds run at τ (seed 0 is run here;
    seeds 1.. count once a previous pass ran them, so a matched τ is judged by its mean)."""
    kls = [P.align_run(cfg, work, arm, method, tau, 0)["kl_train"]]
    for s in range(1, cfg.matched_seeds):
        path = P.run_dir(work, arm, method, tau, s) / "run.json"
        if path.exists():
            kls.append(P.read_json(path)["kl_train"])
    return float(np.mean(kls))


def search_tau(cfg: ExperimentConfig, work: Path, arm: str, method: str) -> dict:
    """Per KL target: the τ whose KL on training prompts is within ``kl_tolerance``.

    Starts from the method's grid runs (seed 0), adds at most ``search_steps`` seed-0 runs per
    target and call.  A τ's KL is the mean over the seeds run at it (:func:`_kl`): after the
    seeds of a matched τ are run, a second call checks the target against their mean and
    searches on where the mean misses (``run_experiment`` repeats search → seeds until no τ
    changes).  Returns ``{str(target): {"tau", "kl_train", "matched", "search": [[τ, KL],
    ...]}}``; a target not reached keeps the closest τ with ``"matched": False``.
    """
    points: dict[float, float] = {}
    for t in cfg.tau_grid[method]:
        points[float(t)] = _kl(cfg, work, arm, method, float(t))
    # the τ tried by an earlier pass (saved in matched_tau.json): part of the search's state
    path = work / "matched_tau.json"
    earlier = P.read_json(path).get(arm, {}).get(method, {}) if path.exists() else {}
    for rec in earlier.values():
        for t, _ in rec["search"]:
            if float(t) not in points:
                points[float(t)] = _kl(cfg, work, arm, method, float(t))
    out = {}
    for target in cfg.kl_targets:
        for _ in range(cfg.search_steps):
            t = next_value(points, target, tol=cfg.kl_tolerance)
            if t is None:
                break
            t = float(f"{t:.4g}")  # a readable τ in the run's folder name
            if t in points:
                break
            points[t] = _kl(cfg, work, arm, method, t)
        best = _closest(points, target)
        out[str(float(target))] = {
            "tau": best,
            "kl_train": points[best],
            "matched": within(points[best], target, cfg.kl_tolerance),
            "search": sorted([t, k] for t, k in points.items()),
        }
        P.log(
            f"{arm:>15} {method:>11}: KL target {target:g} -> τ = {best:g} "
            f"(KL {points[best]:.3f}, {len(points)} seed-0 runs so far)"
        )
    return out


def match_all(cfg: ExperimentConfig, work: Path, *, passes: int = 3) -> dict:
    """Search τ for every matched arm and method, run the seeds of every matched τ, and
    repeat (each pass judges a τ by the mean KL of the seeds run at it so far: seed 0 alone in
    the first) until no τ changes or ``passes`` are done.  Saves ``matched_tau.json``; returns
    ``{arm: {method: search_tau(...)}}``."""
    jobs = [(cfg, work, arm, m) for arm in cfg.matched_arms for m in cfg.methods]
    searched: dict = {}
    for rnd in range(1, passes + 1):
        P.log(f"matched KL, pass {rnd}: τ search for {len(jobs)} (arm, method)")
        found = P.parallel_map(search_tau, jobs, cfg.jobs)
        new: dict = {}
        for (_, _, arm, m), rec in zip(jobs, found):
            new.setdefault(arm, {})[m] = rec
        P.save_json(work / "matched_tau.json", new)
        seeds = [
            j for j in matched_runs(cfg, new) if not (P.run_dir(work, *j) / "run.json").exists()
        ]
        if new == searched or not seeds:
            return new
        searched = new
        P.log(f"matched KL: {len(seeds)} runs of seeds 1..{cfg.matched_seeds - 1}")
        P.parallel_map(P.align_run, [(cfg, work, *j) for j in seeds], cfg.jobs)
    return searched


def matched_runs(cfg: ExperimentConfig, matched: dict) -> list[tuple]:
    """(arm, method, τ, seed) of the seeds 1..matched_seeds−1 at every matched τ."""
    jobs = []
    for arm, by_method in matched.items():
        for m, by_target in by_method.items():
            for rec in by_target.values():
                for s in range(1, cfg.matched_seeds):
                    job = (arm, m, float(rec["tau"]), s)
                    if job not in jobs:
                        jobs.append(job)
    return jobs


def sharpened_sft(cfg: ExperimentConfig, work: Path) -> dict:
    """The judge-free control: μ sampled at a temperature T < 1 matched to every KL target.

    T is searched like τ (KL(π_T‖μ) on ``n_kl_prompts`` training prompts falls as T grows,
    and is 0 at T = 1); the chosen T is sampled on the evaluation prompts with
    ``matched_seeds`` independent streams.  Saved in ``sharpened_sft.json``.
    """
    path = work / "sharpened_sft.json"
    if path.exists():
        return P.read_json(path)
    policy = P.load_pretrained_policy(P.checked_folder(work, "sft"), device=P.device(cfg))
    policy.model.eval()
    xs_kl = D.prompts(cfg, "align")[: cfg.n_kl_prompts]
    xs_eval = D.prompts(cfg, "eval")

    def kl_at(temp: float) -> float:
        _, r = P.sample_policy(
            cfg, policy, policy, xs_kl, seed=P.stream_seed("sharpen-kl", temp), temperature=temp
        )
        return float(r.mean())

    points: dict[float, float] = {0.5: kl_at(0.5)}
    out: dict = {}
    for target in cfg.kl_targets:
        for _ in range(2 * cfg.search_steps):
            t = next_value(points, target, tol=cfg.kl_tolerance, upper=1.0)
            if t is None:
                break
            t = float(f"{t:.4g}")
            if t in points:
                break
            points[t] = kl_at(t)
        best = _closest(points, target)
        texts, kl_eval = [], []
        for s in range(cfg.matched_seeds):
            ys, r = P.sample_policy(
                cfg,
                policy,
                policy,
                xs_eval,
                seed=P.stream_seed("sharpen-eval", best, s),
                temperature=best,
            )
            texts.append(ys)
            kl_eval.append(float(r.mean()))
        out[str(float(target))] = {
            "temperature": best,
            "kl_train": points[best],
            "matched": within(points[best], target, cfg.kl_tolerance),
            "search": sorted([t, k] for t, k in points.items()),
            "kl_eval": kl_eval,
            "texts": texts,
        }
        P.log(f"sharpened SFT: KL target {target:g} -> T = {best:g} (KL {points[best]:.3f})")
    P.save_json(path, out)
    return out


def seed_kls(cfg: ExperimentConfig, work: Path, arm: str, method: str, tau: float) -> np.ndarray:
    """[seeds, 2]: (KL on training prompts, KL on evaluation prompts) of every matched seed."""
    recs = [
        P.read_json(P.run_dir(work, arm, method, tau, s) / "run.json")
        for s in range(cfg.matched_seeds)
    ]
    return np.array([[r["kl_train"], r["kl_eval"]] for r in recs])
