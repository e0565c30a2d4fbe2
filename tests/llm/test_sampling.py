"""Samplers: the KV-cached token-level mixture against exact enumeration over a tiny vocabulary."""

import itertools

import numpy as np
import pytest
import torch
from scipy import stats

from prefgame.llm import (
    Policy,
    add_lora,
    build_word_tokenizer,
    encode_prompts,
    generate,
    tiny_gpt2,
    tiny_t5,
)
from prefgame.llm.sampling import top_p_filter

T = 3  # max new tokens


@pytest.fixture(scope="module")
def small_tok():
    return build_word_tokenizer(["x y z"])  # vocabulary of 7: 4 specials + 3 words


def _peaked(model, target_std, seed):
    """Scale the output logits (a forward hook on the LM head) to a per-row std of about
    ``target_std``, so that π and μ differ visibly (GPT-2's random init is nearly uniform)."""
    del seed
    ids = torch.tensor([[4, 5, 6, 4]])
    with torch.no_grad():
        kw = {"decoder_input_ids": ids} if model.config.is_encoder_decoder else {}
        std = float(model(input_ids=ids, **kw).logits.std(-1).mean())
    factor = target_std / std
    model.get_output_embeddings().register_forward_hook(lambda mod, args, out: out * factor)
    return model


_LOGITS: dict = {}


def _logits(pol, prompt_ids, prefix):
    """Next-token logits after ``prompt + prefix``: one unpadded forward from scratch (memoised).

    The memo is keyed by the model object itself, not ``id(model)``: the key keeps the model
    alive, so a later model can never reuse a freed model's id and read its stale logits (which
    made the enumeration test fail under pytest-xdist when a T5 of an earlier test had been freed).
    """
    key = (pol.model, tuple(prompt_ids), tuple(prefix))
    if key not in _LOGITS:
        with torch.no_grad():
            if pol.is_encoder_decoder:
                dec = torch.tensor([[pol.decoder_start_id()] + list(prefix)])
                out = pol.model(input_ids=torch.tensor([prompt_ids]), decoder_input_ids=dec)
            else:
                out = pol.model(input_ids=torch.tensor([list(prompt_ids) + list(prefix)]))
        _LOGITS[key] = out.logits[0, -1].double()
    return _LOGITS[key]


def _exact_logp(pi, mu, prompt_ids, seq, beta, temperature):
    """log Π_t softmax(((1−β) l_π + β l_μ)/temp)[y_t], with no KV cache and no padding."""
    total = 0.0
    for t, y in enumerate(seq):
        l_pi, l_mu = _logits(pi, prompt_ids, seq[:t]), _logits(mu, prompt_ids, seq[:t])
        mix = ((1 - beta) * l_pi + beta * l_mu) / temperature
        total += float(mix.log_softmax(-1)[y])
    return total


def _all_sequences(vocab, eos):
    """Every completion of at most T tokens that stops at its first EOS."""
    out = []
    for n in range(1, T + 1):
        for body in itertools.product([v for v in range(vocab) if v != eos], repeat=n - 1):
            out.append(list(body) + [eos])
        if n == T:
            out += [
                list(s) for s in itertools.product([v for v in range(vocab) if v != eos], repeat=T)
            ]
    return out


def _pvalue(batch, rows, seqs, probs):
    """Chi-square p-value of the completions ``batch[rows]`` against the probabilities
    ``probs`` of the outcomes ``seqs`` (the outcomes expected < 5 times pooled in one bin)."""
    counts: dict = {}
    ids, mask = batch.completion_ids[rows].tolist(), batch.completion_mask[rows].tolist()
    for row, m in zip(ids, mask):
        key = tuple(r for r, k in zip(row, m) if k)
        counts[key] = counts.get(key, 0) + 1
    observed = np.array([counts.get(tuple(s), 0) for s in seqs])
    assert observed.sum() == len(ids)  # every sample is one of the outcomes
    exp = np.asarray(probs) * len(ids)
    big = exp >= 5
    o = np.append(observed[big], observed[~big].sum())
    e = np.append(exp[big], exp[~big].sum())
    return stats.chisquare(o, e).pvalue


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_t5])
def test_sampled_logprobs_equal_uncached_recomputation(small_tok, make):
    tok = small_tok
    pi = Policy(_peaked(make(tok, seed=0), 1.5, 0), tok)
    mu = Policy(_peaked(make(tok, seed=1), 1.5, 1), tok)
    prompts = ["x y z x", "z"]
    ids, mask = encode_prompts(tok, prompts)
    gen = torch.Generator().manual_seed(0)
    b = generate(pi, ids, mask, ref=mu, beta=0.3, max_new_tokens=T, temperature=0.7, generator=gen)
    for i, p in enumerate(prompts):
        p_ids = tok(p, add_special_tokens=False)["input_ids"]
        seq = b.completion_ids[i][b.completion_mask[i].bool()].tolist()
        want = _exact_logp(pi, mu, p_ids, seq, 0.3, 0.7)
        assert abs(float(b.sample_logp[i].sum()) - want) < 1e-4
        assert abs(float(b.policy_logp[i].sum()) - _exact_logp(pi, mu, p_ids, seq, 0, 1)) < 1e-4
        assert abs(float(b.ref_logp[i].sum()) - _exact_logp(pi, mu, p_ids, seq, 1, 1)) < 1e-4


