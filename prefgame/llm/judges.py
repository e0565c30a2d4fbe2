"""Preference models and judges: one interface, ``P(x, y, y') ∈ [0, 1]``, on decoded text.

Every judge is called as ``judge(prompts, ys, ys2) -> Tensor[B]`` with lists of strings, so it
may use its own tokenizer (it never needs the policy's vocabulary).  Implementations:

* :class:`PairwisePreferenceModel` -- a Hugging Face sequence classifier reading
  ``(x, y, y')``; antisymmetric by construction: logit z(x, y, y') = g(x, y, y') − g(x, y', y),
  so P(y ≻ y') = 1 − P(y' ≻ y) holds *exactly* (bit for bit) and P(y ≻ y) = ½.
* :class:`RewardModel` -- Bradley–Terry: a scalar r(x, y), P = σ(r(x, y) − r(x, y')); also
  exposes ``reward(prompts, completions)`` for the RL baseline.
* :class:`CallableJudge` -- any Python function (a programmatic oracle).
* :class:`LLMJudge` -- a causal LM asked "which summary is better, 1 or 2?", scored by the
  logits of the answers and symmetrised over both orders (removes position bias).

:func:`train_judge` fits a pairwise PM or a BT RM on (prompt, chosen, rejected) pairs with the
logistic loss −log P(chosen ≻ rejected).

Exactness: pairs are put in a canonical order (by string) before the model runs, so swapping y
and y' runs the very same rows and only flips the sign of z; σ is evaluated as σ(|z|) and
1 − σ(|z|), whose sum is exactly 1 in floating point (Sterbenz).  Scoring always runs the
judge's model in eval mode (dropout would break antisymmetry).

Length: a judge reads at most ``max_length`` tokens.  The completions are always kept whole;
a prompt too long to fit is cut *from the left* (its last tokens are kept, as the policy's
prompt encoding does; :func:`fit_prompt`), with a warning.  If the completions alone do not
fit, the judge raises ``ValueError`` rather than score truncated text.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase
    from typing_extensions import Self  # typing.Self from Python 3.11

__all__ = [
    "CallableJudge",
    "Judge",
    "LLMJudge",
    "PairwisePreferenceModel",
    "RewardModel",
    "antisymmetric_sigmoid",
    "fit_prompt",
    "train_judge",
]


def antisymmetric_sigmoid(z: torch.Tensor) -> torch.Tensor:
    """σ(z) computed so that f(−z) = 1 − f(z) exactly in floating point, and f(0) = ½."""
    s = torch.sigmoid(z.abs())
    return torch.where(z >= 0, s, 1.0 - s)


def _check_lengths(prompts, ys, ys2) -> None:
    if not (len(prompts) == len(ys) == len(ys2)):
        raise ValueError(
            f"judge got {len(prompts)} prompts, {len(ys)} first and {len(ys2)} "
            "second completions; the three lists must have equal length"
        )


def _n_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text)["input_ids"])  # with the tokenizer's special tokens


def _prompt_suffix(tokenizer, prompt: str, keep: int) -> str:
    """The shortest tail of ``prompt`` that holds its last ``keep`` tokens."""
    if keep <= 0:
        return ""
    try:
        offsets = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)[
            "offset_mapping"
        ]
        return prompt[offsets[-keep][0] :] if keep < len(offsets) else prompt
    except (NotImplementedError, ValueError, KeyError):  # a tokenizer without offsets
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        return tokenizer.decode(ids[-keep:]) if keep < len(ids) else prompt


def fit_prompt(
    tokenizer: PreTrainedTokenizerBase,
    template: str,
    max_length: int,
    *,
    prompt: str,
    **fields: str,
) -> tuple[str, bool]:
    """``template.format(prompt=..., **fields)`` in at most ``max_length`` tokens of
    ``tokenizer`` (special tokens included): the other fields (the completions) are kept whole
    and the prompt loses its *first* tokens until the text fits.

    Returns ``(text, cut)``; raises ``ValueError`` when the text does not fit even with an
    empty prompt.
    """
    text = template.format(prompt=prompt, **fields)
    if _n_tokens(tokenizer, text) <= max_length:
        return text, False
    fixed = _n_tokens(tokenizer, template.format(prompt="", **fields))
    if fixed > max_length:
        raise ValueError(
            f"judge input takes {fixed} tokens without its prompt, more than "
            f"max_length = {max_length}: the completions do not fit; raise the "
            "judge's max_length (judge_max_length) or shorten max_new_tokens"
        )
    n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    keep = min(max_length - fixed, n_prompt - 1)
    while keep > 0:  # token merges at the cut can change the count by one: step down
        text = template.format(prompt=_prompt_suffix(tokenizer, prompt, keep), **fields)
        if _n_tokens(tokenizer, text) <= max_length:
            return text, True
        keep -= 1
    return template.format(prompt="", **fields), True


def _warn_cut(n_cut: int, max_length: int) -> None:
    if n_cut:
        warnings.warn(
            f"judge: {n_cut} prompt(s) longer than max_length = {max_length} tokens "
            "were cut from the left (completions kept whole)",
            stacklevel=3,
        )


def _canonical(ys: Sequence[str], ys2: Sequence[str]):
    """(first, second, sign): each pair sorted by string; sign −1 where the order flipped."""
    first, second, sign = [], [], []
    for a, b in zip(ys, ys2):
        flip = a > b
        first.append(b if flip else a)
        second.append(a if flip else b)
        sign.append(-1.0 if flip else 1.0)
    return first, second, torch.tensor(sign)


class Judge:
    """Base class: ``judge(prompts, ys, ys2)`` is P(y ≻ y' | x) per row, a float tensor [B].

    Subclasses implement :meth:`logit` (z with P = σ(z), gradient allowed) or override
    :meth:`preference` directly.
    """

    def logit(self, prompts: Sequence[str], ys: Sequence[str], ys2: Sequence[str]) -> torch.Tensor:
        """The logit z of P(y ≻ y' | x) = σ(z); antisymmetric: z(y, y') = −z(y', y)."""
        raise NotImplementedError

    @torch.no_grad()
    def preference(
        self, prompts: Sequence[str], ys: Sequence[str], ys2: Sequence[str]
    ) -> torch.Tensor:
        model = getattr(self, "model", None)
        if isinstance(model, torch.nn.Module):
            model.eval()  # scoring never uses dropout: it would break antisymmetry
        return antisymmetric_sigmoid(self.logit(prompts, ys, ys2).float()).cpu()

    def __call__(
        self, prompts: Sequence[str], ys: Sequence[str], ys2: Sequence[str]
    ) -> torch.Tensor:
        _check_lengths(prompts, ys, ys2)
        if len(prompts) == 0:
            return torch.zeros(0)
        return self.preference(list(prompts), list(ys), list(ys2))


class _HFScorer(Judge):
    """Shared plumbing: a sequence classifier with its own tokenizer, in batches."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_length: int = 512,
        batch_size: int = 32,
    ) -> None:
        if getattr(tokenizer, "pad_token_id", None) is None:
            raise ValueError("judge tokenizer has no pad token; set tokenizer.pad_token first")
        if getattr(model.config, "pad_token_id", None) is None:
            model.config.pad_token_id = tokenizer.pad_token_id
        self.model, self.tokenizer = model, tokenizer
        self.max_length, self.batch_size = max_length, batch_size

    @property
    def device(self):
        return next(self.model.parameters()).device

    def _fit(self, template: str, rows: list[dict]) -> list[str]:
        """Each row's fields formatted into ``template`` within ``max_length`` tokens."""
        texts, n_cut = [], 0
        for row in rows:
            text, cut = fit_prompt(self.tokenizer, template, self.max_length, **row)
            texts.append(text)
            n_cut += cut
        _warn_cut(n_cut, self.max_length)
        return texts

    def _scores(self, texts: list[str]) -> torch.Tensor:
        """First output logit of the backbone for each text, ``[N]`` (gradient allowed).

        ``texts`` already fit in ``max_length`` tokens (:meth:`_fit`): nothing is truncated.
        """
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(texts[i : i + self.batch_size], padding=True, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items() if k != "token_type_ids"}
            out.append(self.model(**enc).logits[:, 0].float())
        return torch.cat(out)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        *,
        tokenizer: PreTrainedTokenizerBase | None = None,
        dtype: str = "float32",
        **kwargs: Any,
    ) -> Self:
        """Load the backbone as ``AutoModelForSequenceClassification`` (one output)."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = tokenizer or AutoTokenizer.from_pretrained(name_or_path)
        if tokenizer.pad_token_id is None:
            raise ValueError(
                f"tokenizer of {name_or_path!r} has no pad token; pass one "
                "with tokenizer.pad_token set"
            )
        model = AutoModelForSequenceClassification.from_pretrained(
            name_or_path, num_labels=1, dtype=getattr(torch, dtype)
        )
        return cls(model, tokenizer, **kwargs)


class PairwisePreferenceModel(_HFScorer):
    """P(y ≻ y' | x) = σ(g(x, y, y') − g(x, y', y)), g a sequence classifier on a template.

    ``template`` formats ``{prompt}``, ``{first}`` and ``{second}`` into the backbone's input
    (default: the paper's PM reads the text and both summaries).
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        template: str = "{prompt}\nSummary 1: {first}\nSummary 2: {second}",
        max_length: int = 512,
        batch_size: int = 32,
    ) -> None:
        super().__init__(model, tokenizer, max_length=max_length, batch_size=batch_size)
        for key in ("{prompt}", "{first}", "{second}"):
            if key not in template:
                raise ValueError(f"PM template {template!r} lacks the field {key}")
        self.template = template

    def logit(self, prompts: Sequence[str], ys: Sequence[str], ys2: Sequence[str]) -> torch.Tensor:
        a, b, sign = _canonical(ys, ys2)
        rows = [{"prompt": x, "first": u, "second": v} for x, u, v in zip(prompts, a, b)]
        rows += [{"prompt": x, "first": v, "second": u} for x, u, v in zip(prompts, a, b)]
        g = self._scores(self._fit(self.template, rows))
        n = len(prompts)
        return (g[:n] - g[n:]) * sign.to(g.device)


class RewardModel(_HFScorer):
    """Bradley–Terry reward model: r(x, y) from a sequence classifier; P = σ(r − r')."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        template: str = "{prompt} {completion}",
        max_length: int = 512,
        batch_size: int = 32,
    ) -> None:
        super().__init__(model, tokenizer, max_length=max_length, batch_size=batch_size)
        for key in ("{prompt}", "{completion}"):
            if key not in template:
                raise ValueError(f"RM template {template!r} lacks the field {key}")
        self.template = template

    def reward(self, prompts: Sequence[str], completions: Sequence[str]) -> torch.Tensor:
        """r(x, y) per row, ``[B]`` (gradient allowed; wrap in no_grad to score)."""
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        return self._scores(
            self._fit(
                self.template,
                [{"prompt": x, "completion": y} for x, y in zip(prompts, completions)],
            )
        )

    def logit(self, prompts: Sequence[str], ys: Sequence[str], ys2: Sequence[str]) -> torch.Tensor:
        a, b, sign = _canonical(ys, ys2)
        r = self.reward(list(prompts) * 2, a + b)
        n = len(prompts)
        return (r[:n] - r[n:]) * sign.to(r.device)


class CallableJudge(Judge):
    """Wrap a function as a judge.

    ``fn(prompt, y, y2) -> float`` (``batched=False``) or ``fn(prompts, ys, ys2) -> sequence``
    (``batched=True``) returning P(y ≻ y') in [0, 1]; values outside raise ``ValueError``.
    ``symmetrise=True`` returns (f(y, y') + 1 − f(y', y))/2, antisymmetric for any f.
    """

    def __init__(self, fn: Callable, *, batched: bool = False, symmetrise: bool = False) -> None:
        if not callable(fn):
            raise ValueError(f"judge function {fn!r} is not callable")  # noqa: TRY004
        self.fn, self.batched, self.symmetrise = fn, batched, symmetrise

    def _raw(self, prompts, ys, ys2) -> torch.Tensor:
        vals = (
            self.fn(prompts, ys, ys2)
            if self.batched
            else [self.fn(x, y, y2) for x, y, y2 in zip(prompts, ys, ys2)]
        )
        p = torch.as_tensor([float(v) for v in vals], dtype=torch.float32)
        if p.shape != (len(prompts),) or not bool(((p >= 0) & (p <= 1)).all()):
            raise ValueError("judge function must return one probability in [0, 1] per row")
        return p

    def preference(
        self, prompts: Sequence[str], ys: Sequence[str], ys2: Sequence[str]
    ) -> torch.Tensor:
        p = self._raw(prompts, ys, ys2)
        if self.symmetrise:
            p = 0.5 * (p + 1.0 - self._raw(prompts, ys2, ys))
        return p


class LLMJudge(Judge):
    """A causal LM judge: "Which summary is better? ... Answer:" → score("1") − score("2").

    An answer's score is the log-sum-exp of the next-token logits of its single-token spellings
    ("1" and " 1": BPE models continue "Answer:" with the space-prefixed token), so
    g(x, a, b) = log P(answer 1) − log P(answer 2) with a shown first, up to the softmax
    normaliser, which cancels.  The logit is z = (g(x, y, y') − g(x, y', y)) / 2, so position
    bias cancels and P is antisymmetric.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        template: str | None = None,
        answers: tuple[str, str] = ("1", "2"),
        max_length: int = 1024,
        batch_size: int = 8,
    ) -> None:
        if getattr(tokenizer, "pad_token_id", None) is None:
            raise ValueError("judge tokenizer has no pad token; set tokenizer.pad_token first")
        self.model, self.tokenizer = model, tokenizer
        self.template = template or (
            "Which of the following summaries does a better job of summarizing the text?\n"
            "Text: {prompt}\nSummary 1: {first}\nSummary 2: {second}\n"
            "Answer with 1 or 2. Answer:"
        )
        self.answer_ids = []
        for a in answers:
            spellings = {a, " " + a.lstrip()}
            ids = {tuple(tokenizer(v, add_special_tokens=False)["input_ids"]) for v in spellings}
            single = sorted(i[0] for i in ids if len(i) == 1)
            if not single:
                raise ValueError(
                    f"judge answer {a!r}: neither {a!r} nor ' {a.lstrip()}' is a "
                    "single token of the judge's tokenizer"
                )
            self.answer_ids.append(single)
        if set(self.answer_ids[0]) & set(self.answer_ids[1]):
            raise ValueError(f"judge answers {answers} share a token")
        self.max_length, self.batch_size = max_length, batch_size

    @classmethod
    def from_pretrained(cls, name_or_path: str, *, dtype: str = "float32", **kwargs: Any) -> Self:
        """Load a causal LM and its tokenizer (pad token := EOS when missing) as the judge."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(name_or_path)
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=getattr(torch, dtype))
        return cls(model, tok, **kwargs)

    def _g(self, prompts, first, second) -> torch.Tensor:
        from prefgame.llm.policy import encode_prompts

        texts, n_cut = [], 0
        for x, a, b in zip(prompts, first, second):
            text, cut = fit_prompt(
                self.tokenizer, self.template, self.max_length, prompt=x, first=a, second=b
            )
            texts.append(text)
            n_cut += cut
        _warn_cut(n_cut, self.max_length)
        device = next(self.model.parameters()).device
        out = []
        for i in range(0, len(texts), self.batch_size):
            ids, mask = encode_prompts(
                self.tokenizer,
                texts[i : i + self.batch_size],
                max_length=self.max_length,
                device=device,
            )
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos).logits
            last = logits[:, -1].float()
            one, two = (last[:, i].logsumexp(-1) for i in self.answer_ids)
            out.append(one - two)
        return torch.cat(out)

    def logit(self, prompts: Sequence[str], ys: Sequence[str], ys2: Sequence[str]) -> torch.Tensor:
        a, b, sign = _canonical(ys, ys2)
        g = self._g(list(prompts) * 2, a + b, b + a)
        n = len(prompts)
        return 0.5 * (g[:n] - g[n:]) * sign.to(g.device)


def train_judge(
    judge: PairwisePreferenceModel | RewardModel,
    prompts: Sequence[str],
    chosen: Sequence[str],
    rejected: Sequence[str],
    *,
    epochs: int = 1,
    batch_size: int = 16,
    lr: float = 1e-4,
    seed: int = 0,
    labels: Sequence[float] | None = None,
) -> list[float]:
    """Fit a PM or RM by minimising −[p log P(c ≻ r) + (1 − p) log P(r ≻ c)] (AdamW).

    ``labels`` are soft labels p (default 1: ``chosen`` preferred).  Returns per-batch losses.
    """
    _check_lengths(prompts, chosen, rejected)
    if not isinstance(judge, (PairwisePreferenceModel, RewardModel)):
        raise ValueError(  # noqa: TRY004 (the CLI maps ValueError to exit 2)
            f"train_judge trains a PairwisePreferenceModel or a RewardModel, "
            f"got {type(judge).__name__}"
        )
    n = len(prompts)
    p_all = torch.ones(n) if labels is None else torch.as_tensor(labels, dtype=torch.float32)
    opt = torch.optim.AdamW([q for q in judge.model.parameters() if q.requires_grad], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    judge.model.train()
    losses = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).tolist()
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            z = judge.logit(
                [prompts[j] for j in idx], [chosen[j] for j in idx], [rejected[j] for j in idx]
            )
            p = p_all[idx].to(z.device)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, p)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    judge.model.eval()
    return losses
