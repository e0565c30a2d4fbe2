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


# --- long prompts, eval mode, answer spellings (issue 10, items 1 and 8) ----------------------

LONG = "the text goes on and on. " * 12  # 300 characters: longer than the judges' max_length


@pytest.mark.parametrize("cls", [PairwisePreferenceModel, RewardModel])
def test_a_long_prompt_is_cut_from_the_left_and_completions_kept_whole(judge_tok, cls):
    judge = cls(tiny_sequence_classifier(judge_tok, seed=3), judge_tok, max_length=80)
    wide = cls(judge.model, judge_tok, max_length=500)  # reads everything: no cut needed
    y, y2 = "good summary", "bad one"
    with pytest.warns(UserWarning, match="cut from the left"):
        p = judge([LONG], [y], [y2])
    assert float(p) != 0.5  # right truncation cut both summaries off: P was exactly ½
    # character tokenizer without special tokens: the kept prompt is the last
    # (80 − length of the rest) characters, the same for both orders
    fields = {"first": y, "second": y2} if cls is PairwisePreferenceModel else {"completion": y}
    rest = len(judge.template.format(prompt="", **fields))
    if cls is RewardModel:
        rest = max(rest, len(judge.template.format(prompt="", completion=y2)))
        with pytest.warns(UserWarning):
            r = judge.reward([LONG, LONG], [y, y2])
        assert float(r[0].detach()) != float(
            r[1].detach()
        )  # one reward per completion, not one for all
        torch.testing.assert_close(
            r,
            wide.reward(
                [
                    LONG[-(80 - len(judge.template.format(prompt="", completion=c))) :]
                    for c in (y, y2)
                ],
                [y, y2],
            ),
        )
    else:
        assert torch.equal(p, wide([LONG[-(80 - rest) :]], [y], [y2]))


def test_completions_that_do_not_fit_the_judge_are_an_error(judge_tok):
    pm = PairwisePreferenceModel(tiny_sequence_classifier(judge_tok), judge_tok, max_length=30)
    with pytest.raises(ValueError, match="completions do not fit"):
        pm(["x"], ["good " * 5], ["bad " * 5])


def test_fit_prompt_with_a_bos_eos_tokenizer(judge_tok):
    import copy

    from tokenizers.processors import TemplateProcessing

    from prefgame.llm.judges import fit_prompt

    tok = copy.deepcopy(judge_tok)
    tok._tokenizer.post_processor = TemplateProcessing(
        single="<bos> $A <eos>", special_tokens=[("<bos>", 2), ("<eos>", 1)]
    )
    text, cut = fit_prompt(tok, "{prompt}|{first}", 12, prompt="abcdefghij", first="xyz")
    assert cut and text == "efghij|xyz"  # 2 special tokens + 6 + 4 characters = 12
    text, cut = fit_prompt(tok, "{prompt}|{first}", 12, prompt="ab", first="xyz")
    assert not cut and text == "ab|xyz"


def test_judges_score_in_eval_mode(judge_tok):
    """A judge left in train mode (dropout 0.1) still scores antisymmetrically."""
    from transformers import GPT2Config, GPT2ForSequenceClassification

    cfg = GPT2Config(
        n_layer=2,
        n_embd=64,
        n_head=2,
        n_positions=512,
        num_labels=1,
        vocab_size=len(judge_tok),
        pad_token_id=judge_tok.pad_token_id,
    )
    torch.manual_seed(0)
    pm = PairwisePreferenceModel(GPT2ForSequenceClassification(cfg).train(), judge_tok)
    llm = LLMJudge(
        tiny_gpt2(judge_tok, n_positions=512, seed=2, dropout=0.1).train(),
        judge_tok,
        max_length=400,
    )
    for judge in (pm, llm):
        p, q = judge(X, Y, Y2), judge(X, Y2, Y)
        assert torch.equal(p + q, torch.ones(4)) and not judge.model.training


class _AnswersGood(torch.nn.Module):
    """A fake causal LM: after "... A {first} B {second} Answer:" it puts logit s on " 1" and
    −s on " 2" (the space-prefixed BPE tokens), s = #good in first − #good in second; the bare
    "1"/"2" tokens get logit 0."""

    def __init__(self, tok):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        v = tok.get_vocab()
        self.good, self.a, self.b = v["Ġgood"], v["ĠA"], v["ĠB"]
        self.one, self.two, self.n = v["Ġ1"], v["Ġ2"], len(tok)

    def forward(self, input_ids, attention_mask=None, position_ids=None):
        from types import SimpleNamespace

        logits = torch.zeros(*input_ids.shape, self.n)
        for i, row in enumerate(input_ids.tolist()):
            ia, ib = row.index(self.a), row.index(self.b)
            s = row[ia:ib].count(self.good) - row[ib:].count(self.good)
            logits[i, -1, self.one], logits[i, -1, self.two] = s, -s
        return SimpleNamespace(logits=logits + self.w)


def test_llm_judge_reads_the_space_prefixed_answer_tokens():
    from tokenizers import Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    words = [
        "<pad>",
        "<eos>",
        "<bos>",
        "<unk>",
        "1",
        "2",
        "Ġ1",
        "Ġ2",
        "x",
        "ĠA",
        "ĠB",
        "Ġgood",
        "Ġbad",
        "ĠAnswer",
        ":",
    ]
    raw = Tokenizer(WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
    )
    assert tok(" 1", add_special_tokens=False)["input_ids"] == [6]  # " 1" is its own token
    judge = LLMJudge(_AnswersGood(tok), tok, template="{prompt} A {first} B {second} Answer:")
    p = judge(["x"], [" good good"], [" bad"])
    # z = (g(y, y') − g(y', y))/2 with g = lse(s, 0) − lse(−s, 0), s = ±2
    s = torch.tensor(2.0)
    g = torch.logaddexp(s, torch.zeros(())) - torch.logaddexp(-s, torch.zeros(()))
    torch.testing.assert_close(p, torch.sigmoid(g).reshape(1))
    assert float(p) > 0.8  # scoring only "1"/"2" gave exactly ½
