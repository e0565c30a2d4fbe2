"""Reproduce the structure of Calandriello et al. (2024) Table 2 on the offline FactSum task.

One command runs the whole pipeline -- SFT, pairwise PM and Bradley–Terry RM on gold-labelled
pairs, six online alignment methods × seeds, side-by-side evaluation by the gold judge -- and
writes the results folder (winrates.json, RESULTS.md with the matrix next to Table 2, kl.json,
curves.png, details.json):

    python llm/reproduce.py                 # full CPU run (llm/configs/factsum_full.json)
    python llm/reproduce.py --quick         # tiny end-to-end run for the tests (minutes)
    python llm/reproduce.py --config llm/configs/tldr_pythia.json   # TL;DR, GPU + internet

Every step is also its own script (sft.py, train_pm.py, train_rm.py, align.py, evaluate.py)
sharing the same config and work folder; finished steps found in the work folder are reused.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common as C
import report


def _init_worker() -> None:
    torch.set_num_threads(1)


def parallel_map(fn, jobs: list[tuple], processes: int) -> list:
    """``[fn(*j) for j in jobs]``, in ``processes`` worker processes when > 1 (one torch
    thread each: the models are tiny, so processes scale better than threads)."""
    if processes <= 1:
        return [fn(*j) for j in jobs]
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(processes, initializer=_init_worker) as pool:
        return pool.starmap(fn, jobs, chunksize=1)


def run_pipeline(cfg: C.PipelineConfig, work: Path, out: Path, command: str) -> dict:
    t0 = time.time()
    work.mkdir(parents=True, exist_ok=True)
    C.save_json(work / "config.json", asdict(cfg))
    if not (work / "sft" / "config.json").exists():
        C.run_sft(cfg, work)
    infos = {}
    for kind in ("pm", "rm"):
        info_path = work / f"{kind}_info.json"
        infos[kind] = (json.loads(info_path.read_text()) if info_path.exists()
                       else C.train_scorer(cfg, work, kind))
    # seed-major order: a run cut short still has whole seeds
    jobs = [(cfg, work, m, s) for s in range(cfg.align_seeds) for m in cfg.methods]
    recs = parallel_map(C.run_align, jobs, cfg.jobs)
    logs = {m: [r["log"] for r in recs if r["method"] == m] for m in cfg.methods}
    C.log("evaluating")
    evaluation = C.evaluate(cfg, work)
    elapsed = time.time() - t0
    report.write_results(out, evaluation, asdict(cfg), infos, logs, command, elapsed)
    C.log(f"done in {elapsed / 60:.1f} min; results in {out}")
    return evaluation


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=None, help="JSON config (default: factsum_full.json)")
    ap.add_argument("--quick", action="store_true", help="tiny settings (factsum_quick.json)")
    ap.add_argument("--out", default=None, help="results folder (default llm/results[/quick])")
    ap.add_argument("--work", default=None, help="models and logs (default runs/<name>)")
    ap.add_argument("--seeds", type=int, default=None, help="override align_seeds")
    ap.add_argument("--jobs", type=int, default=None, help="parallel alignment runs (config: 2)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: the models are tiny, and extra threads only "
                         "spin on a shared machine)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg_path = args.config or HERE / "configs" / (
        "factsum_quick.json" if args.quick else "factsum_full.json")
    cfg = C.PipelineConfig.load(cfg_path, align_seeds=args.seeds, jobs=args.jobs)
    out = Path(args.out) if args.out else HERE / "results" / ("quick" if args.quick else "")
    work = Path(args.work) if args.work else HERE.parent / "runs" / cfg.name
    command = "python llm/reproduce.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    run_pipeline(cfg, work, out, command.strip())


if __name__ == "__main__":
    main()
