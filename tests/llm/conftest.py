"""Shared tiny fixtures: a local word tokenizer, tiny GPT-2 / T5 policies, a toy judge."""

import pytest
import torch

from prefgame.llm import CallableJudge, build_word_tokenizer


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run fastest on one thread on the shared 2-core machine (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "dog",
    "ran",
    "far",
    "away",
    "good",
    "bad",
    "fine",
    "short",
    "long",
    "text",
]


@pytest.fixture(scope="session")
def tok():
    return build_word_tokenizer([" ".join(WORDS)])


@pytest.fixture(scope="session")
def prompts():
    return [" ".join(WORDS[i : i + 2 + i % 3]) for i in range(8)]


def count_good(y: str) -> int:
    return y.split().count("good")


@pytest.fixture(scope="session")
def good_judge():
    """Prefers the completion with more occurrences of "good" (ties: ½); antisymmetric."""

    def p(x, y, y2):
        a, b = count_good(y), count_good(y2)
        return 0.5 + 0.5 * ((a > b) - (a < b))

    return CallableJudge(p)


@pytest.fixture
def input_shapes():
    """``record(pi=policy, mu=ref)`` -> {name: [input_ids shape of each forward]}, filled as
    the named policies run (the hooks are removed after the test)."""
    hooks = []

    def record(**policies):
        shapes = {k: [] for k in policies}
        for k, p in policies.items():
            hooks.append(
                p.model.register_forward_pre_hook(
                    lambda mod, args, kw, k=k: shapes[k].append(tuple(kw["input_ids"].shape)),
                    with_kwargs=True,
                )
            )
        return shapes

    yield record
    for h in hooks:
        h.remove()
