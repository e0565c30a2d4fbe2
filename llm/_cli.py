"""Argument parsing shared by the step scripts (sft.py, train_pm.py, ...)."""

from __future__ import annotations

import argparse
from pathlib import Path

import common as C

HERE = Path(__file__).resolve().parent


def parse(description: str, extra=None) -> tuple[argparse.Namespace, C.PipelineConfig, Path]:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--config", default=str(HERE / "configs" / "factsum_full.json"),
                    help="JSON config under llm/configs/")
    ap.add_argument("--work", default=None, help="work folder (default runs/<config name>)")
    if extra:
        extra(ap)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    cfg = C.PipelineConfig.load(args.config)
    work = Path(args.work) if args.work else HERE.parent / "runs" / cfg.name
    work.mkdir(parents=True, exist_ok=True)
    return args, cfg, work
