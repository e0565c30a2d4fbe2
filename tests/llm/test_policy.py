"""Per-sequence log-probs against a hand computation on unpadded single sequences."""

import pytest
import torch

from prefgame.llm import (
    Policy,
    SequenceBatch,
    encode_completions,
    encode_prompts,
    sequence_logprobs,
    tiny_gpt2,
    tiny_t5,
    token_logprobs,
)
from prefgame.llm.policy import check_tokenizer


def _hand_logp(policy, prompt_ids, completion_ids):
    """Σ_t log softmax(logits)[y_t], one unpadded sequence at a time (no masks, no batching)."""
    model = policy.model
    with torch.no_grad():
        if policy.is_encoder_decoder:
            dec = torch.tensor([[policy.decoder_start_id()] + completion_ids[:-1]])
            logits = model(input_ids=torch.tensor([prompt_ids]), decoder_input_ids=dec).logits[0]
        else:
            ids = torch.tensor([prompt_ids + completion_ids])
            logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1]
    logp = logits.double().log_softmax(-1)
    return [float(logp[t, y]) for t, y in enumerate(completion_ids)]


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_t5])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_logprobs_equal_hand_computation(tok, make, reduction):
    policy = Policy(make(tok), tok)
    prompts = ["the cat sat on a mat", "dog", "good bad fine"]
    completions = ["ran far away", "good", "the long text is short"]
    pid, pmask = encode_prompts(tok, prompts)
    cid, cmask = encode_completions(tok, completions)
    batch = SequenceBatch(pid, pmask, cid, cmask)
    got = sequence_logprobs(policy, batch, reduction=reduction).detach()
    for i, (p, c) in enumerate(zip(prompts, completions)):
        p_ids = tok(p, add_special_tokens=False)["input_ids"]
        c_ids = tok(c, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        per_tok = _hand_logp(policy, p_ids, c_ids)
        want = sum(per_tok) / (len(per_tok) if reduction == "mean" else 1)
        assert abs(float(got[i]) - want) < 1e-4
    # masked positions contribute exactly zero, whatever token sits there
    tl = token_logprobs(policy, batch)
    assert torch.all(tl[cmask == 0] == 0)


def test_padding_tokens_do_not_change_logprobs(tok):
    policy = Policy(tiny_gpt2(tok), tok)
    pid, pmask = encode_prompts(tok, ["the cat", "a dog ran far away"])
    cid, cmask = encode_completions(tok, ["good", "bad fine"])
    a = sequence_logprobs(policy, SequenceBatch(pid, pmask, cid, cmask))
    cid2 = cid.masked_fill(cmask == 0, 7)
    pid2 = pid.masked_fill(pmask == 0, 9)
    b = sequence_logprobs(policy, SequenceBatch(pid2, pmask, cid2, cmask))
    torch.testing.assert_close(a, b)


def test_gradients_flow_only_through_the_policy(tok):
    policy = Policy(tiny_gpt2(tok), tok)
    ref = policy.reference()
    pid, pmask = encode_prompts(tok, ["the cat"])
    cid, cmask = encode_completions(tok, ["good"])
    b = SequenceBatch(pid, pmask, cid, cmask)
    sequence_logprobs(policy, b).sum().backward()
    assert policy.model.transformer.wte.weight.grad is not None
    assert not any(q.requires_grad for q in ref.model.parameters())


def test_tokenizer_without_pad_token_is_rejected(tok):
    import copy

    bad = copy.deepcopy(tok)
    bad.pad_token = None
    with pytest.raises(ValueError, match="no pad token"):
        check_tokenizer(bad)
    with pytest.raises(ValueError, match="no pad token"):
        Policy(tiny_gpt2(tok), bad)


def test_load_pretrained_policy_checks_tokenizer_before_loading(tok):
    import copy

    from prefgame.llm import load_pretrained_policy

    bad = copy.deepcopy(tok)
    bad.pad_token = None
    # the name does not exist: reaching the loader would raise OSError, not ValueError
    with pytest.raises(ValueError, match="no pad token"):
        load_pretrained_policy("/nonexistent/model", tokenizer=bad)


def test_lora_reference_is_base_model_with_adapters_off(tok):
    from prefgame.llm import add_lora

    base = tiny_gpt2(tok)
    with torch.no_grad():
        pid, pmask = encode_prompts(tok, ["the cat sat"])
        cid, cmask = encode_completions(tok, ["good dog"])
        b = SequenceBatch(pid, pmask, cid, cmask)
        want = token_logprobs(Policy(base, tok), b)
        lora = add_lora(tiny_gpt2(tok), r=2, target_modules=["c_attn"])
        for name, q in lora.named_parameters():
            if "lora_B" in name:
                q.normal_()  # make the adapters non-trivial
        policy = Policy(lora, tok)
        ref = policy.reference()
        assert ref.model is policy.model and ref.adapters_off
        torch.testing.assert_close(token_logprobs(ref, b), want)
        assert not torch.allclose(token_logprobs(policy, b), want)


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_t5])
def test_shared_prompt_encoding_gives_the_same_logprobs_and_gradients(tok, make):
    policy = Policy(make(tok), tok)
    prompts = ["the cat", "the cat", "a dog ran far", "a dog ran far"]
    pid, pmask = encode_prompts(tok, prompts)
    cid, cmask = encode_completions(tok, ["sat on", "mat", "good bad dog", "fine"])
    b = SequenceBatch(pid, pmask, cid, cmask)
    params = [q for q in policy.model.parameters()]
    plain, shared = token_logprobs(policy, b), token_logprobs(policy, b, group=2)
    torch.testing.assert_close(plain, shared, atol=1e-5, rtol=0)
    g1 = torch.autograd.grad(plain.sum(), params, allow_unused=True)
    g2 = torch.autograd.grad(shared.sum(), params, allow_unused=True)
    for a, c in zip(g1, g2):
        if a is not None:
            torch.testing.assert_close(a, c, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="share one prompt"):
        token_logprobs(
            policy, SequenceBatch(pid[[0, 2, 1, 3]], pmask[[0, 2, 1, 3]], cid, cmask), group=2
        )


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_t5])
def test_next_token_distribution_matches_the_first_completion_token(tok, make):
    from prefgame.llm import next_token_distribution

    policy = Policy(make(tok), tok)
    prompts = ["the cat sat on a mat", "dog"]  # different lengths: left padding must not matter
    completions = ["good", "bad fine"]
    dist = next_token_distribution(policy, prompts)
    assert dist.shape[0] == 2 and torch.allclose(dist.sum(-1), torch.ones(2), atol=1e-5)
    pid, pmask = encode_prompts(tok, prompts)
    cid, cmask = encode_completions(tok, completions)
    batch = SequenceBatch(pid, pmask, cid, cmask)
    with torch.no_grad():
        first = token_logprobs(policy, batch)[:, 0].exp()
    torch.testing.assert_close(
        dist[torch.arange(2), cid[:, 0]], first.float(), atol=1e-5, rtol=1e-4
    )