def test_mixture_distribution_matches_exact_enumeration(small_tok):
    tok = small_tok
    pi = Policy(_peaked(tiny_gpt2(tok, seed=0), 1.5, 0), tok)
    mu = Policy(_peaked(tiny_gpt2(tok, seed=1), 1.5, 1), tok)
    beta, temp = 0.4, 0.9
    prompts = ["x y z x", "z"]
    n = 3000
    gen = torch.Generator().manual_seed(1)
    seqs = _all_sequences(len(tok), tok.eos_token_id)
    for p in prompts:
        ids, mask = encode_prompts(tok, [p] * n)
        b = generate(
            pi, ids, mask, ref=mu, beta=beta, max_new_tokens=T, temperature=temp, generator=gen
        )
        p_ids = tok(p, add_special_tokens=False)["input_ids"]
        probs = np.exp([_exact_logp(pi, mu, p_ids, s, beta, temp) for s in seqs])
        assert abs(probs.sum() - 1) < 1e-6  # the enumeration covers every outcome
        probs_pi = np.exp([_exact_logp(pi, mu, p_ids, s, 0.0, temp) for s in seqs])
        assert _pvalue(b, slice(None), seqs, probs) > 1e-3
        # and the test can tell the mixture from π itself
        assert _pvalue(b, slice(None), seqs, probs_pi) < 1e-6


def test_one_forward_per_model_per_token_and_no_reencoding(tok, input_shapes):
    pi = Policy(tiny_gpt2(tok, seed=0), tok)
    mu = Policy(tiny_gpt2(tok, seed=1), tok)
    calls = input_shapes(pi=pi, mu=mu)
    ids, mask = encode_prompts(tok, ["the cat sat on", "a dog"])
    eos_free = torch.Generator().manual_seed(0)
    b = generate(pi, ids, mask, ref=mu, beta=0.5, max_new_tokens=6, generator=eos_free)
    steps = b.completion_ids.shape[1]
    for k in calls:
        assert calls[k][0][1] == ids.shape[1]  # the prompt, once
        assert [n for _, n in calls[k][1:]] == [1] * (steps - 1)  # then one token per forward


def test_beta_zero_runs_only_the_policy_and_equals_it(tok):
    pi = Policy(tiny_gpt2(tok, seed=0), tok)
    mu = Policy(tiny_gpt2(tok, seed=1), tok)
    ids, mask = encode_prompts(tok, ["the cat", "a dog ran"])
    a = generate(pi, ids, mask, max_new_tokens=5, generator=torch.Generator().manual_seed(3))
    b = generate(
        pi,
        ids,
        mask,
        ref=mu,
        beta=0.0,
        max_new_tokens=5,
        generator=torch.Generator().manual_seed(3),
    )
    assert torch.equal(a.completion_ids, b.completion_ids)
    assert a.ref_logp is None and b.ref_logp is None


def test_stops_at_eos_and_masks_after_it(tok):
    pi = Policy(tiny_gpt2(tok), tok)
    with torch.no_grad():  # make EOS overwhelmingly likely after the first token
        pi.model.get_output_embeddings().weight[tok.eos_token_id] *= 0
    ids, mask = encode_prompts(tok, ["the cat"] * 4)
    b = generate(pi, ids, mask, max_new_tokens=8, generator=torch.Generator().manual_seed(0))
    for row, m in zip(b.completion_ids, b.completion_mask):
        n = int(m.sum())
        assert m[:n].all() and not m[n:].any()
        if n < 8 or row[n - 1] == tok.eos_token_id:
            assert (row[: n - 1] != tok.eos_token_id).all()
        assert (row[n:] == tok.pad_token_id).all()


def test_lora_mixture_never_mixes_policy_with_itself(tok):
    model = add_lora(tiny_gpt2(tok), r=2, target_modules=["c_attn"])
    pi = Policy(model, tok)
    ids, mask = encode_prompts(tok, ["the cat"])
    with pytest.raises(ValueError, match="with itself"):
        generate(pi, ids, mask, ref=pi, beta=0.5)
    ref = pi.reference()
    b = generate(pi, ids, mask, ref=ref, beta=0.5, max_new_tokens=3)
    assert b.ref_logp is not None


