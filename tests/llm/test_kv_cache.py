"""The sampler's KV cache against a straightforward recomputation, token by token.

``generate`` decodes with one KV cache per model, each prompt encoded once per group and the
cache held in a preallocated buffer (``prefgame.llm.sampling._preallocate``).  Every per-token
log-prob it returns must equal the one that a single full forward over ``[prompt |
completion]`` without any cache gives (``token_logprobs``, group 1): to 1e-5, over many
decoding steps, with left padding of different lengths and shared prompts.  A deliberately
broken cache must fail the same comparison.
"""

import warnings

import pytest
import torch

from prefgame.llm import Policy, add_lora, encode_prompts, generate, tiny_gpt2, tiny_t5
from prefgame.llm import sampling as S
from prefgame.llm.policy import SequenceBatch, token_logprobs

STEPS = 24  # decoding steps: long enough for the cache to hold far more than the prompt


def _sharp(model, std=0.15):
    """Re-draw the weight matrices with a large std so that logits depend strongly on the
    context (GPT-2's default init gives nearly uniform next-token distributions, for which a
    wrong cache could go unnoticed at 1e-5)."""
    gen = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) * std)
    return model.eval()


def _pair(tok, make=tiny_gpt2, **kw):
    return (
        Policy(_sharp(make(tok, seed=0, **kw)), tok),
        Policy(_sharp(make(tok, seed=1, **kw), std=0.12), tok),
    )


def _recomputed(policy: Policy, batch: SequenceBatch) -> torch.Tensor:
    """log π(y_t | x, y_<t) from one uncached forward over each whole sequence."""
    plain = SequenceBatch(
        batch.prompt_ids, batch.prompt_mask, batch.completion_ids, batch.completion_mask
    )
    with torch.no_grad():
        return token_logprobs(policy, plain, group=1)


def _sample(pi, mu, tok, beta, group, steps=STEPS, **kw):
    prompts = ["the cat sat on a mat", "a dog", "good text far away", "ran"]
    prompts = [p for p in prompts for _ in range(group)]
    ids, mask = encode_prompts(tok, prompts)
    assert bool((mask == 0).any())  # left padding of different lengths is exercised
    gen = torch.Generator().manual_seed(7)
    return generate(
        pi, ids, mask, ref=mu, beta=beta, max_new_tokens=steps, generator=gen, group=group, **kw
    )


def _no_eos(tok, policy):
    """Make EOS impossible so that every row runs the whole ``STEPS`` (``-inf`` bias)."""
    head = policy.model.get_output_embeddings()
    return head.register_forward_hook(
        lambda mod, args, out: out.index_fill(-1, torch.tensor([tok.eos_token_id]), -1e4)
    )


@pytest.mark.parametrize("beta", [0.0, 0.5])
@pytest.mark.parametrize("group", [1, 2])
def test_cached_logprobs_equal_full_forward_recomputation(tok, beta, group):
    pi, mu = _pair(tok)
    hooks = [_no_eos(tok, pi), _no_eos(tok, mu)]
    b = _sample(pi, mu, tok, beta, group, track_ref=True)
    assert b.completion_ids.shape[1] == STEPS and bool(b.completion_mask.all())
    want_pi, want_mu = _recomputed(pi, b), _recomputed(mu, b)
    for h in hooks:
        h.remove()
    assert float((b.policy_logp - want_pi).abs().max()) < 1e-5
    assert float((b.ref_logp - want_mu).abs().max()) < 1e-5
    # the log-probs vary with the context: an error in the cache would show at 1e-5
    assert float(want_pi.std()) > 0.5
    if beta == 0.0:
        assert torch.equal(b.sample_logp, b.policy_logp)


def test_cached_logprobs_with_eos_padding_equal_recomputation(tok):
    pi, mu = _pair(tok)
    b = _sample(pi, mu, tok, 0.5, 2, track_ref=True)
    m = b.completion_mask.bool()
    want_pi, want_mu = _recomputed(pi, b), _recomputed(mu, b)
    assert float((b.policy_logp - want_pi)[m].abs().max()) < 1e-5
    assert float((b.ref_logp - want_mu)[m].abs().max()) < 1e-5
    assert bool((b.policy_logp[~m] == 0).all())


def test_a_broken_cache_fails_the_comparison(tok, monkeypatch):
    """Negative control: the buffer written one position too far (so each new token's key
    and value are never read at the right place) must break the equality above."""
    pi, _mu = _pair(tok)
    hook = _no_eos(tok, pi)
    original = S._preallocate

    def shifted(cache, capacity):
        original(cache, capacity)
        for layer in cache.layers:
            if hasattr(layer, "_n"):
                layer._n += 1  # the next token lands one slot late; the slot before is junk
                layer._k[..., layer._n - 1, :] = 0
                layer._v[..., layer._n - 1, :] = 0
                layer.keys = layer._k[..., : layer._n, :]
                layer.values = layer._v[..., : layer._n, :]

    monkeypatch.setattr(S, "_preallocate", shifted)
    b = _sample(pi, None, tok, 0.0, 2)
    monkeypatch.undo()
    want = _recomputed(pi, b)
    hook.remove()
    assert float((b.policy_logp - want).abs().max()) > 1e-2


