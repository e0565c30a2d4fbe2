"""The summarisation experiment of Calandriello et al. (2024, §6), built from prefgame.llm.

Modules: :mod:`.config` (the one validated config), :mod:`.data` (documents, prompts, labelled
pairs), :mod:`.models` (tokenizer, T5 policy, document-reading PM/RM, oracle judges),
:mod:`.pipeline` (the steps), :mod:`.evaluate` (PM/RM figures), :mod:`.stats` (paired
bootstrap), :mod:`.results` (win rates, frontiers, ``summary.json``), :mod:`.report` (the
results folder), :mod:`.run` (everything in order).  The command line is
``python llm/reproduce.py``.
"""

from prefgame.experiments.summarisation.config import ExperimentConfig, load
from prefgame.experiments.summarisation.run import run_experiment

__all__ = ["ExperimentConfig", "load", "run_experiment"]
