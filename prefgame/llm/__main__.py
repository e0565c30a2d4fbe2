"""Command line: one online run from a config file and/or ``--field value`` overrides.

    python -m prefgame.llm --config run.yaml
    python -m prefgame.llm --method ipo_md --beta 0.125 --policy_name t5-large \\
        --prompts trl-lib/tldr --judge_kind pairwise --judge_name path/to/pm --max_steps 30000
    python -m prefgame.llm --plugin my_methods.py --method my_loss --config run.yaml

Every field of :class:`~prefgame.llm.config.OnlineConfig` is accepted, plus the data and judge
fields of :class:`RunConfig`.  Checks run in this order, so a bad input fails before any model
is loaded: the config (types, ranges, unknown method), the prompt data (missing column), the
tokenizer (pad token), then the weights.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prefgame.files import atomic_write
from prefgame.llm.config import OnlineConfig, _f  # no torch: --help works without the extra
from prefgame.llm.methods import METHODS

#: the packages of the `llm` extra (pyproject.toml)
_LLM_EXTRA = {"torch", "transformers", "accelerate", "datasets", "safetensors", "peft"}


def _missing_extra(exc: ModuleNotFoundError) -> None:
    """Without the `llm` extra: exit with one line that names it, no traceback."""
    if (exc.name or "").split(".")[0] not in _LLM_EXTRA:
        raise exc
    sys.exit(
        f"python -m prefgame.llm: {exc.name} is not installed; it comes with the `llm` extra: "
        "pip install -e '.[llm]'"
    )


__all__ = ["RunConfig", "main"]


@dataclass
class RunConfig(OnlineConfig):
    """:class:`OnlineConfig` plus where the prompts and the judge come from."""

    prompts: str = _f("", "prompt data: a .json/.jsonl/.csv/.parquet/.txt file or a hub name")
    prompt_column: str = _f("prompt", "column holding the prompts")
    prompt_template: str = _f("", "optional format string with {prompt}, e.g. '{prompt}\\nTL;DR:'")
    prompt_split: str = _f("train", "dataset split of a hub dataset")
    prompt_limit: int = _f(0, "use only the first N prompts (0 = all)")
    judge_kind: str = _f("reward", "'reward' (Bradley–Terry RM) or 'pairwise' (PM)")
    judge_name: str = _f("", "Hugging Face name or path of the judge's sequence classifier")
    judge_max_length: int = _f(
        512,
        "tokens the judge reads; completions are kept whole and "
        "longer prompts are cut from the left",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.prompts:
            raise ValueError("prompts is empty: give a prompt file or dataset name")
        if not self.judge_name:
            raise ValueError("judge_name is empty: give a reward or preference model")
        if self.judge_kind not in ("reward", "pairwise"):
            raise ValueError(f"judge_kind = {self.judge_kind!r}; choose 'reward' or 'pairwise'")
        if self.judge_kind == "pairwise" and METHODS[self.method].feedback == "reward":
            raise ValueError(f"method {self.method!r} needs judge_kind = 'reward'")
        if not self.policy_name:
            raise ValueError("policy_name is empty: give the policy's name or path")
        if not (isinstance(self.judge_max_length, int) and self.judge_max_length > 0):
            raise ValueError(
                f"judge_max_length = {self.judge_max_length!r}, must be an integer > 0"
            )
        # the judge keeps completions whole: a pairwise judge reads two, a reward model one
        need = (2 if self.judge_kind == "pairwise" else 1) * self.max_new_tokens + 1
        if self.judge_max_length < need:
            raise ValueError(
                f"judge_max_length = {self.judge_max_length} cannot hold "
                f"{'two completions' if self.judge_kind == 'pairwise' else 'a completion'} of "
                f"max_new_tokens = {self.max_new_tokens} (needs >= {need})"
            )
        if self.prompt_template:
            import string

            try:
                keys = {
                    k
                    for _, k, _, _ in string.Formatter().parse(self.prompt_template)
                    if k is not None
                }
            except ValueError as exc:
                raise ValueError(f"prompt_template = {self.prompt_template!r}: {exc}") from None
            if keys - {"prompt"}:
                raise ValueError(
                    f"prompt_template = {self.prompt_template!r} has unknown field(s) "
                    f"{sorted(keys - {'prompt'})}; only {{prompt}} is filled"
                )


def check_output_dir(cfg: RunConfig) -> Path:
    """``output_dir`` must be a folder we can write; a non-empty one only with ``resume_from`` or
    ``overwrite`` (otherwise two runs' logs and checkpoints would mix)."""
    out = Path(cfg.output_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output_dir = {cfg.output_dir!r} is a file, expected a folder")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"output_dir = {cfg.output_dir!r}: {str(probe)!r} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"output_dir = {cfg.output_dir!r}: {str(probe)!r} is not writable")
    if out.is_dir() and any(out.iterdir()) and not (cfg.resume_from or cfg.overwrite):
        raise ValueError(
            f"output_dir = {cfg.output_dir!r} is not empty; give resume_from "
            "(e.g. 'latest') to continue that run, overwrite: true to reuse it, "
            "or another output_dir"
        )
    return out


def check_source(name: str, field: str) -> None:
    """A hub name (not a local path) fails fast, before any download is tried, when it is not
    in the local cache and HF_HUB_OFFLINE is set or huggingface.co cannot be reached."""
    if Path(name).exists():
        return
    if name.startswith(("/", "./", "../", "~")) or name.count("/") > 1:
        raise ValueError(f"{field} = {name!r}: no such file or folder")
    try:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(name, "config.json"), str):
            return
    except Exception:  # noqa: BLE001, S110 -- an invalid repo id: let the reachability test decide
        pass
    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        raise ValueError(
            f"{field} = {name!r} is not a local path nor in the hub cache, and "
            "HF_HUB_OFFLINE is set"
        )
    import socket

    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
    except OSError:
        raise ValueError(
            f"{field} = {name!r} is not a local path nor in the hub cache, and "
            "huggingface.co cannot be reached (no network)"
        ) from None


