"""Judges: one interface P(x, y, y'); exact antisymmetry; Bradley–Terry; training."""

import pytest
import torch

from prefgame.llm import (
    CallableJudge,
    LLMJudge,
    PairwisePreferenceModel,
    RewardModel,
    antisymmetric_sigmoid,
    build_char_tokenizer,
    tiny_gpt2,
    tiny_sequence_classifier,
    train_judge,
)

X = ["the cat sat", "a dog ran", "good text", "the mat"]
Y = ["good good", "bad", "fine short text", "the mat"]
Y2 = ["bad", "good dog", "long text", "the mat"]


@pytest.fixture(scope="module")
def judge_tok():
    # the judge has its own (character-level) tokenizer: it never sees the policy's vocabulary
    return build_char_tokenizer(["abcdefghijklmnopqrstuvwxyz .,:;!?\n12"])


def test_antisymmetric_sigmoid_is_exact():
    z = torch.randn(10_000, dtype=torch.float32) * 20
    assert torch.equal(antisymmetric_sigmoid(z) + antisymmetric_sigmoid(-z), torch.ones_like(z))
    assert float(antisymmetric_sigmoid(torch.zeros(1))) == 0.5


def test_pairwise_preference_model_is_exactly_antisymmetric(judge_tok):
    pm = PairwisePreferenceModel(tiny_sequence_classifier(judge_tok, seed=3), judge_tok)
    p = pm(X, Y, Y2)
    q = pm(X, Y2, Y)
    assert p.shape == (4,) and ((p >= 0) & (p <= 1)).all()
    assert torch.equal(p + q, torch.ones(4)), "P(y ≻ y') + P(y' ≻ y) must be exactly 1"
    assert float(p[3]) == 0.5  # y == y'
    assert not torch.allclose(p[:3], torch.full((3,), 0.5))  # and it is not trivially ½


def test_reward_model_is_bradley_terry(judge_tok):
    rm = RewardModel(tiny_sequence_classifier(judge_tok, seed=4), judge_tok)
    with torch.no_grad():
        r, r2 = rm.reward(X, Y), rm.reward(X, Y2)
    torch.testing.assert_close(rm(X, Y, Y2), torch.sigmoid(r - r2), atol=1e-6, rtol=0)
    assert torch.equal(rm(X, Y, Y2) + rm(X, Y2, Y), torch.ones(4))


def test_training_a_preference_model_fits_pairwise_data(judge_tok):
    torch.manual_seed(0)
    chosen = ["good summary", "fine text", "good", "nice short"] * 4
    rejected = ["bad", "bad bad text", "awful", "long and bad"] * 4
    prompts = ["text " + str(i % 2) for i in range(16)]
    for cls in (PairwisePreferenceModel, RewardModel):
        judge = cls(tiny_sequence_classifier(judge_tok, seed=5), judge_tok)
        losses = train_judge(judge, prompts, chosen, rejected, epochs=15, batch_size=8, lr=1e-2)
        assert losses[-1] < 0.5 * losses[0]
        assert float(judge(prompts, chosen, rejected).mean()) > 0.8


def test_callable_judge_and_its_checks():
    j = CallableJudge(lambda x, y, y2: float(len(y) < len(y2)))
    assert j(["x", "x"], ["a", "abc"], ["ab", "a"]).tolist() == [1.0, 0.0]
    sym = CallableJudge(lambda x, y, y2: 0.9, symmetrise=True)
    assert sym(["x"], ["a"], ["b"]).tolist() == [0.5]
    batched = CallableJudge(lambda xs, ys, y2s: [0.25] * len(xs), batched=True)
    assert batched(["x"] * 3, ["a"] * 3, ["b"] * 3).tolist() == [0.25] * 3
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        CallableJudge(lambda x, y, y2: 2.0)(["x"], ["a"], ["b"])
    with pytest.raises(ValueError, match="equal length"):
        j(["x"], ["a", "b"], ["c"])
    with pytest.raises(ValueError, match="not callable"):
        CallableJudge(3)


def test_llm_judge_is_antisymmetric(judge_tok):
    judge = LLMJudge(tiny_gpt2(judge_tok, n_positions=512, seed=2), judge_tok, max_length=400)
    p, q = judge(X, Y, Y2), judge(X, Y2, Y)
    assert torch.equal(p + q, torch.ones(4)) and float(p[3]) == 0.5


def test_judge_tokenizer_without_pad_is_rejected(judge_tok):
    import copy

    bad = copy.deepcopy(judge_tok)
    bad.pad_token = None
    with pytest.raises(ValueError, match="no pad token"):
        RewardModel(tiny_sequence_classifier(judge_tok), bad)
