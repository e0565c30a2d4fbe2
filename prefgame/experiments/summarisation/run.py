"""Run the whole experiment: every step in order, finished steps reused.

from prefgame.experiments.summarisation import load, run_experiment
run_experiment(load("llm/configs/factsum_full.json"), work=Path("runs/factsum"),
               out=Path("llm/results"))
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from prefgame.experiments.summarisation import matched as MK
from prefgame.experiments.summarisation import pipeline as P
from prefgame.experiments.summarisation import report as R
from prefgame.experiments.summarisation import results
from prefgame.experiments.summarisation.config import ExperimentConfig

__all__ = ["check_locations", "run_experiment"]


def check_locations(work: Path, out: Path) -> None:
    """Refuse unusable output locations before any work (``prefgame.cli.check_output_dir``: a
    file, a folder under a file, a folder that cannot be written), as a ``ValueError``."""
    from prefgame.cli import UserError, check_output_dir

    for name, p in (("work folder", work), ("results folder", out)):
        try:
            check_output_dir(p, option=name)
        except UserError as e:
            raise ValueError(str(e)) from None


def _check_same_config(cfg: ExperimentConfig, work: Path) -> None:
    """A work folder belongs to one config: reusing its steps under another would mix runs.

    Fields that change no finished step may differ: ``jobs``, ``device``, ``bootstrap``, and
    ``search_steps`` (a larger budget continues each τ search from its cached seed-0 runs; the
    search is deterministic given them).  The folder's ``config.json`` is then updated."""
    path = work / "config.json"
    free = ("jobs", "device", "bootstrap", "search_steps")
    if path.exists():
        old = json.loads(path.read_text())
        diff = sorted(
            k
            for k in set(old) | set(cfg.to_dict())
            if old.get(k) != cfg.to_dict().get(k) and k not in free
        )
        if diff:
            raise ValueError(
                f"work folder {str(work)!r} holds a run with another config "
                f"(fields {diff} differ); use another --work or delete it"
            )
    P.save_json(path, cfg.to_dict())


def _git_commit() -> str | None:
    """The commit of the code that produced the results (None outside a git checkout)."""
    import subprocess

    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                cwd=Path(__file__).parent,
                timeout=10,
                check=False,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        return None


def run_experiment(
    cfg: ExperimentConfig, work: Path, out: Path, *, command: str = "run_experiment"
) -> dict:
    """SFT → pairs → PM, RM → grid runs → matched-KL τ search and seeds, sharpened SFT →
    rule τ → headline seeds → summary and report."""
    t0 = time.time()
    commit = _git_commit()  # the code that runs the steps below
    check_locations(work, out)
    work.mkdir(parents=True, exist_ok=True)
    _check_same_config(cfg, work)
    P.run_sft(cfg, work)
    P.make_pairs(cfg, work)
    scorer_jobs = [(cfg, work, k) for k in ("pm", "rm") if "learned" in cfg.arms]
    P.parallel_map(P.train_scorer, scorer_jobs, cfg.jobs)
    for arm in cfg.arms:
        if arm != "learned":
            P.fit_oracle_reward(cfg, work, cycle=arm == "oracle")
    P.sft_samples(cfg, work)
    grid = P.planned_runs(cfg)
    P.log(f"alignment: {len(grid)} frontier runs")
    P.parallel_map(P.align_run, [(cfg, work, *j) for j in grid], cfg.jobs)
    searched: dict = {}
    sharpened = None
    if cfg.matched_arms:
        searched = MK.match_all(cfg, work)
        sharpened = MK.sharpened_sft(cfg, work)
    rule = P.rule_tau(cfg, work, searched)
    P.save_json(work / "rule_tau.json", rule)
    extra = [j for j in P.planned_runs(cfg, rule) if j not in grid]
    P.log(f"alignment: {len(extra)} headline-seed runs; rule τ = {rule}")
    P.parallel_map(P.align_run, [(cfg, work, *j) for j in extra], cfg.jobs)
    P.log("evaluating")
    summary = results.summarise(cfg, work, rule, searched, sharpened)
    elapsed = time.time() - t0
    summary["provenance"] = {
        "command": command,
        "minutes": round(elapsed / 60, 2),
        "git_commit": commit,
        "config": cfg.to_dict(),
    }
    R.write_results(out, cfg, summary, command, elapsed)
    P.log(f"done in {elapsed / 60:.1f} min; results in {out}")
    return summary