def _architectures(name: str) -> list[str]:
    """The model classes a saved config names (``config.json``'s ``architectures``)."""
    from transformers import AutoConfig

    return getattr(AutoConfig.from_pretrained(name), "architectures", None) or []


def check_is_a_language_model(name: str, field: str) -> None:
    """A policy or reference μ must be a language model: a sequence classifier (a reward or
    preference model) would load as a causal LM with its score head dropped and a random
    LM head."""
    arch = _architectures(name)
    if arch and any(a.endswith("ForSequenceClassification") for a in arch):
        raise ValueError(
            f"{field} = {name!r} is a {arch[0]} (a reward or preference model), not a "
            "language model; its LM head would be random"
        )


def check_device(cfg: RunConfig) -> None:
    """float16 weights need a GPU (CPU kernels for half precision are missing or very slow)."""
    import torch

    if cfg.dtype == "float16" and not torch.cuda.is_available():
        raise ValueError("dtype = 'float16' needs a GPU; on a CPU use float32 or bfloat16")


def check_resume(cfg: RunConfig) -> None:
    """``resume_from`` must name a checkpoint (or 'latest' with one in ``output_dir``), and the
    run being resumed must be this run: :func:`~prefgame.llm.checkpoints.check_resume_config`."""
    if not cfg.resume_from:
        return
    from prefgame.llm.checkpoints import check_resume_config, resolve_checkpoint

    path = resolve_checkpoint(cfg.resume_from, cfg.output_dir)
    check_resume_config(path, cfg)


