"""Samplers: batched generation from π, from μ, and from the token-level geometric mixture.

The mixture of Nash-MD-PG and IPO-MD (docs/notation.md) samples each token from

    softmax( ((1 − β) · logits_π + β · logits_μ) / temperature ),  then top-p,

which only approximates the sequence-level π^(1−β) μ^β (per-step normalisers differ).
β = 0 samples from π, β = 1 from μ.

:func:`generate` keeps one KV cache per model that it runs: after one forward pass over the
prompt, each generated token costs exactly one forward pass of π and (for 0 < β < 1) one of μ,
never re-encoding the prefix.  Each cached layer lives in a buffer preallocated for the whole
completion (a decoding step writes its token in place, no per-token ``torch.cat``), and rows that
have finished leave the batch once they are a quarter of it (``compact_below``); neither
changes a number (``tests/llm/test_kv_cache.py`` checks every log-prob against one uncached
forward).  It returns a :class:`~prefgame.llm.policy.SequenceBatch` with
the per-token log-probs it already computed (log π, log μ, log of the sampling distribution);
the trainer uses that log μ in fp32 and recomputes it with its training forward's path under
bf16, so that π = μ gives a margin of exactly 0 there (see :mod:`prefgame.llm.trainer`).

With LoRA, π and μ share one module (μ = adapters disabled); the two views keep separate caches
and every μ forward runs under ``disable_adapter()`` — the mixture never mixes π with itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from prefgame.llm.policy import Policy, SequenceBatch, encode_prompts, gather_logp

__all__ = ["generate", "generate_text", "mixture_logits", "top_p_filter"]


def mixture_logits(
    logits_pi: torch.Tensor, logits_mu: torch.Tensor, beta: float | torch.Tensor
) -> torch.Tensor:
    """(1 − β) · logits_π + β · logits_μ  (the token-level geometric mixture, unnormalised);
    ``beta`` is one float or a ``[B, 1]`` column of per-row values."""
    return (1.0 - beta) * logits_pi + beta * logits_mu


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Set to −inf every token outside the smallest set whose probability reaches ``top_p``."""
    if top_p >= 1.0:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(-1)
    # drop a token when the mass strictly before it already reaches top_p (keeps >= 1 token)
    drop_sorted = probs.cumsum(-1) - probs >= top_p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def _preallocate(cache, capacity: int) -> None:
    """Give every full-attention layer of a transformers ``DynamicCache`` a preallocated
    buffer of ``capacity`` positions, in place.

    The layer's ``keys``/``values`` become views of the first positions of the buffer, so a
    decoding step writes its token's keys/values into the buffer instead of concatenating the
    whole cache again (``torch.cat`` re-copies every cached key and value at every token:
    O(T²) memory traffic, half of a decoding step's time on CPU at 128 new tokens).  The
    attention reads exactly the same keys and values in the same order: the numbers do not
    change.  Caches of other layouts (sliding windows, older transformers) are left as they are.
    """
    try:
        from transformers.cache_utils import DynamicLayer
    except ImportError:  # transformers < 4.56 keeps lists of tensors: nothing to do
        return
    layers = getattr(cache, "layers", None)
    if layers is None:
        return
    for i, layer in enumerate(layers):
        if type(layer) is DynamicLayer and layer.is_initialized and layer.keys.numel():
            layers[i] = _BufferLayer(layer.keys, layer.values, capacity)


def _buffer_layer_class():
    from transformers.cache_utils import DynamicLayer

    class BufferLayer(DynamicLayer):
        """A ``DynamicLayer`` whose keys/values are views of a preallocated buffer."""

        def __init__(self, keys: torch.Tensor, values: torch.Tensor, capacity: int):
            super().__init__()
            n = keys.shape[-2]
            capacity = max(capacity, n)
            self._k = keys.new_empty((*keys.shape[:-2], capacity, keys.shape[-1]))
            self._v = values.new_empty((*values.shape[:-2], capacity, values.shape[-1]))
            self._k[..., :n, :] = keys
            self._v[..., :n, :] = values
            self._n = n
            self.keys, self.values = self._k[..., :n, :], self._v[..., :n, :]
            self.device, self.is_initialized = keys.device, True

        def update(self, key_states, value_states, *args, **kwargs):
            end = self._n + key_states.shape[-2]
            if end > self._k.shape[-2]:  # past the planned length: grow as DynamicLayer does
                self.keys = torch.cat([self.keys, key_states], dim=-2)
                self.values = torch.cat([self.values, value_states], dim=-2)
                self._k, self._v, self._n = self.keys, self.values, end
                return self.keys, self.values
            self._k[..., self._n : end, :] = key_states
            self._v[..., self._n : end, :] = value_states
            self._n = end
            self.keys, self.values = self._k[..., :end, :], self._v[..., :end, :]
            return self.keys, self.values

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            self._k, self._v = self._k[indices], self._v[indices]
            self.keys, self.values = self._k[..., : self._n, :], self._v[..., : self._n, :]

    return BufferLayer


