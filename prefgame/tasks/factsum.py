"""FactSum: an offline summarisation task with a programmatic gold judge.

Calandriello et al. (2024, §6) align a T5 policy on TL;DR summarisation and judge the results
side by side with a large LLM.  Nothing may be downloaded here, so this module generates a small
task with the same shape, deterministically from a seed:

**Documents.**  Each document is built from five *key facts*, one per slot

    who ∈ WHO, what ∈ WHAT, where ∈ WHERE, when ∈ WHEN, why ∈ WHY,

told in two *key sentences* (one of three word orders for the first),

    "<who> <what> in <where> on <when> ."   |   "in <where> , <who> <what> on <when> ."   |
    "on <when> , <who> <what> in <where> ."      and      "<who> did it for <why> ."

mixed, in shuffled order, with 1--3 *distractor* sentences that mention other entities of the
same kinds ("<name> stayed at <place> during <day> .", "<name> waited because of <reason> .")
and 0--2 filler sentences ("the weather was <adjective> .").  Distractors use their own function
words, so a small model can learn *which* entities to copy; copying a distractor is still
possible and is what the judge calls an invented fact.  Every word is lower-case and separated by
spaces, so a word-level tokenizer covers the task exactly (:func:`vocabulary`).

**Summaries.**  The reference summary states the five key facts in one of three *styles*, named
after the slot that comes first:

    who-first   "alice painted in paris on monday for money"
    where-first "in paris , alice painted on monday for money"
    when-first  "on monday , alice painted in paris for money"

:func:`noisy_summary` plays the human writers of the SFT data: it drops facts, copies distractor
entities, repeats words and pads with filler, so that the SFT policy leaves room for alignment.

**Gold judge** (:class:`GoldJudge`), which the training pipeline never sees.  For a document x
with key facts F (parsed back from the text by :func:`parse_facts`) and a summary y (split on
spaces), the quality score is

    q(y) = w_cov · |F ∩ y|                                 (fact coverage, 0..5)
         − w_inv · |E(y) \\ F|                              (invented / wrong entities)
         − w_rep · (#entity words in y − |E(y)|)           (repeated entities)
         − w_len · max(0, len(y) − max_len)                 (brevity)

where E(y) is the set of entity words (any word of WHO ∪ WHAT ∪ WHERE ∪ WHEN ∪ WHY) in y --
distractor entities copied from the document count as invented, because they are not facts of
the event.  The style s(y) is the slot of the first entity word in y if that is who, where or
when, and "none" otherwise.  The judge's preference is a mixture of a transitive and an
intransitive part,

    P(y ≻ y' | x) = (1 − λ) · σ((q(y) − q(y')) / T)  +  λ · C[s(y), s(y')],

with the rock--paper--scissors cycle  who ≻ where ≻ when ≻ who  (C = 1 for the winner, 0 for
the loser, ½ for equal styles or when either style is "none").  Both parts satisfy
P(y ≻ y') + P(y' ≻ y) = 1 and P(y ≻ y) = ½.  With λ = 0 the judge is a Bradley--Terry model
with reward q / T, where RLHF and Nash methods agree up to regularisation; with λ > 0 no reward
explains the style preferences, the case NLHF argues for.  The judge is a deterministic
function of the two texts; training uses a *learned* preference or reward model fitted to hard
labels drawn from it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

__all__ = [
    "PROMPT_SUFFIX",
    "SLOTS",
    "STYLES",
    "WHAT",
    "WHEN",
    "WHERE",
    "WHO",
    "WHY",
    "Document",
    "FactSumConfig",
    "GoldJudge",
    "format_prompt",
    "make_documents",
    "noisy_summary",
    "parse_facts",
    "reference_summary",
    "summary_style",
    "vocabulary",
]

WHO = (
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "oscar",
)
WHAT = (
    "painted",
    "sold",
    "built",
    "repaired",
    "visited",
    "cleaned",
    "opened",
    "closed",
    "designed",
    "tested",
)
WHERE = ("paris", "rome", "oslo", "lima", "cairo", "delhi", "tokyo", "quito", "dakar", "seoul")
WHEN = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "dawn",
    "noon",
    "midnight",
)
WHY = ("money", "fun", "love", "duty", "fame", "science", "charity", "revenge")
ADJECTIVES = ("grey", "sunny", "cold", "windy", "quiet", "busy", "warm", "wet")
FILLER = ("really", "also", "then", "and", "very", "the", "it", "was")

SLOTS = ("who", "what", "where", "when", "why")
_VALUES = {"who": WHO, "what": WHAT, "where": WHERE, "when": WHEN, "why": WHY}
_SLOT_OF = {w: s for s, vals in _VALUES.items() for w in vals}
ENTITIES = frozenset(_SLOT_OF)

#: The three summary styles, in cycle order: each beats the next one (who ≻ where ≻ when ≻ who).
STYLES = ("who", "where", "when")

#: The policy's prompt is the document followed by this cue.
PROMPT_SUFFIX = "summary :"

_FUNCTION_WORDS = (
    "in",
    "on",
    "for",
    ",",
    ".",
    ":",
    "did",
    "it",
    "stayed",
    "waited",
    "the",
    "weather",
    "was",
    "summary",
    "at",
    "during",
    "because",
    "of",
)


def vocabulary() -> list[str]:
    """Every word that documents, summaries and prompts of FactSum can contain (sorted)."""
    words = set(_FUNCTION_WORDS) | set(ENTITIES) | set(ADJECTIVES) | set(FILLER)
    return sorted(words)


@dataclass(frozen=True)
class Document:
    """One generated document: its ``text`` and the five key ``facts`` (slot -> word)."""

    text: str
    facts: dict[str, str]
    distractors: tuple[str, ...]


@dataclass(frozen=True)
class FactSumConfig:
    """How documents and noisy (SFT) summaries are generated."""

    min_distractors: int = 1  # distractor sentences per document, at least
    max_distractors: int = 3  # ... and at most
    max_filler: int = 2  # filler sentences ("the weather was grey .") per document, at most
    p_keep_fact: float = 0.7  # noisy writer: probability each key fact is kept
    p_invent: float = 0.3  # noisy writer: probability of copying one distractor entity
    p_filler: float = 0.3  # noisy writer: probability of inserting one filler word (up to 3 tries)
    p_repeat: float = 0.1  # noisy writer: probability of repeating one entity
    style_probs: tuple[float, float, float] = (0.5, 0.3, 0.2)  # writer's who/where/when styles

    def __post_init__(self) -> None:
        if not 0 <= self.min_distractors <= self.max_distractors:
            raise ValueError("need 0 <= min_distractors <= max_distractors")
        for name in ("p_keep_fact", "p_invent", "p_filler", "p_repeat"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} = {v!r}, must lie in [0, 1]")
        if len(self.style_probs) != 3 or abs(sum(self.style_probs) - 1.0) > 1e-9:
            raise ValueError(f"style_probs = {self.style_probs!r}, must be 3 numbers summing to 1")


def _pick_other(rng: np.random.Generator, values: Sequence[str], exclude: str) -> str:
    choices = [v for v in values if v != exclude]
    return choices[int(rng.integers(len(choices)))]


def _make_document(rng: np.random.Generator, cfg: FactSumConfig) -> Document:
    facts = {s: _VALUES[s][int(rng.integers(len(_VALUES[s])))] for s in SLOTS}
    who, what, where, when, why = (facts[s] for s in SLOTS)
    order = int(rng.integers(3))
    key1 = (
        f"{who} {what} in {where} on {when} .",
        f"in {where} , {who} {what} on {when} .",
        f"on {when} , {who} {what} in {where} .",
    )[order]
    key2 = f"{who} did it for {why} ."
    sentences = [key1, key2]
    distractors: list[str] = []
    for _ in range(int(rng.integers(cfg.min_distractors, cfg.max_distractors + 1))):
        name = _pick_other(rng, WHO, who)
        if rng.random() < 0.6:
            place, day = _pick_other(rng, WHERE, where), _pick_other(rng, WHEN, when)
            sentences.append(f"{name} stayed at {place} during {day} .")
            distractors += [name, place, day]
        else:
            reason = _pick_other(rng, WHY, why)
            sentences.append(f"{name} waited because of {reason} .")
            distractors += [name, reason]
    for _ in range(int(rng.integers(cfg.max_filler + 1))):
        sentences.append(f"the weather was {ADJECTIVES[int(rng.integers(len(ADJECTIVES)))]} .")
    rng.shuffle(sentences)
    return Document(" ".join(sentences), facts, tuple(distractors))


def make_documents(n: int, *, seed: int, config: FactSumConfig | None = None) -> list[Document]:
    """``n`` documents, a deterministic function of ``seed`` (and ``config``)."""
    if n < 0:
        raise ValueError(f"n = {n}, must be >= 0")
    cfg = config or FactSumConfig()
    rng = np.random.default_rng(seed)
    return [_make_document(rng, cfg) for _ in range(n)]


def format_prompt(doc: Document | str) -> str:
    """The policy's prompt: document text followed by ``"summary :"``."""
    text = doc.text if isinstance(doc, Document) else doc
    return f"{text} {PROMPT_SUFFIX}"