def check_judge_is_a_classifier(name: str) -> None:
    """The judge must be a sequence classifier: a causal LM would get a randomly initialised
    score head (only a transformers warning says so) and training would chase noise."""
    arch = _architectures(name)
    if arch and not any(a.endswith("ForSequenceClassification") for a in arch):
        raise ValueError(
            f"judge_name = {name!r} is a {arch[0]}, not a sequence classifier "
            "(…ForSequenceClassification); its score head would be random"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, validate, load data, then models, and train; returns the exit status."""
    from prefgame.llm.methods import pop_plugins

    # --plugin FILE_OR_MODULE (repeatable): the user's methods are registered before the config
    # is validated, so --method may name them; --help needs no torch
    cfg = RunConfig.from_args(pop_plugins(list(sys.argv[1:] if argv is None else argv)))
    try:
        from prefgame.llm.data import load_prompts
        from prefgame.llm.judges import PairwisePreferenceModel, RewardModel
        from prefgame.llm.policy import policy_from_config
        from prefgame.llm.trainer import OnlineTrainer
    except ModuleNotFoundError as exc:
        _missing_extra(exc)
    out = check_output_dir(cfg)
    if not Path(cfg.prompts).exists() and not Path(cfg.prompts).suffix:  # a hub dataset name
        check_source(cfg.prompts, "prompts")
    src = Path(cfg.prompts)
    if src.is_file() and not src.read_bytes().strip():
        raise ValueError(f"prompts = {cfg.prompts!r} is an empty file")
    try:
        prompts = load_prompts(
            cfg.prompts,
            column=cfg.prompt_column,
            split=cfg.prompt_split,
            limit=cfg.prompt_limit or None,
            template=cfg.prompt_template or None,
        )
    except (ValueError, KeyError):
        raise
    except Exception as exc:  # noqa: BLE001 -- datasets/pyarrow raise many types on a bad file
        raise ValueError(
            f"prompts = {cfg.prompts!r} cannot be read "
            f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
        ) from None
    if not prompts:
        raise ValueError(f"prompts = {cfg.prompts!r} holds no prompts")
    check_source(cfg.policy_name, "policy_name")
    check_source(cfg.judge_name, "judge_name")
    check_judge_is_a_classifier(cfg.judge_name)
    check_is_a_language_model(cfg.policy_name, "policy_name")
    if cfg.ref_name:
        check_source(cfg.ref_name, "ref_name")
        check_is_a_language_model(cfg.ref_name, "ref_name")
    check_device(cfg)
    check_resume(cfg)
    if cfg.overwrite and not cfg.resume_from:
        from prefgame.llm.checkpoints import move_previous_run

        moved = move_previous_run(out)
        if moved is not None:
            print(
                f"overwrite: the earlier run in {str(out)!r} was moved to {str(moved)!r}",
                file=sys.stderr,
            )

    import torch

    # one process per GPU (torchrun / accelerate launch): each loads onto its own device
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if torch.cuda.is_available() else None
    policy, ref = policy_from_config(cfg, device=device)
    judge_cls = RewardModel if cfg.judge_kind == "reward" else PairwisePreferenceModel
    judge = judge_cls.from_pretrained(cfg.judge_name, max_length=cfg.judge_max_length)
    judge.model.to(policy.device).eval()
    out.mkdir(parents=True, exist_ok=True)  # the resolved config, beside the logs
    atomic_write(out / "config.json", json.dumps(dataclasses.asdict(cfg), indent=1))
    OnlineTrainer(cfg, policy, judge, prompts, ref=ref).train()
    return 0


def cli() -> int:
    """:func:`main` under the error contract: a bad input (or an unusable output_dir, or a file
    that cannot be read) is one line on stderr and exit 2; Ctrl-C is one line and exit 130 (the
    last checkpoint stays: ``--resume_from latest`` continues); ``--debug`` or
    ``PREFGAME_DEBUG=1`` shows the traceback."""
    argv = sys.argv[1:]
    debug = "--debug" in argv or os.environ.get("PREFGAME_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    try:
        return main(argv)
    except KeyboardInterrupt:
        if debug:
            raise
        print(
            "interrupted: the last checkpoint in output_dir is kept; continue with "
            "--resume_from latest",
            file=sys.stderr,
        )
        return 130
    except (ValueError, OSError, KeyError) as err:  # a bad input: one clear line, exit status 2
        if debug:
            raise
        msg = " ".join(str(err).split()) or type(err).__name__
        if isinstance(err, KeyError):
            msg = f"missing key {msg} (a prompt template field or data column?)"
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(cli())
