"""FactSum task and gold judge: determinism, parsing, and the judge's stated formula."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefgame.tasks import factsum as F

DOCS = F.make_documents(300, seed=123)


def test_documents_are_a_function_of_the_seed():
    a = F.make_documents(20, seed=7)
    b = F.make_documents(20, seed=7)
    c = F.make_documents(20, seed=8)
    assert [d.text for d in a] == [d.text for d in b]
    assert [d.text for d in a] != [d.text for d in c]


def test_parse_facts_recovers_the_generating_facts():
    for d in DOCS:
        assert F.parse_facts(d.text) == d.facts
        assert F.parse_facts(F.format_prompt(d)) == d.facts
        assert not set(d.distractors) & set(d.facts.values())


def test_parse_facts_rejects_a_text_without_facts():
    with pytest.raises(ValueError, match="slot"):
        F.parse_facts("the weather was grey .")


def test_vocabulary_covers_every_word():
    vocab = set(F.vocabulary())
    rng = np.random.default_rng(0)
    for d in DOCS:
        assert set(F.format_prompt(d).split()) <= vocab
        for style in F.STYLES:
            assert set(F.reference_summary(d, style).split()) <= vocab
        assert set(F.noisy_summary(d, rng).split()) <= vocab


def test_quality_terms_match_a_hand_count():
    d = F.Document(
        "on monday , alice painted in paris . alice did it for money . "
        "bob stayed at rome during friday .",
        {"who": "alice", "what": "painted", "where": "paris", "when": "monday", "why": "money"},
        ("bob", "rome", "friday"),
    )
    j = F.GoldJudge()
    ref = F.reference_summary(d)
    assert j.quality_parts(d.text, ref) == {
        "covered": 5,
        "invented": 0,
        "repeated": 0,
        "excess_len": 0,
        "q": 5.0,
    }
    # a distractor entity of the document counts as invented; a repeat costs w_rep
    y = "alice painted in rome rome"
    assert j.quality_parts(d.text, y) == {
        "covered": 2,
        "invented": 1,
        "repeated": 1,
        "excess_len": 0,
        "q": 2 - 1 - 0.5,
    }
    long = ref + " really really really really"  # 8 + 4 = 12 words: 2 beyond max_len = 10
    assert j.quality(d.text, long) == pytest.approx(5 - 2 * 0.25)


def test_reference_summaries_beat_noisy_ones():
    j = F.GoldJudge(cycle_weight=0.0)
    rng = np.random.default_rng(1)
    wins = [j.prob(d.text, F.reference_summary(d), F.noisy_summary(d, rng)) for d in DOCS]
    assert min(wins) >= 0.5
    assert np.mean(wins) > 0.8


@settings(max_examples=80, deadline=None)
@given(
    i=st.integers(0, len(DOCS) - 1),
    seed=st.integers(0, 2**16),
    lam=st.floats(0, 1),
    temp=st.floats(0.05, 5),
)
def test_judge_is_a_valid_preference(i, seed, lam, temp):
    """P(y ≻ y') + P(y' ≻ y) = 1, P(y ≻ y) = ½, and P equals the documented formula."""
    d, rng = DOCS[i], np.random.default_rng(seed)
    y, y2 = F.noisy_summary(d, rng), F.noisy_summary(d, rng)
    j = F.GoldJudge(cycle_weight=lam, temperature=temp)
    p, p2 = j.prob(d.text, y, y2), j.prob(d.text, y2, y)
    assert 0.0 <= p <= 1.0
    assert p + p2 == pytest.approx(1.0)
    assert j.prob(d.text, y, y) == pytest.approx(0.5)
    # independent re-computation of the formula from the module docstring
    key = set(d.facts.values())

    def q(s):
        w = s.split()
        e = [t for t in w if t in F.ENTITIES]
        return (
            len(key & set(e))
            - len(set(e) - key)
            - 0.5 * (len(e) - len(set(e)))
            - 0.25 * max(0, len(w) - 10)
        )

    s1, s2 = F.summary_style(y), F.summary_style(y2)
    beats = {("who", "where"), ("where", "when"), ("when", "who")}
    c = 1.0 if (s1, s2) in beats else 0.0 if (s2, s1) in beats else 0.5
    expect = (1 - lam) / (1 + math.exp(-(q(y) - q(y2)) / temp)) + lam * c
    assert p == pytest.approx(expect)


def test_styles_form_a_cycle_only_when_cycle_weight_is_positive():
    d = DOCS[0]
    who, where, when = (F.reference_summary(d, s) for s in F.STYLES)
    for lam in (0.1, 0.3):
        j = F.GoldJudge(cycle_weight=lam)
        for a, b in ((who, where), (where, when), (when, who)):
            assert j.prob(d.text, a, b) == pytest.approx(0.5 + lam / 2)  # equal quality
    j0 = F.GoldJudge(cycle_weight=0.0)
    assert j0.prob(d.text, who, where) == pytest.approx(0.5)


def test_batched_call_matches_prob_and_checks_lengths():
    j = F.GoldJudge()
    rng = np.random.default_rng(2)
    xs = [d.text for d in DOCS[:10]]
    ys = [F.noisy_summary(d, rng) for d in DOCS[:10]]
    ys2 = [F.noisy_summary(d, rng) for d in DOCS[:10]]
    np.testing.assert_allclose(j(xs, ys, ys2), [j.prob(*t) for t in zip(xs, ys, ys2)])
    with pytest.raises(ValueError, match="lengths"):
        j(xs, ys, ys2[:3])


@pytest.mark.parametrize("kwargs", [{"temperature": 0.0}, {"cycle_weight": 1.5}])
def test_judge_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        F.GoldJudge(**kwargs)


def test_config_rejects_bad_probabilities():
    with pytest.raises(ValueError, match="p_keep_fact"):
        F.FactSumConfig(p_keep_fact=1.5)
    with pytest.raises(ValueError, match="style_probs"):
        F.FactSumConfig(style_probs=(0.5, 0.5, 0.5))
