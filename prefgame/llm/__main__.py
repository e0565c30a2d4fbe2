"""Command line: one online run from a config file and/or ``--field value`` overrides.

    python -m prefgame.llm --config run.yaml
    python -m prefgame.llm --method ipo_md --beta 0.125 --policy_name t5-large \\
        --prompts trl-lib/tldr --judge_kind pairwise --judge_name path/to/pm --max_steps 30000

Every field of :class:`~prefgame.llm.config.OnlineConfig` is accepted, plus the data and judge
fields of :class:`RunConfig`.  Checks run in this order, so a bad input fails before any model
is loaded: the config (types, ranges, unknown method), the prompt data (missing column), the
tokenizer (pad token), then the weights.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from prefgame.llm.config import OnlineConfig, _f

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
    judge_max_length: int = _f(512, "tokens the judge reads; completions are kept whole and "
                                    "longer prompts are cut from the left")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.prompts:
            raise ValueError("prompts is empty: give a prompt file or dataset name")
        if not self.judge_name:
            raise ValueError("judge_name is empty: give a reward or preference model")
        if self.judge_kind not in ("reward", "pairwise"):
            raise ValueError(f"judge_kind = {self.judge_kind!r}; choose 'reward' or 'pairwise'")
        if self.judge_kind == "pairwise" and self.method == "rl":
            raise ValueError("method 'rl' needs judge_kind = 'reward'")
        if not self.policy_name:
            raise ValueError("policy_name is empty: give the policy's name or path")
        if not (isinstance(self.judge_max_length, int) and self.judge_max_length > 0):
            raise ValueError(f"judge_max_length = {self.judge_max_length!r}, must be an "
                             "integer > 0")


def main(argv=None) -> int:
    """Parse, validate, load data, then models, and train; returns the exit status."""
    from prefgame.llm.data import load_prompts
    from prefgame.llm.judges import PairwisePreferenceModel, RewardModel
    from prefgame.llm.policy import policy_from_config
    from prefgame.llm.trainer import OnlineTrainer

    cfg = RunConfig.from_args(sys.argv[1:] if argv is None else argv)
    prompts = load_prompts(cfg.prompts, column=cfg.prompt_column, split=cfg.prompt_split,
                           limit=cfg.prompt_limit or None,
                           template=cfg.prompt_template or None)
    import os

    import torch

    # one process per GPU (torchrun / accelerate launch): each loads onto its own device
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if torch.cuda.is_available() \
        else None
    policy, ref = policy_from_config(cfg, device=device)
    judge_cls = RewardModel if cfg.judge_kind == "reward" else PairwisePreferenceModel
    judge = judge_cls.from_pretrained(cfg.judge_name, max_length=cfg.judge_max_length)
    judge.model.to(policy.device).eval()
    OnlineTrainer(cfg, policy, judge, prompts, ref=ref).train()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ValueError as err:  # a bad input: one clear line, exit status 2
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