class _LazyBufferLayer:
    """Builds the ``DynamicLayer`` subclass on first use (transformers imported lazily)."""

    cls = None

    def __call__(self, *args):
        if _LazyBufferLayer.cls is None:
            _LazyBufferLayer.cls = _buffer_layer_class()
        return _LazyBufferLayer.cls(*args)


_BufferLayer = _LazyBufferLayer()


class _Stepper:
    """Incremental decoding of one model view with its own KV cache.

    The cache holds ``capacity`` = prompt length + ``max_new_tokens`` positions from the start
    (:func:`_preallocate`), and the attention mask is one preallocated ``[B, capacity]`` tensor
    of which each step passes a prefix: no per-token concatenation.
    """

    def __init__(
        self,
        policy: Policy,
        prompt_ids: torch.Tensor,
        prompt_mask: torch.Tensor,
        group: int = 1,
        max_new_tokens: int = 0,
    ):
        from transformers import DynamicCache, EncoderDecoderCache

        from prefgame.llm.policy import cache_kwarg, encoder_outputs, prefill_prompts

        self.policy = policy
        self.kv = cache_kwarg(policy.model)
        with policy.context():
            if policy.is_encoder_decoder:
                self.cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
                self.encoder_outputs = encoder_outputs(policy, prompt_ids, prompt_mask, group)
                self.enc_mask = prompt_mask
                start = torch.full_like(prompt_ids[:, :1], policy.decoder_start_id())
                self.logits = self._decode(start)
                _preallocate(self.cache.self_attention_cache, 1 + max_new_tokens)
            else:
                # each distinct prompt is encoded once, then its cache is shared by its group
                self.cache, self.logits, self.next_pos = prefill_prompts(
                    policy, prompt_ids, prompt_mask, group
                )
                lp = prompt_ids.shape[1]
                self.mask = torch.cat(
                    [prompt_mask, prompt_mask.new_ones(prompt_mask.shape[0], max_new_tokens)],
                    dim=1,
                )
                self.length = lp
                _preallocate(self.cache, lp + max_new_tokens)

    @property
    def can_select(self) -> bool:
        return hasattr(self.cache, "batch_select_indices")

    def select(self, index: torch.Tensor) -> None:
        """Keep only the rows ``index`` (finished rows are dropped from the batch)."""
        self.cache.batch_select_indices(index)
        self.logits = self.logits[index]
        if self.policy.is_encoder_decoder:
            hidden = self.encoder_outputs.last_hidden_state[index]
            self.encoder_outputs = type(self.encoder_outputs)(last_hidden_state=hidden)
            self.enc_mask = self.enc_mask[index]
        else:
            self.mask, self.next_pos = self.mask[index], self.next_pos[index]

    def _decode(self, tokens: torch.Tensor) -> torch.Tensor:
        out = self.policy.model(
            encoder_outputs=self.encoder_outputs,
            attention_mask=self.enc_mask,
            decoder_input_ids=tokens,
            use_cache=True,
            **{self.kv: self.cache},
        )
        return out.logits[:, -1]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per row ``[B]``; return the next logits ``[B, V]``."""
        tokens = tokens[:, None]
        with self.policy.context():
            if self.policy.is_encoder_decoder:
                self.logits = self._decode(tokens)
            else:
                self.length += 1
                if self.length > self.mask.shape[1]:  # more steps than planned
                    self.mask = torch.cat([self.mask, torch.ones_like(tokens)], dim=1)
                out = self.policy.model(
                    input_ids=tokens,
                    attention_mask=self.mask[:, : self.length],
                    position_ids=self.next_pos,
                    use_cache=True,
                    **{self.kv: self.cache},
                )
                self.next_pos = self.next_pos + 1
                self.logits = out.logits[:, -1]
        return self.logits


def _alive(values: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """``values`` where the row is still generating, exactly 0 elsewhere."""
    return torch.where(alive, values, torch.zeros_like(values))


@torch.no_grad()
def generate(
    policy: Policy,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    *,
    ref: Policy | None = None,
    beta: float | Sequence[float] | torch.Tensor = 0.0,
    max_new_tokens: int = 64,
    temperature: float = 1.0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    track_ref: bool = False,
    group: int = 1,
    compact_below: float = 0.75,
) -> SequenceBatch:
    """Sample one completion per prompt from the token-level mixture π^(1−β) μ^β.

    Parameters
    ----------
    policy, ref : the trained policy π and the reference μ (``ref`` needed when β > 0 or
        ``track_ref``).
    prompt_ids, prompt_mask : ``[B, Lp]`` left-padded prompts (see ``encode_prompts``).
    beta : mixture coefficient in [0, 1], one for the whole batch or one per row (``[B]``).
        A row with β = 0 samples from π, and μ is not run on it (unless ``track_ref``); β = 1
        samples from μ (π is not run when every row has β = 1).  Rows of different β decode in
        one batch: π reads its weights once per token for all of them (Nash-MD-PG draws its
        y ~ π and y' ~ mixture this way).
    temperature, top_p, max_new_tokens : sampling options; a row stops at its first EOS.
    generator : torch RNG for reproducible sampling.
    track_ref : also run μ on the rows with β = 0 to return ``ref_logp`` (costs one μ forward
        per token; usually one batched μ forward afterwards is cheaper).
    group : rows come in runs of ``group`` copies of the same prompt (several samples per
        prompt); each prompt is then encoded once and its KV cache shared.
    compact_below : once fewer than this fraction of the rows that a model decodes are
        unfinished, the finished rows are dropped from its KV cache and from every later
        forward (0: never).  Their outputs stay what they were (EOS, then pad with log-prob 0);
        every row's tokens and log-probs are those of the uncompacted batch up to float
        rounding, and the generator still draws for every row at every step.

    Returns
    -------
    SequenceBatch with ``completion_ids``/``completion_mask`` ``[B, T]`` (EOS included, then
    pad), ``policy_logp`` (if π ran), ``ref_logp`` (if μ ran on every row) -- untempered
    per-token log-probs -- and ``sample_logp``, the log-prob of each token under the sampling
    distribution.
    """
    bsz = prompt_ids.shape[0]
    betas = torch.as_tensor(beta, dtype=torch.float64).flatten().cpu()
    if betas.numel() not in (1, bsz):
        raise ValueError(f"beta has {betas.numel()} values for {bsz} rows; give 1 or {bsz}")
    bad = ~((betas >= 0.0) & (betas <= 1.0))  # NaN too
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        where = f"beta[{i}]" if betas.numel() > 1 else "beta"
        raise ValueError(f"{where} = {float(betas[i])}, must lie in [0, 1]")
    if temperature <= 0:
        raise ValueError(f"temperature = {temperature}, must be > 0")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p = {top_p}, must lie in (0, 1]")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens = {max_new_tokens}, must be >= 1")
    uniform = bool((betas == betas[0]).all())
    betas = betas.expand(bsz)
    mu_on = (betas > 0.0) | track_ref  # the rows that μ decodes
    need_ref = bool(mu_on.any())
    if need_ref and ref is None:
        raise ValueError("a reference policy `ref` is needed when beta > 0 or track_ref=True")
    if bool(((betas > 0.0) & (betas < 1.0)).any()) and ref.same_weights_as(policy):
        raise ValueError(
            "ref computes the same function as policy: the mixture would mix the "
            "policy with itself (with LoRA use policy.reference())"
        )
    from prefgame.llm.policy import check_groups

    check_groups(prompt_ids, prompt_mask, group)
    tok = policy.tokenizer
    eos, pad = tok.eos_token_id, tok.pad_token_id
    device = prompt_ids.device
    run_pi = bool((betas < 1.0).any())
    steps = max_new_tokens - 1  # the last token is sampled, never fed back
    steppers = []  # (stepper, the batch rows it decodes)
    if run_pi:
        pi = _Stepper(policy, prompt_ids, prompt_mask, group, steps)
        steppers.append([pi, torch.arange(bsz, device=device)])
    if need_ref:
        mu_rows = mu_on.nonzero().squeeze(-1).to(device)
        if len(mu_rows) == bsz:
            mu = _Stepper(ref, prompt_ids, prompt_mask, group, steps)
        else:  # a run of `group` equal prompts keeps its shared encoding if μ decodes it whole
            runs = mu_on.view(-1, group)
            g = group if bool((runs.all(1) == runs.any(1)).all()) else 1
            mu = _Stepper(ref, prompt_ids[mu_rows], prompt_mask[mu_rows], g, steps)
        steppers.append([mu, mu_rows])
    b_col = None if uniform else betas.to(device, torch.float32)[:, None]
    beta0 = float(betas[0])
    compact = compact_below > 0 and all(x.can_select for x, _ in steppers)
    done = torch.zeros(bsz, dtype=torch.bool, device=device)
    ids, masks, lp_pi, lp_mu, lp_s = [], [], [], [], []

    def full(x: _Stepper, rows: torch.Tensor) -> torch.Tensor:
        """A stepper's logits as a ``[bsz, V]`` tensor (rows it does not decode hold 0)."""
        logits = x.logits.float()
        if logits.shape[0] == bsz:
            return logits
        return logits.new_zeros(bsz, logits.shape[1]).index_copy_(0, rows, logits)

    for t in range(max_new_tokens):
        l_pi = full(*steppers[0]) if run_pi else None
        l_mu = full(*steppers[-1]) if need_ref else None
        if not uniform:  # rows of β = 0 get exactly l_π (l_μ holds 0 there), of β = 1 l_μ
            logits = mixture_logits(l_pi, l_mu, b_col)
        elif beta0 == 0.0:
            logits = l_pi
        elif beta0 == 1.0:
            logits = l_mu
        else:
            logits = mixture_logits(l_pi, l_mu, beta0)
        if temperature != 1.0:
            logits = logits / temperature
        logp_sample = top_p_filter(logits, top_p).log_softmax(-1)
        # one draw per batch row, finished or not: the generator's stream is the same as
        # without compaction
        nxt = torch.multinomial(logp_sample.exp(), 1, generator=generator).squeeze(-1)
        alive = ~done
        nxt = torch.where(alive, nxt, torch.full_like(nxt, pad))
        ids.append(nxt)
        masks.append(alive.to(prompt_mask.dtype))
        # finished rows hold 0, never −inf × 0 = NaN (the pad token may lie outside top-p)
        lp_s.append(_alive(logp_sample.gather(-1, nxt[:, None]).squeeze(-1), alive))
        if run_pi:
            plain = uniform and beta0 == 0.0 and temperature == 1.0 and top_p >= 1.0
            lp_pi.append(lp_s[-1] if plain else _alive(gather_logp(l_pi, nxt), alive))
        if need_ref:
            lp_mu.append(_alive(gather_logp(l_mu, nxt), alive))
        done = done | (nxt == eos)
        # the loop's one host sync per token: the unfinished rows, overall and of each model
        n_alive, *alive_of = torch.stack(
            [(~done).sum()] + [(~done[rows]).sum() for _, rows in steppers]
        ).tolist()
        if n_alive == 0 or t == max_new_tokens - 1:
            break
        for entry, n_own in zip(steppers, alive_of):
            x, rows = entry
            if rows.shape[0] == 0:  # every row of this model has finished
                continue
            if compact and n_own < compact_below * rows.shape[0]:
                keep = (~done[rows]).nonzero().squeeze(-1)
                entry[1] = rows = rows[keep]
                if rows.shape[0] == 0:  # its logits are no longer read: drop them, not step
                    x.logits = x.logits[:0]
                    continue
                x.select(keep)
            x.step(nxt if rows.shape[0] == bsz else nxt[rows])

    def stack(xs):
        return torch.stack(xs, dim=1) if xs else None

    return SequenceBatch(
        prompt_ids=prompt_ids,
        prompt_mask=prompt_mask,
        completion_ids=stack(ids),
        completion_mask=stack(masks),
        policy_logp=stack(lp_pi),
        ref_logp=stack(lp_mu) if bool(mu_on.all()) else None,
        sample_logp=stack(lp_s),
    )


def generate_text(
    policy: Policy,
    prompts: Sequence[str],
    *,
    ref: Policy | None = None,
    beta: float = 0.0,
    max_prompt_length: int = 512,
    batch_size: int = 32,
    **kwargs: Any,
) -> list[str]:
    """Decoded completions for a list of prompt strings (convenience wrapper of ``generate``)."""
    out: list[str] = []
    for start in range(0, len(prompts), batch_size):
        ids, mask = encode_prompts(
            policy.tokenizer,
            prompts[start : start + batch_size],
            max_length=max_prompt_length,
            device=policy.device,
        )
        batch = generate(policy, ids, mask, ref=ref, beta=beta, **kwargs)
        out.extend(batch.texts(policy.tokenizer))
    return out
