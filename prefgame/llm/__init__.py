"""LLM backend: Hugging Face transformer policies trained online with :mod:`prefgame.losses`.

Every method of Calandriello et al. (2024, arXiv:2403.08635) -- online IPO, IPO-MD(β), online
DPO, online SLiC, Nash-MD-PG(β) and KL-regularised RL -- runs through ONE trainer; a method is
one object of :data:`~prefgame.llm.methods.METHODS`, a sampler plus a loss from
:mod:`prefgame.losses` (no formula is re-implemented here).

The public API is the union of the submodules' ``__all__`` (every name importable from
``prefgame.llm``; ``tests/llm/test_api.py`` checks that each is documented and runs the example
below through it):

* :mod:`~prefgame.llm.config` -- ``OnlineConfig``, the typed, validated run configuration
  (file + ``--field value`` command line parsed by argparse, no torch imported);
* :mod:`~prefgame.llm.methods` -- the method registry (samplers and losses);
* :mod:`~prefgame.llm.tokenizers` -- local tokenizers and tiny models (no downloads);
* :mod:`~prefgame.llm.policy` -- ``Policy``, ``SequenceBatch``, log-probabilities, loading;
* :mod:`~prefgame.llm.sampling` -- sampling from π, μ and the token-level mixture;
* :mod:`~prefgame.llm.judges` -- preference models, reward models, judges;
* :mod:`~prefgame.llm.trainer` -- ``OnlineTrainer``;
* :mod:`~prefgame.llm.checkpoints` -- finding, checking and loading checkpoints;
* :mod:`~prefgame.llm.evaluate` -- the win-rate matrix between methods over seeds;
* :mod:`~prefgame.llm.data` -- prompt and preference-pair loading;
* :mod:`~prefgame.llm.sft` -- supervised fine-tuning of the reference policy.

Command line: ``python -m prefgame.llm --config run.yaml [--field value ...]``
(:mod:`prefgame.llm.__main__`; ``--help`` lists every field).

Minimal run (CPU, offline)::

    from prefgame.llm import CallableJudge, OnlineConfig, OnlineTrainer, Policy
    from prefgame.llm import build_word_tokenizer, tiny_gpt2

    tok = build_word_tokenizer(texts)
    policy = Policy(tiny_gpt2(tok), tok)
    judge = CallableJudge(lambda x, y, y2: float(len(y) < len(y2)), symmetrise=True)
    cfg = OnlineConfig(method="ipo_md", beta=0.125, max_steps=20, max_new_tokens=16)
    OnlineTrainer(cfg, policy, judge, prompts).train()
"""

import importlib
from types import ModuleType

#: The submodules whose ``__all__`` make up the public API, in reading order (imported on first
#: use: ``import prefgame.llm.config`` loads neither torch nor the trainer).
SUBMODULE_NAMES = (
    "config",
    "methods",
    "tokenizers",
    "policy",
    "sampling",
    "judges",
    "trainer",
    "checkpoints",
    "evaluate",
    "data",
    "sft",
)


def _submodule(name: str) -> ModuleType:
    return importlib.import_module(f"prefgame.llm.{name}")


def __getattr__(name: str):  # PEP 562: the public names, resolved on first use
    if name == "SUBMODULES":
        value = tuple(_submodule(n) for n in SUBMODULE_NAMES)
    elif name == "__all__":
        value = [n for m in __getattr__("SUBMODULES") for n in m.__all__]
    else:
        for sub in SUBMODULE_NAMES:
            module = _submodule(sub)
            if name in module.__all__:
                value = getattr(module, name)
                break
        else:
            raise AttributeError(f"module 'prefgame.llm' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__getattr__("__all__")))
