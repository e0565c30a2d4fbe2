"""Local tokenizers and tiny models, built without any download.

Tests, notebooks and benchmarks need a Hugging Face tokenizer and a small transformer that
exist offline.  This module builds them from a list of texts and a handful of sizes:

* :func:`build_word_tokenizer` -- word-level ``PreTrainedTokenizerFast`` (whitespace split);
* :func:`build_char_tokenizer` -- character-level ``PreTrainedTokenizerFast``;
* :func:`tiny_gpt2`, :func:`tiny_t5`, :func:`tiny_sequence_classifier` -- randomly initialised
  GPT-2-style causal LM, T5 encoder-decoder, and GPT-2 sequence classifier (a reward-model or
  preference-model backbone), sized from the tokenizer.

Every tokenizer has ``<pad>``, ``<eos>``, ``<bos>`` and ``<unk>`` special tokens (ids 0-3).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from transformers import (
        GPT2ForSequenceClassification,
        GPT2LMHeadModel,
        PreTrainedTokenizerBase,
        PreTrainedTokenizerFast,
        T5ForConditionalGeneration,
    )

__all__ = [
    "SPECIAL_TOKENS",
    "build_char_tokenizer",
    "build_word_tokenizer",
    "tiny_gpt2",
    "tiny_sequence_classifier",
    "tiny_t5",
]

#: Special tokens of the local tokenizers, in id order.
SPECIAL_TOKENS = {
    "pad_token": "<pad>",
    "eos_token": "<eos>",
    "bos_token": "<bos>",
    "unk_token": "<unk>",
}


def _wrap(tok, model_max_length: int):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=model_max_length, **SPECIAL_TOKENS
    )


def build_word_tokenizer(
    texts: Iterable[str],
    *,
    max_vocab: int = 256,
    lowercase: bool = True,
    model_max_length: int = 1024,
) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over the ``max_vocab − 4`` most frequent words of ``texts``.

    Words are split on whitespace and punctuation; unseen words map to ``<unk>``; decoding joins
    tokens with single spaces.  Returns a ``transformers.PreTrainedTokenizerFast``.
    """
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel

    if max_vocab <= len(SPECIAL_TOKENS):
        raise ValueError(
            f"max_vocab = {max_vocab}, must exceed the {len(SPECIAL_TOKENS)} special tokens"
        )
    pre = pre_tokenizers.Whitespace()
    norm = normalizers.Lowercase() if lowercase else None
    counts: Counter[str] = Counter()
    for text in texts:
        s = norm.normalize_str(text) if norm is not None else text
        counts.update(w for w, _ in pre.pre_tokenize_str(s))
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS.values())}
    for word, _ in counts.most_common(max_vocab - len(vocab)):
        vocab[word] = len(vocab)
    tok = Tokenizer(WordLevel(vocab, unk_token=SPECIAL_TOKENS["unk_token"]))
    if norm is not None:
        tok.normalizer = norm
    tok.pre_tokenizer = pre
    return _wrap(tok, model_max_length)


def build_char_tokenizer(
    texts: Iterable[str], *, model_max_length: int = 2048
) -> PreTrainedTokenizerFast:
    """A character-level tokenizer over the characters of ``texts`` (decoding is exact)."""
    from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import WordLevel

    chars = sorted(set("".join(texts)))
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS.values())}
    for c in chars:
        vocab.setdefault(c, len(vocab))
    tok = Tokenizer(WordLevel(vocab, unk_token=SPECIAL_TOKENS["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return _wrap(tok, model_max_length)


def _special_ids(tokenizer) -> dict:
    if tokenizer.pad_token_id is None:
        raise ValueError("tokenizer has no pad token; set tokenizer.pad_token first")
    return {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.bos_token_id,
    }


def tiny_gpt2(
    tokenizer: PreTrainedTokenizerBase,
    *,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 2,
    n_positions: int = 256,
    seed: int = 0,
    dropout: float = 0.0,
) -> GPT2LMHeadModel:
    """A randomly initialised GPT-2-style causal LM sized for ``tokenizer`` (seeded)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        n_positions=n_positions,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        **_special_ids(tokenizer),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(cfg)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def tiny_t5(
    tokenizer: PreTrainedTokenizerBase,
    *,
    num_layers: int = 2,
    d_model: int = 64,
    num_heads: int = 2,
    d_ff: int = 128,
    seed: int = 0,
    dropout: float = 0.0,
) -> T5ForConditionalGeneration:
    """A randomly initialised T5 encoder-decoder sized for ``tokenizer`` (seeded).

    As in T5, the decoder starts from the pad token.
    """
    from transformers import T5Config, T5ForConditionalGeneration

    ids = _special_ids(tokenizer)
    cfg = T5Config(
        vocab_size=ids["vocab_size"],
        d_model=d_model,
        d_kv=d_model // num_heads,
        d_ff=d_ff,
        num_layers=num_layers,
        num_decoder_layers=num_layers,
        num_heads=num_heads,
        dropout_rate=dropout,
        pad_token_id=ids["pad_token_id"],
        eos_token_id=ids["eos_token_id"],
        decoder_start_token_id=ids["pad_token_id"],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = T5ForConditionalGeneration(cfg)
    return model


def tiny_sequence_classifier(
    tokenizer: PreTrainedTokenizerBase,
    *,
    num_labels: int = 1,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 2,
    n_positions: int = 512,
    seed: int = 0,
) -> GPT2ForSequenceClassification:
    """A randomly initialised GPT-2 sequence classifier (reward / preference model backbone)."""
    from transformers import GPT2Config, GPT2ForSequenceClassification

    cfg = GPT2Config(
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        n_positions=n_positions,
        num_labels=num_labels,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        **_special_ids(tokenizer),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GPT2ForSequenceClassification(cfg)
