"""Exact evaluation of a transformer policy on an enumerable sequence game.

On a :class:`~prefgame.tasks.sequence_game.SequenceGame` every completion can be listed, so a
transformer's whole sequence distribution is one batched teacher-forced forward:

    log π_θ(y | x) = Σ_t log softmax(logits_θ(x, y_<t) / T)[y_t]     for all n completions y,

the logits of :func:`~prefgame.llm.policy.completion_logits`, the forward the trainer
differentiates (no special path; the softmax is taken in float64). From it the tabular tools
apply unchanged: the exact KL to any target, the duality gap and the exploitability of π_θ in
the game (:mod:`prefgame.equilibrium`).

The token-level geometric mixture that the sampler draws from is computed here a *second* way,
from the two models' logits at every prefix (:func:`token_mixture_probs`); the game computes it
from the two sequence distributions through its prefix tree
(:meth:`~prefgame.tasks.sequence_game.SequenceGame.token_mixture`). The tests check that both
agree, and that the sampler's frequencies match the exact probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from prefgame.llm.judges import Judge
from prefgame.llm.policy import (
    Policy,
    SequenceBatch,
    completion_logits,
    encode_prompts,
)

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

    from prefgame.tasks.sequence_game import SequenceGame

__all__ = [
    "SequenceGameJudge",
    "enumerate_completions",
    "sequence_game_tokenizer",
    "sequence_probs",
    "token_mixture_probs",
]


def sequence_game_tokenizer(game: SequenceGame) -> PreTrainedTokenizerFast:
    """The game's tokenizer: EOS (id 0, also the pad token) and one token per word (ids 1…k),
    nothing else — so a model over it can emit exactly the game's completions."""
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    from prefgame.tasks.sequence_game import EOS

    vocab = {EOS: 0} | {w: i + 1 for i, w in enumerate(game.words)}
    tok = Tokenizer(WordLevel(vocab, unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS)


def _check_vocabulary(policy: Policy, game: SequenceGame) -> None:
    tok = policy.tokenizer
    vocab = tok.get_vocab()
    want = {w: i + 1 for i, w in enumerate(game.words)}
    n_out = policy.config.vocab_size
    if (
        tok.eos_token_id != 0
        or any(vocab.get(w) != i for w, i in want.items())
        or n_out != len(want) + 1
    ):
        raise ValueError(
            f"the policy's vocabulary ({n_out} outputs) is not the game's: EOS = 0 and "
            f"{want}; build it with sequence_game_tokenizer(game)"
        )


def enumerate_completions(policy: Policy, game: SequenceGame) -> SequenceBatch:
    """Every completion of ``game`` after its prompt, as one :class:`SequenceBatch` (row i is
    ``game.sequences[i]``, EOS included where the completion has one)."""
    _check_vocabulary(policy, game)
    ids = game.token_ids()
    width = game.max_length
    comp = torch.zeros((game.n, width), dtype=torch.long)
    mask = torch.zeros((game.n, width), dtype=torch.long)
    for i, y in enumerate(ids):
        comp[i, : len(y)] = torch.tensor(y)
        mask[i, : len(y)] = 1
    p_ids, p_mask = encode_prompts(policy.tokenizer, [game.prompt] * game.n)
    return SequenceBatch(p_ids, p_mask, comp, mask).to(policy.device)


def _logits(policy: Policy, batch: SequenceBatch) -> torch.Tensor:
    """The policy's completion logits in eval mode (no dropout), as float64 ``[n, L, V]``."""
    was_training = policy.model.training
    policy.model.eval()
    try:
        return completion_logits(policy, batch).double()
    finally:
        policy.model.train(was_training)


def _sequence_logp(logits: torch.Tensor, batch: SequenceBatch) -> torch.Tensor:
    """Σ_t m_t log softmax(logits_t)[y_t] in float64, ``[n]``."""
    logp = logits.log_softmax(-1).gather(-1, batch.completion_ids[..., None]).squeeze(-1)
    return (logp * batch.completion_mask).sum(-1)


@torch.no_grad()
def sequence_probs(policy: Policy, game: SequenceGame, *, temperature: float = 1.0) -> np.ndarray:
    """π_θ(y | x) = Π_t softmax(logits_θ(x, y_<t) / T)[y_t] for every completion of ``game``,
    float64 ``[n]``, from one teacher-forced forward over all of them.

    The logits are the model's (float32 on a CPU); the softmax and the product are taken in
    float64, so the result sums to 1 to ~1e-15 (every prefix's conditionals are normalised).
    The trainer's :func:`~prefgame.llm.policy.token_logprobs` gives the same log-probs up to
    float32 rounding."""
    batch = enumerate_completions(policy, game)
    return _sequence_logp(_logits(policy, batch) / temperature, batch).exp().cpu().numpy()


@torch.no_grad()
def token_mixture_probs(
    policy: Policy, ref: Policy, game: SequenceGame, beta: float, *, temperature: float = 1.0
) -> np.ndarray:
    """The sequence distribution of the sampler's token-level mixture, from the logits:
    m(y) = Π_t softmax(((1 − β) logits_π + β logits_μ) / T)[y_t], float64 ``[n]``."""
    batch = enumerate_completions(policy, game)
    mix = ((1.0 - beta) * _logits(policy, batch) + beta * _logits(ref, batch)) / temperature
    return _sequence_logp(mix, batch).exp().cpu().numpy()


class SequenceGameJudge(Judge):
    """The game's preference P(y ≻ y') as a judge of decoded texts (the trainer calls it like
    any other), and a reward r(y) for RL (:meth:`reward`, e.g. a Bradley–Terry fit of P)."""

    def __init__(self, game: SequenceGame, reward: Sequence[float] | None = None) -> None:
        self.game = game
        self.P = torch.tensor(np.asarray(game.P), dtype=torch.float32)
        self.r = None if reward is None else torch.tensor(np.asarray(reward), dtype=torch.float32)
        if self.r is not None and self.r.shape != (game.n,):
            raise ValueError(f"reward has shape {tuple(self.r.shape)}, must be ({game.n},)")

    def preference(
        self, prompts: Sequence[str], ys: Sequence[str], ys2: Sequence[str]
    ) -> torch.Tensor:
        i, j = self.game.index(list(ys)), self.game.index(list(ys2))
        return self.P[torch.as_tensor(i), torch.as_tensor(j)]

    def reward(self, prompts: Sequence[str], completions: Sequence[str]) -> torch.Tensor:
        """r(y) of each completion (``ValueError`` when the judge has no reward)."""
        if self.r is None:
            raise ValueError("this SequenceGameJudge was built without a reward")
        return self.r[torch.as_tensor(self.game.index(list(completions)))]