def _framed(tok):
    """``tok`` with a Llama/T5-like post-processor: ``<bos> text <eos>``."""
    import copy

    from tokenizers.processors import TemplateProcessing

    framed = copy.deepcopy(tok)
    framed._tokenizer.post_processor = TemplateProcessing(
        single="<bos> $A <eos>",
        special_tokens=[("<bos>", tok.bos_token_id), ("<eos>", tok.eos_token_id)],
    )
    return framed


def test_encode_prompts_keeps_the_tokenizers_special_tokens(tok):
    framed = _framed(tok)
    bos, eos = tok.bos_token_id, tok.eos_token_id
    ids, mask = encode_prompts(framed, ["the cat sat on a mat", "dog"], max_length=4)
    body = tok("a mat", add_special_tokens=False)["input_ids"]
    assert ids[0].tolist() == [bos, *body, eos]  # cut from the left, BOS and EOS kept
    assert ids[1][mask[1].bool()].tolist() == framed("dog")["input_ids"]  # = standard encoding
    # a plain tokenizer (GPT-2-like) adds nothing; add_special_tokens=False gives the bare text
    assert encode_prompts(tok, ["dog"])[0].tolist() == [tok("dog")["input_ids"]]
    bare, _ = encode_prompts(framed, ["dog"], add_special_tokens=False)
    assert bare.tolist() == [tok("dog", add_special_tokens=False)["input_ids"]]
    with pytest.raises(ValueError, match="special tokens"):
        encode_prompts(framed, ["dog"], max_length=1)


def test_lora_adapters_are_seeded(tok, tmp_path):
    """Two runs with the same seed get the same adapters, whatever the global RNG did."""
    from prefgame.llm import OnlineConfig, policy_from_config

    tiny_gpt2(tok).save_pretrained(tmp_path / "p")
    tok.save_pretrained(tmp_path / "p")
    cfg = OnlineConfig(
        policy_name=str(tmp_path / "p"), lora_r=2, lora_target_modules=["c_attn"], seed=0
    )
    states = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        policy, _ = policy_from_config(cfg)
        states.append({k: v.clone() for k, v in policy.model.state_dict().items() if "lora" in k})
    assert states[0] and all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    other, _ = policy_from_config(OnlineConfig(**{**cfg.to_dict(), "seed": 1}))
    assert not all(torch.equal(v, other.model.state_dict()[k]) for k, v in states[0].items())


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_tempered_logprobs_are_log_softmax_of_scaled_logits(tok, temperature):
    policy = Policy(tiny_gpt2(tok), tok)
    pid, pmask = encode_prompts(tok, ["the cat sat"])
    cid, cmask = encode_completions(tok, ["good dog"])
    b = SequenceBatch(pid, pmask, cid, cmask)
    with torch.no_grad():
        logits = policy.model(input_ids=torch.cat([pid, cid], 1)).logits[0, pid.shape[1] - 1 : -1]
        want = (logits.double() / temperature).log_softmax(-1).gather(-1, cid[0, :, None])[:, 0]
        got = token_logprobs(policy, b, temperature=temperature)[0]
    torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=0)