@lru_cache(maxsize=65536)
def key_facts(text: str) -> frozenset[str]:
    """The set of key-fact words of a document (or prompt), cached: :func:`parse_facts`."""
    return frozenset(parse_facts(text).values())


def parse_facts(text: str) -> dict[str, str]:
    """Recover the five key facts from a document (or prompt) text.

    The key sentence is the one holding a WHAT word: who is its WHO word, where follows "in",
    when follows "on".  why follows "did it for".  Raises ``ValueError`` if a slot is missing.
    """
    facts: dict[str, str] = {}
    for sent in text.split(" . "):
        words = sent.replace(" .", "").split()
        if any(w in WHAT for w in words):
            for i, w in enumerate(words):
                if w in WHAT:
                    facts["what"] = w
                elif w in WHO:
                    facts["who"] = w
                elif w == "in" and i + 1 < len(words):
                    facts["where"] = words[i + 1]
                elif w == "on" and i + 1 < len(words):
                    facts["when"] = words[i + 1]
        elif "did it for" in sent:
            facts["why"] = words[words.index("for") + 1]
    missing = [s for s in SLOTS if s not in facts]
    if missing:
        raise ValueError(f"document has no key fact for slot(s) {missing}: {text[:80]!r}")
    return facts


def reference_summary(facts: dict[str, str] | Document, style: str = "who") -> str:
    """The ideal summary of the key facts in the given style ("who", "where" or "when")."""
    f = facts.facts if isinstance(facts, Document) else facts
    who, what, where, when, why = (f[s] for s in SLOTS)
    if style == "who":
        return f"{who} {what} in {where} on {when} for {why}"
    if style == "where":
        return f"in {where} , {who} {what} on {when} for {why}"
    if style == "when":
        return f"on {when} , {who} {what} in {where} for {why}"
    raise ValueError(f"style = {style!r}, must be one of {STYLES}")


