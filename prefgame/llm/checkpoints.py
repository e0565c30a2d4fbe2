"""Checkpoints of an online run: finding, checking and loading them, and keeping earlier runs.

The :class:`~prefgame.llm.trainer.OnlineTrainer` writes ``output_dir/checkpoint-<step>/`` with
``accelerator.save_state`` (weights, optimiser, scheduler, RNG states, data position) plus the
run's ``config.json``.  This module reads them without the trainer:

* :func:`latest_checkpoint`, :func:`resolve_checkpoint` -- which checkpoint ``resume_from``
  names;
* :func:`check_resume_config` -- a resumed run must be the run that wrote the checkpoint (every
  field outside :data:`RESUME_MAY_DIFFER` equal);
* :func:`load_policy_checkpoint` -- a policy with a checkpoint's weights (for evaluation);
* :func:`move_previous_run` -- ``overwrite``: an earlier run is moved aside, never deleted.

accelerate's own ``ProjectConfiguration(automatic_checkpoint_naming=True, total_limit=N)`` is not
used: it numbers checkpoints by save count, not by optimiser step, and rotates by that count
across runs, so it would keep a previous run's checkpoints over the current run's just as the
hand-written rotation once did.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefgame.llm.config import OnlineConfig
    from prefgame.llm.policy import Policy

__all__ = [
    "RESUME_MAY_DIFFER",
    "check_resume_config",
    "checkpoint_step",
    "holds_a_run",
    "latest_checkpoint",
    "load_policy_checkpoint",
    "move_previous_run",
    "resolve_checkpoint",
]


#: Config fields a resumed run may change: they do not change what the steps compute.
RESUME_MAY_DIFFER = frozenset(
    {
        "max_steps",
        "save_every",
        "keep_checkpoints",
        "output_dir",
        "resume_from",
        "progress_bar",
        "log_tensorboard",
        "overwrite",
    }
)


def resolve_checkpoint(spec: str | Path, output_dir: str | Path) -> Path:
    """The checkpoint ``spec`` names: ``"latest"`` (the highest step in ``output_dir``) or a
    path; ``ValueError`` when there is none."""
    path = latest_checkpoint(output_dir) if str(spec) == "latest" else Path(spec)
    if path is None or not _is_checkpoint(Path(path)):
        where = f" in output_dir {str(output_dir)!r}" if str(spec) == "latest" else ""
        raise ValueError(f"resume_from = {str(spec)!r}: no checkpoint to resume from{where}")
    return Path(path)


def check_resume_config(checkpoint: str | Path, config: OnlineConfig) -> None:
    """The run saved in ``checkpoint`` must be the run ``config`` describes: every field
    outside :data:`RESUME_MAY_DIFFER` (method, τ, β, lr, batch sizes, seed, models, ...)
    must be equal, else two runs would be mixed.  ``ValueError`` names the first fields."""
    path = Path(checkpoint) / "config.json"
    try:
        saved = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"resume_from: cannot read {str(path)!r} ({exc})") from None
    if not isinstance(saved, dict):
        raise ValueError(f"resume_from: {str(path)!r} does not hold a config")  # noqa: TRY004
    now = config.to_dict()
    diff = [
        k
        for k in sorted(set(saved) & set(now))
        if k not in RESUME_MAY_DIFFER and saved[k] != now[k]
    ]
    if diff:
        shown = ", ".join(f"{k} = {saved[k]!r} there, {now[k]!r} now" for k in diff[:3])
        raise ValueError(
            f"resume_from {str(checkpoint)!r} was written by a different run ({shown}); "
            f"only {sorted(RESUME_MAY_DIFFER)} may change on resume"
        )


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The checkpoint directory with the highest step in ``output_dir`` (None if none)."""
    ckpts = sorted(
        (p for p in Path(output_dir).glob("checkpoint-*") if checkpoint_step(p) >= 0),
        key=checkpoint_step,
    )
    return ckpts[-1] if ckpts else None


def load_policy_checkpoint(template: Policy, checkpoint_dir: str | Path) -> Policy:
    """A copy of ``template`` with the weights of a trainer checkpoint
    (``checkpoint_dir/model.safetensors``, written by :meth:`OnlineTrainer.save_checkpoint`)."""
    import copy

    from safetensors.torch import load_file

    from prefgame.llm.policy import Policy

    path = Path(checkpoint_dir) / "model.safetensors"
    if not path.is_file():
        raise ValueError(f"no model.safetensors in checkpoint {str(checkpoint_dir)!r}")
    model = copy.deepcopy(template.base_model)
    state = {
        k.removeprefix("module."): v
        for k, v in load_file(str(path), device=str(template.device)).items()
    }
    missing, unexpected = model.load_state_dict(state, strict=False)
    loaded = {
        model.get_parameter(k).data_ptr() for k in state if k in dict(model.named_parameters())
    }
    untied = [
        k
        for k in missing
        if k in dict(model.named_parameters()) and model.get_parameter(k).data_ptr() not in loaded
    ]
    if unexpected or untied:
        raise ValueError(
            f"checkpoint {str(checkpoint_dir)!r} does not fit the template model: "
            f"missing {untied[:5]}, unexpected {list(unexpected)[:5]}"
        )
    model.eval()
    return Policy(model, template.tokenizer)


def move_previous_run(out: str | Path) -> Path | None:
    """``overwrite``: the earlier run in ``out`` is moved, whole, into ``out/replaced-<UTC
    time>/`` (nothing is deleted; the folder's top level then describes the new run alone).
    Returns the new location, or None when ``out`` holds nothing."""
    out = Path(out)
    if not out.is_dir() or not any(p for p in out.iterdir() if not p.name.startswith("replaced-")):
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest = out / f"replaced-{stamp}"
    k = 1
    while dest.exists():
        k += 1
        dest = out / f"replaced-{stamp}-{k}"
    dest.mkdir()
    for entry in list(out.iterdir()):
        if entry != dest and not entry.name.startswith("replaced-"):
            os.replace(entry, dest / entry.name)
    return dest


def holds_a_run(out: str | Path) -> bool:
    """Whether ``out`` holds an online run's log or checkpoints."""
    out = Path(out)
    return (out / "log.jsonl").exists() or any(out.glob("checkpoint-*"))


def checkpoint_step(path: Path) -> int:
    """The step of a ``checkpoint-<step>`` folder (−1 for another name)."""
    tail = path.name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def _is_checkpoint(path: Path) -> bool:
    return (path / "config.json").is_file() and any(path.glob("custom_checkpoint_*.pkl"))
