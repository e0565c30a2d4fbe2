"""The enumerable sequence game (prefgame.tasks.sequence_game): its completions, its
preference and its prefix tree, each checked against a second computation."""

import itertools

import numpy as np
import pytest

from prefgame.games import validate_preference_matrix
from prefgame.tasks.sequence_game import SequenceGame


@pytest.mark.parametrize(("k", "L"), [(2, 3), (3, 3), (3, 4), (4, 2)])
def test_completions_are_every_string_up_to_length_L(k, L):
    words = tuple("abcd"[:k])
    g = SequenceGame(words=words, max_length=L, prompt="a")
    assert g.n == sum(k**j for j in range(L + 1))
    assert len(set(g.sequences)) == g.n
    ids = g.token_ids()
    for s, y, n_tok in zip(g.sequences, ids, g.n_tokens):
        assert len(y) == n_tok <= L
        assert (y[-1] == 0) == (len(s) < L)  # EOS exactly when the length limit was not hit
        assert 0 not in y[:-1]
    assert g.index(g.texts).tolist() == list(range(g.n))


def test_preference_is_valid_and_intransitive():
    g = SequenceGame()
    validate_preference_matrix(g.P)  # raises on a bad entry
    np.testing.assert_allclose(g.P + g.P.T, 1.0, rtol=0, atol=1e-15)
    a, b, c = g.index(["a", "b", "c"])
    assert g.P[a, b] > 0.5 and g.P[b, c] > 0.5 and g.P[c, a] > 0.5  # a cycle of first words
    # …that no reward explains: a Bradley–Terry P would make the cycle impossible
    empty = g.index([""])[0]
    assert (g.P[empty, np.arange(g.n) != empty] < 0.5).all()


def test_preference_formula_by_hand():
    g = SequenceGame(cycle_weight=0.4, sharpness=2.0)
    i, j = g.index(["a b", "c c c"])
    q_i, q_j = 2.0, 1.0 - 0.5 * 2  # distinct words − ½ · repeats
    cyc = -0.5  # c ≻ a: "a b" (first word a) loses the cycle to "c c c"
    expected = 0.5 + 0.4 * cyc + 0.6 * (1 / (1 + np.exp(-2.0 * (q_i - q_j))) - 0.5)
    assert g.P[i, j] == pytest.approx(expected, abs=1e-15)


def _brute_conditional(g: SequenceGame, pi: np.ndarray, prefix: tuple, v: int) -> float:
    """π(v | prefix) by summing over the completions directly."""
    ids = g.token_ids()
    below = sum(p for y, p in zip(ids, pi) if tuple(y[: len(prefix)]) == prefix)
    ext = prefix + (v,)
    return sum(p for y, p in zip(ids, pi) if tuple(y[: len(ext)]) == ext) / below


def test_conditionals_match_brute_force_and_round_trip():
    g = SequenceGame(max_length=3)
    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(g.n))
    cond = np.exp(g.conditionals(pi))
    np.testing.assert_allclose(cond.sum(-1), 1.0, atol=1e-14)
    nodes = [()] + [p for j in (1, 2) for p in itertools.product((1, 2, 3), repeat=j)]
    for a, prefix in enumerate(nodes):  # node order: by length, then lexicographic
        for v in range(4):
            assert cond[a, v] == pytest.approx(_brute_conditional(g, pi, prefix, v), rel=1e-12)
    np.testing.assert_allclose(g.from_conditionals(np.log(cond)), pi, rtol=1e-12)


def test_token_mixture_limits_and_difference_from_sequence_mixture():
    g = SequenceGame()
    rng = np.random.default_rng(1)
    pi, mu = rng.dirichlet(np.ones(g.n)), rng.dirichlet(np.ones(g.n))
    np.testing.assert_allclose(g.token_mixture(pi, mu, 0.0), pi, rtol=1e-12)
    np.testing.assert_allclose(g.token_mixture(pi, mu, 1.0), mu, rtol=1e-12)
    tok, seq = g.token_mixture(pi, mu, 0.5), g.sequence_mixture(pi, mu, 0.5)
    assert tok.sum() == pytest.approx(1.0, abs=1e-13)
    assert np.abs(tok - seq).max() > 1e-3  # the per-step normalisers differ


def test_token_and_sequence_mixture_agree_for_product_policies():
    """When π and μ are products of per-position distributions that ignore the prefix and EOS
    can only end the sequence at L (no early stop), the normalisers factorise and the two
    mixtures coincide: a check that the token-level mixture is not simply wrong."""
    g = SequenceGame(words=("a", "b"), max_length=2, prompt="a")
    ids = g.token_ids()
    rng = np.random.default_rng(2)

    def product(per_position):
        log_cond = np.log(per_position)
        p = np.array([np.prod([per_position[t][v] for t, v in enumerate(y)]) for y in ids])
        return p / p.sum(), log_cond

    # per position: a distribution over (EOS, a, b), with EOS impossible → only length-2 strings
    probs = [np.array([1e-300, *rng.dirichlet([1, 1])]) for _ in range(2)]
    probs2 = [np.array([1e-300, *rng.dirichlet([1, 1])]) for _ in range(2)]
    pi, _ = product(probs)
    mu, _ = product(probs2)
    full = np.array([len(s) == 2 for s in g.sequences])  # these four carry all the mass
    assert pi[full].sum() == pytest.approx(1.0)
    tok = g.token_mixture(pi, mu, 0.3)
    seq = g.sequence_mixture(np.maximum(pi, 1e-300), np.maximum(mu, 1e-300), 0.3)
    np.testing.assert_allclose(tok[full], seq[full], rtol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"words": ("a",)}, "at least 2 distinct words"),
        ({"words": ("a", "a")}, "at least 2 distinct words"),
        ({"words": ("a", "b c")}, "alphabetic"),
        ({"max_length": 0}, "max_length = 0"),
        ({"max_length": 2.5}, "max_length = 2.5"),
        ({"max_length": 9}, "sequences"),
        ({"cycle_weight": 1.5}, "cycle_weight = 1.5"),
        ({"sharpness": float("nan")}, "sharpness = nan"),
        ({"prompt": "z"}, "prompt 'z'"),
    ],
)
def test_bad_input_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SequenceGame(**kwargs)


def test_unknown_completion_is_named():
    with pytest.raises(ValueError, match="'a d' is not a completion"):
        SequenceGame().index(["a d"])