def test_top_p_keeps_the_smallest_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(top_p_filter(logits, 0.8))
    assert kept.tolist() == [[True, True, False, False]]
    kept = torch.isfinite(top_p_filter(logits, 0.81))
    assert kept.tolist() == [[True, True, True, False]]
    assert torch.isfinite(top_p_filter(logits, 0.1)).sum() == 1


@pytest.mark.parametrize(
    "kw,msg",
    [
        ({"beta": 1.5}, "beta"),
        ({"temperature": 0}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"beta": 0.5}, "reference"),
    ],
)
def test_bad_sampling_arguments(tok, kw, msg):
    pi = Policy(tiny_gpt2(tok), tok)
    ids, mask = encode_prompts(tok, ["the cat"])
    with pytest.raises(ValueError, match=msg):
        generate(pi, ids, mask, **kw)


def test_no_nan_in_a_sequence_batch_with_top_p(tok):
    """Finished rows hold exactly 0 in every log-prob field, also when the pad token lies
    outside the nucleus (−inf × 0 was NaN)."""
    pi = Policy(tiny_gpt2(tok, seed=0), tok)
    mu = Policy(tiny_gpt2(tok, seed=1), tok)
    eos = tok.eos_token_id

    def likely_eos(mod, args, out):  # rows finish at different lengths
        out[..., eos] += 2.0
        return out

    for m in (pi, mu):
        m.model.get_output_embeddings().register_forward_hook(likely_eos)
    ids, mask = encode_prompts(tok, ["the cat", "a dog ran", "good", "far away"] * 2)
    for beta in (0.0, 0.5):
        b = generate(
            pi,
            ids,
            mask,
            ref=mu,
            beta=beta,
            track_ref=True,
            max_new_tokens=8,
            top_p=0.5,
            temperature=0.8,
            generator=torch.Generator().manual_seed(0),
        )
        lengths = b.completion_mask.sum(-1)
        assert int(lengths.min()) < b.completion_ids.shape[1]  # some rows did finish early
        for name in ("policy_logp", "ref_logp", "sample_logp"):
            v = getattr(b, name)
            assert torch.isfinite(v).all(), name
            assert (v[b.completion_mask == 0] == 0).all(), name


# --- one β per row (Nash-MD-PG draws y ~ π and y' ~ mixture in one batch) -------------------


@pytest.mark.parametrize(
    "betas,compact_below",
    [
        ([0.3] * 6, 0.75),  # one β: each pair's prompt encoded once, its cache shared
        ([0.0, 0.4, 0.0, 0.4, 0.0, 1.0], 0.0),
        ([0.0, 0.4, 0.0, 0.4, 0.0, 1.0], 0.99),
    ],
)
def test_sampling_logprobs_are_exact_for_each_row(small_tok, betas, compact_below):
    """Rows in pairs sharing a prompt (``group = 2``), one β or one per row: every row's
    sampling log-prob is that of its own β, recomputed without cache, also when finished rows
    leave π's and μ's batches (μ decodes only the rows with β > 0: its row map differs)."""
    tok = small_tok
    pi = Policy(_peaked(tiny_gpt2(tok, seed=0), 1.5, 0), tok)
    mu = Policy(_peaked(tiny_gpt2(tok, seed=1), 1.5, 1), tok)
    prompts = ["x y z x", "x y z x", "z", "z", "y x", "y x"]
    ids, mask = encode_prompts(tok, prompts)
    b = generate(
        pi,
        ids,
        mask,
        ref=mu,
        beta=betas,
        max_new_tokens=T,
        temperature=0.9,
        group=2,
        compact_below=compact_below,
        generator=torch.Generator().manual_seed(2),
    )
    assert (b.ref_logp is None) == (min(betas) == 0.0)  # μ does not run on β = 0 rows
    for i, (p, beta) in enumerate(zip(prompts, betas)):
        p_ids = tok(p, add_special_tokens=False)["input_ids"]
        seq = b.completion_ids[i][b.completion_mask[i].bool()].tolist()
        want = _exact_logp(pi, mu, p_ids, seq, beta, 0.9)
        assert abs(float(b.sample_logp[i].sum()) - want) < 1e-4, (i, beta)
        assert abs(float(b.policy_logp[i].sum()) - _exact_logp(pi, mu, p_ids, seq, 0, 1)) < 1e-4


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_t5])
def test_per_row_beta_when_the_mixture_rows_finish_first(small_tok, make):
    """μ's rows (β = 1 here) all end at their first token while π's go on: μ stops decoding
    (an empty batch is never fed to the model) and π's rows stay exact."""
    tok = small_tok
    pi = Policy(_peaked(make(tok, seed=0), 1.5, 0), tok)
    mu = Policy(make(tok, seed=1), tok)

    def eos_only(mod, args, out):
        out[..., tok.eos_token_id] += 100.0
        return out

    mu.model.get_output_embeddings().register_forward_hook(eos_only)
    prompts = ["x y z x", "x y z x", "z", "z"]
    ids, mask = encode_prompts(tok, prompts)
    gen = torch.Generator().manual_seed(0)
    b = generate(pi, ids, mask, ref=mu, beta=[0, 1, 0, 1], max_new_tokens=T, group=2, generator=gen)
    assert b.completion_mask[1::2].sum(-1).tolist() == [1, 1]
    for i in (0, 2):
        p_ids = tok(prompts[i], add_special_tokens=False)["input_ids"]
        seq = b.completion_ids[i][b.completion_mask[i].bool()].tolist()
        assert abs(float(b.sample_logp[i].sum()) - _exact_logp(pi, mu, p_ids, seq, 0, 1)) < 1e-4