def noisy_summary(
    doc: Document, rng: np.random.Generator, config: FactSumConfig | None = None
) -> str:
    """A summary as an imperfect human writer would produce it (the SFT data).

    Starts from :func:`reference_summary` in a random style, then drops each key fact with
    probability 1 − p_keep_fact (with its function word), may swap in a distractor entity,
    repeat an entity, or insert filler words.
    """
    cfg = config or FactSumConfig()
    style = STYLES[int(rng.choice(3, p=np.asarray(cfg.style_probs)))]
    words = reference_summary(doc, style).split()
    out: list[str] = []
    skip_next = keep_next = False
    for i, w in enumerate(words):
        if skip_next or keep_next:
            if keep_next:
                out.append(w)
            skip_next = keep_next = False
            continue
        nxt = words[i + 1] if i + 1 < len(words) else None
        if w in ("in", "on", "for") and nxt in ENTITIES:  # a fact with its function word
            keep = rng.random() < cfg.p_keep_fact
            skip_next, keep_next = not keep, keep
            if not keep:
                continue
        elif w in ENTITIES and rng.random() >= cfg.p_keep_fact:
            continue
        out.append(w)
    if out and out[0] == ",":
        out = out[1:]
    out = [w for j, w in enumerate(out) if not (w == "," and j > 0 and out[j - 1] == ",")]
    if doc.distractors and rng.random() < cfg.p_invent:
        bad = doc.distractors[int(rng.integers(len(doc.distractors)))]
        ents = [j for j, w in enumerate(out) if w in ENTITIES]
        if ents and rng.random() < 0.5:
            out[ents[int(rng.integers(len(ents)))]] = bad
        else:
            out.append(bad)
    if out and rng.random() < cfg.p_repeat:
        ents = [w for w in out if w in ENTITIES]
        if ents:
            out.append(ents[int(rng.integers(len(ents)))])
    for _ in range(3):
        if rng.random() < cfg.p_filler:
            out.insert(int(rng.integers(len(out) + 1)), FILLER[int(rng.integers(len(FILLER)))])
    return " ".join(out)


def summary_style(summary: str) -> str:
    """Style of a summary: the slot of its first entity word if who/where/when, else "none"."""
    for w in summary.split():
        if w in ENTITIES:
            slot = _SLOT_OF[w]
            return slot if slot in STYLES else "none"
    return "none"


def _cycle(s: str, s2: str) -> float:
    """C[s, s']: 1 if style s beats s' in the cycle who ≻ where ≻ when ≻ who, 0 if it loses,
    ½ if equal or either is "none"."""
    if s == s2 or "none" in (s, s2):
        return 0.5
    i, j = STYLES.index(s), STYLES.index(s2)
    return 1.0 if (j - i) % 3 == 1 else 0.0