def test_generation_past_the_planned_length_and_the_buffer_grow_path(tok):
    """The buffer's fallback (more tokens than planned) keeps the same numbers."""
    pi, _mu = _pair(tok)
    hook = _no_eos(tok, pi)
    prompts = ["the cat sat", "a dog"]
    ids, mask = encode_prompts(tok, prompts)
    stepper = S._Stepper(pi, ids, mask, 1, max_new_tokens=2)
    tokens, logps = [], []
    with torch.no_grad():
        logits = stepper.logits
        for _ in range(6):  # 4 steps past the planned capacity
            nxt = logits.argmax(-1)
            logps.append(torch.log_softmax(logits.float(), -1).gather(-1, nxt[:, None])[:, 0])
            tokens.append(nxt)
            logits = stepper.step(nxt)
    b = SequenceBatch(ids, mask, torch.stack(tokens, 1), torch.ones(2, 6, dtype=torch.long))
    want = _recomputed(pi, b)
    hook.remove()
    assert float((torch.stack(logps, 1) - want).abs().max()) < 1e-5


def test_encoder_decoder_cache_equals_recomputation(tok):
    pi, mu = _pair(tok, tiny_t5)
    hooks = [_no_eos(tok, pi), _no_eos(tok, mu)]
    b = _sample(pi, mu, tok, 0.5, 2, steps=12, track_ref=True)
    want_pi, want_mu = _recomputed(pi, b), _recomputed(mu, b)
    for h in hooks:
        h.remove()
    assert float((b.policy_logp - want_pi).abs().max()) < 1e-5
    assert float((b.ref_logp - want_mu).abs().max()) < 1e-5


def test_lora_policy_and_its_base_keep_separate_exact_caches(tok):
    model = _sharp(tiny_gpt2(tok, seed=0))
    lora = add_lora(model, r=4, target_modules=["c_attn"], seed=0)
    with torch.no_grad():  # B = 0 at init: make the adapters change the function
        for n, p in lora.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.3, generator=torch.Generator().manual_seed(1))
    pi = Policy(lora, tok)
    mu = pi.reference()
    b = _sample(pi, mu, tok, 0.5, 2, steps=10, track_ref=True)
    m = b.completion_mask.bool()
    want_pi, want_mu = _recomputed(pi, b), _recomputed(mu, b)
    assert float((b.policy_logp - want_pi)[m].abs().max()) < 1e-5
    assert float((b.ref_logp - want_mu)[m].abs().max()) < 1e-5
    assert float((want_pi - want_mu)[m].abs().max()) > 1e-2  # π and μ really differ


def test_no_past_key_values_deprecation_warning(tok):
    pi, mu = _pair(tok)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        b = _sample(pi, mu, tok, 0.5, 2, steps=4)
        with torch.no_grad():
            token_logprobs(pi, b, group=2)
    assert not [w for w in caught if "past_key_values" in str(w.message)]


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_t5])
def test_dropping_finished_rows_keeps_every_row_exact(tok, monkeypatch, make):
    """Finished rows leave the batch (compaction): the tokens are those of the uncompacted
    run (the generator draws for every row either way), the log-probs equal the uncached
    recomputation to 1e-5, and compaction did happen."""
    pi, mu = _pair(tok, make)
    head = pi.model.get_output_embeddings()
    bias = torch.zeros(len(tok))
    bias[tok.eos_token_id] = 2.5  # EOS likely enough that rows finish at different steps
    hooks = [head.register_forward_hook(lambda mod, args, out: out + bias)]
    calls = []
    original = S._Stepper.select
    monkeypatch.setattr(
        S._Stepper, "select", lambda self, idx: (calls.append(len(idx)), original(self, idx))
    )
    prompts = ["the cat sat on a mat", "a dog", "good text far away", "ran"] * 3
    ids, mask = encode_prompts(tok, prompts)
    runs = {}
    for below in (0.0, 0.75, 1.0):
        calls.clear()
        runs[below] = generate(
            pi,
            ids,
            mask,
            ref=mu,
            beta=0.5,
            max_new_tokens=STEPS,
            generator=torch.Generator().manual_seed(3),
            compact_below=below,
        )
        assert bool(calls) == (below > 0)
    lengths = runs[0.0].completion_mask.sum(-1)
    assert len(set(lengths.tolist())) > 3  # rows did finish at different steps
    want_pi, want_mu = _recomputed(pi, runs[0.0]), _recomputed(mu, runs[0.0])
    for h in hooks:
        h.remove()
    m = runs[0.0].completion_mask.bool()
    for below, b in runs.items():
        assert torch.equal(b.completion_ids, runs[0.0].completion_ids), below
        assert torch.equal(b.completion_mask, runs[0.0].completion_mask), below
        assert float((b.policy_logp - want_pi)[m].abs().max()) < 1e-5
        assert float((b.ref_logp - want_mu)[m].abs().max()) < 1e-5
        assert float((b.sample_logp - runs[0.0].sample_logp).abs().max()) < 1e-5