def test_per_row_beta_distributions_match_exact_enumeration(small_tok):
    """Interleaved rows with β = (0, β): the even rows are distributed as π, the odd ones as
    the mixture (chi-square against the enumeration), each told apart from the other."""
    tok = small_tok
    pi = Policy(_peaked(tiny_gpt2(tok, seed=0), 1.5, 0), tok)
    mu = Policy(_peaked(tiny_gpt2(tok, seed=1), 1.5, 1), tok)
    beta, n, p = 0.6, 3000, "x y z x"
    ids, mask = encode_prompts(tok, [p] * (2 * n))
    b = generate(
        pi,
        ids,
        mask,
        ref=mu,
        beta=[0.0, beta] * n,
        max_new_tokens=T,
        group=2,
        generator=torch.Generator().manual_seed(4),
    )
    p_ids = tok(p, add_special_tokens=False)["input_ids"]
    seqs = _all_sequences(len(tok), tok.eos_token_id)
    probs = {bt: np.exp([_exact_logp(pi, mu, p_ids, s, bt, 1.0) for s in seqs]) for bt in (0, beta)}
    for parity, own, other in ((0, 0, beta), (1, beta, 0)):
        rows = slice(parity, None, 2)
        assert _pvalue(b, rows, seqs, probs[own]) > 1e-3, parity
        assert _pvalue(b, rows, seqs, probs[other]) < 1e-6, parity


def test_per_row_beta_runs_mu_only_on_the_mixture_rows(tok, input_shapes):
    """π decodes every row, μ only the rows with β > 0; a uniform list is the scalar call."""
    pi = Policy(tiny_gpt2(tok, seed=0), tok)
    mu = Policy(tiny_gpt2(tok, seed=1), tok)
    shapes = input_shapes(pi=pi, mu=mu)
    ids, mask = encode_prompts(tok, ["the cat sat", "the cat sat", "a dog", "a dog"])
    generate(
        pi,
        ids,
        mask,
        ref=mu,
        beta=[0.0, 0.5, 0.0, 0.5],
        max_new_tokens=4,
        group=2,
        compact_below=0,
        generator=torch.Generator().manual_seed(0),
    )
    rows = {k: [r for r, _ in v] for k, v in shapes.items()}
    assert rows["pi"][0] == 2 and set(rows["pi"][1:]) == {4}  # one prompt encoding per pair
    assert rows["mu"][0] == 2 and set(rows["mu"][1:]) == {2}  # the two mixture rows only
    args = {"ref": mu, "max_new_tokens": 5, "track_ref": True}
    a = generate(pi, ids, mask, beta=0.3, generator=torch.Generator().manual_seed(1), **args)
    b = generate(pi, ids, mask, beta=[0.3] * 4, generator=torch.Generator().manual_seed(1), **args)
    for name in ("completion_ids", "sample_logp", "policy_logp", "ref_logp"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize(
    "beta,msg",
    [([0.0, 0.5, 0.5], "3 values for 2 rows"), ([0.0, 1.5], r"beta\[1\] = 1.5"), (-0.1, "beta =")],
)
def test_bad_per_row_beta(tok, beta, msg):
    pi = Policy(tiny_gpt2(tok, seed=0), tok)
    mu = Policy(tiny_gpt2(tok, seed=1), tok)
    ids, mask = encode_prompts(tok, ["the cat", "a dog"])
    with pytest.raises(ValueError, match=msg):
        generate(pi, ids, mask, ref=mu, beta=beta)