#: C[s, s'] for style indices (who, where, when, none), the table form of :func:`_cycle`.
_CYCLE = np.array([[_cycle(a, b) for b in (*STYLES, "none")] for a in (*STYLES, "none")])


@dataclass(frozen=True)
class GoldJudge:
    """The gold preference P(y ≻ y' | x) of FactSum (formula in the module docstring).

    Call it as ``judge(prompts, ys, ys2) -> np.ndarray`` of probabilities (a batch of decoded
    texts), or use :meth:`prob` / :meth:`quality` for a single pair / summary.
    """

    w_cov: float = 1.0  # reward per key fact covered
    w_inv: float = 1.0  # penalty per invented or wrong entity
    w_rep: float = 0.5  # penalty per repeated entity word
    w_len: float = 0.25  # penalty per word beyond max_len
    max_len: int = 10  # words allowed before the brevity penalty starts (references have 8-9)
    temperature: float = 0.5  # T in σ((q − q') / T)
    cycle_weight: float = 0.3  # λ, weight of the intransitive style cycle
    name: str = field(default="factsum-gold", compare=False)

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature = {self.temperature!r}, must be > 0")
        if not 0.0 <= self.cycle_weight <= 1.0:
            raise ValueError(f"cycle_weight = {self.cycle_weight!r}, must lie in [0, 1]")

    def describe(self) -> str:
        """One line naming the judge and its parameters (stored in ``winrates.json``)."""
        return (
            f"{self.name}: P = (1-{self.cycle_weight})*sigmoid((q-q')/{self.temperature}) "
            f"+ {self.cycle_weight}*cycle(who>where>when>who); q = {self.w_cov}*covered "
            f"- {self.w_inv}*invented - {self.w_rep}*repeated "
            f"- {self.w_len}*max(0, len-{self.max_len})"
        )

    def quality(self, prompt: str, summary: str) -> float:
        """q(y): coverage − invented − repeated − length penalties (module docstring)."""
        return self.quality_parts(prompt, summary)["q"]

    def quality_parts(self, prompt: str, summary: str) -> dict[str, float]:
        """The terms of q(y) separately: covered, invented, repeated, excess_len, and q."""
        key = key_facts(prompt)
        words = summary.split()
        ents = [w for w in words if w in ENTITIES]
        distinct = set(ents)
        covered = len(key & distinct)
        invented = len(distinct - key)
        repeated = len(ents) - len(distinct)
        excess = max(0, len(words) - self.max_len)
        q = (
            self.w_cov * covered
            - self.w_inv * invented
            - self.w_rep * repeated
            - self.w_len * excess
        )
        return {
            "covered": covered,
            "invented": invented,
            "repeated": repeated,
            "excess_len": excess,
            "q": q,
        }

    def prob(self, prompt: str, y: str, y2: str) -> float:
        """P(y ≻ y' | x) for one pair."""
        dq = (self.quality(prompt, y) - self.quality(prompt, y2)) / self.temperature
        transitive = 1.0 / (1.0 + math.exp(-dq))
        cyc = _cycle(summary_style(y), summary_style(y2))
        return (1.0 - self.cycle_weight) * transitive + self.cycle_weight * cyc

    def scores(self, prompts: Sequence[str], ys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per summary: q(y) and the style index (0 who, 1 where, 2 when, 3 none)."""
        if len(prompts) != len(ys):
            raise ValueError(f"lengths differ: {len(prompts)}, {len(ys)}")
        q = np.array([self.quality(x, y) for x, y in zip(prompts, ys)], dtype=float)
        order = (*STYLES, "none")
        s = np.array([order.index(summary_style(y)) for y in ys], dtype=int)
        return q, s

    def prob_from_scores(
        self, q: np.ndarray, s: np.ndarray, q2: np.ndarray, s2: np.ndarray
    ) -> np.ndarray:
        """P(y ≻ y') from :meth:`scores` of both sides (broadcasting): the module formula."""
        transitive = 1.0 / (1.0 + np.exp(-(np.asarray(q) - np.asarray(q2)) / self.temperature))
        return (1.0 - self.cycle_weight) * transitive + self.cycle_weight * _CYCLE[s, s2]

    def __call__(self, prompts: Sequence[str], ys: Sequence[str], ys2: Sequence[str]) -> np.ndarray:
        if not len(prompts) == len(ys) == len(ys2):
            raise ValueError(f"lengths differ: {len(prompts)}, {len(ys)}, {len(ys2)}")
        return self.prob_from_scores(*self.scores(prompts, ys), *self.scores(prompts, ys2))
