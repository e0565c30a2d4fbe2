"""Command line of the experiment (``python llm/reproduce.py``), with the project's error
contract: exit 0 on success, 2 with one line on stderr for a bad config, option or output
location (checked before any model is built); ``--debug`` shows tracebacks."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[3]
STEPS = ("all", "sft", "pairs", "pm", "rm")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python llm/reproduce.py",
        description="The summarisation experiment of Calandriello et al. (2024), Table 2, on "
        "FactSum: SFT, PM/RM, six methods in three arms (learned, oracle, oracle "
        "without the cycle), τ frontiers, paired-bootstrap CIs.",
    )
    ap.add_argument(
        "--config",
        default=None,
        help="JSON config (default llm/configs/factsum_full.json; --quick: factsum_quick.json)",
    )
    ap.add_argument("--quick", action="store_true", help="tiny settings for the tests (minutes)")
    ap.add_argument("--out", default=None, help="results folder (default llm/results[/quick])")
    ap.add_argument("--work", default=None, help="models and runs (default runs/<name>)")
    ap.add_argument("--seeds", type=int, default=None, help="override the config's seeds")
    ap.add_argument("--jobs", type=int, default=None, help="parallel processes (config: 2)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument(
        "--step",
        choices=STEPS,
        default="all",
        help="run one step only (its inputs are made if missing)",
    )
    ap.add_argument(
        "--force",
        action="store_true",
        help="move an existing work folder aside (to <work>.replaced-<time>) and rebuild",
    )
    ap.add_argument("--debug", action="store_true", help="show tracebacks (or PREFGAME_DEBUG=1)")
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = _parser()
    args = ap.parse_args(argv)  # argparse itself exits 2 with one usage line on bad options
    args.debug = args.debug or os.environ.get("PREFGAME_DEBUG", "") not in ("", "0")
    try:
        for name in ("seeds", "jobs", "threads"):
            v = getattr(args, name)
            if v is not None and v < 1:
                raise ValueError(f"--{name} = {v}, must be >= 1")
        cpus = os.cpu_count() or 1
        if args.threads > 4 * cpus:
            raise ValueError(f"--threads = {args.threads}: this machine has {cpus} CPU(s)")
        from prefgame.experiments.summarisation import config as C
        from prefgame.experiments.summarisation.run import check_locations

        path = args.config or ROOT / "llm" / "configs" / (
            "factsum_quick.json" if args.quick else "factsum_full.json"
        )
        cfg = C.load(path, seeds=args.seeds, jobs=args.jobs)
        out = (
            Path(args.out)
            if args.out
            else ROOT / "llm" / "results" / ("quick" if args.quick else "")
        )
        work = Path(args.work) if args.work else ROOT / "runs" / cfg.name
        check_locations(work, out)
        if cfg.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise ValueError("device = 'cuda' but no GPU is available; use 'cpu' or 'auto'")
        if args.force and work.is_dir() and any(work.iterdir()):
            import time

            aside = work.with_name(
                f"{work.name}.replaced-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
            )
            work.rename(aside)
            print(f"--force: the work folder was moved to {str(aside)!r}", file=sys.stderr)
    except ValueError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    from prefgame.experiments.summarisation import pipeline as P
    from prefgame.experiments.summarisation.run import run_experiment

    command = "python llm/reproduce.py " + " ".join(shlex.quote(a) for a in argv)
    try:
        if args.step == "all":
            run_experiment(cfg, work, out, command=command.strip())
        else:
            work.mkdir(parents=True, exist_ok=True)
            P.run_sft(cfg, work)  # each step makes its missing inputs first
            if args.step != "sft":
                P.make_pairs(cfg, work)
            if args.step in ("pm", "rm"):
                P.train_scorer(cfg, work, args.step)
    except ValueError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: finished steps are kept in the work folder; rerun to continue",
            file=sys.stderr,
        )
        return 130
    return 0
