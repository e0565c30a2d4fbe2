"""An enumerable sequence game: every completion of a tiny language listed, so that the LLM
methods can be checked *exactly* against the tabular theory.

A completion y of the prompt is a string of tokens over the vocabulary V = {EOS} ∪ W (W the
content words, |W| = k) of at most L tokens: it stops at its first EOS, or after L tokens
without one. So the completions are

    w_1 … w_j EOS   (j = 0 … L − 1)     and     w_1 … w_L   (no EOS),

n = Σ_{j=0}^{L} k^j sequences (k = 3, L = 3: 40; k = 3, L = 4: 121), listed in
:attr:`SequenceGame.sequences` by length, then lexicographically. Their token count (EOS
included) is :attr:`SequenceGame.n_tokens`. A policy over them is a vector π ∈ Δ_n, and an
autoregressive model defines exactly such a vector: π(y) = Π_t π(y_t | y_<t).

**The preference** over whole sequences mixes an intransitive cycle with a transitive quality:

    P(y ≻ y') = ½ + λ C[f(y), f(y')] + (1 − λ) (σ(κ (q(y) − q(y'))) − ½),

* f(y) — the first word of y, or "none" for the empty completion; C[w_i, w_{i+1 mod k}] = ½,
  C[w_{i+1 mod k}, w_i] = −½ (the cycle w_1 ≻ w_2 ≻ … ≻ w_k ≻ w_1, rock–paper–scissors for
  k = 3), C[none, w] = −½, C[w, none] = ½, 0 otherwise;
* q(y) — the number of distinct words of y minus ½ per repeated word.

Both parts are antisymmetric, so P(y ≻ y') + P(y' ≻ y) = 1 and P(y ≻ y) = ½; λ > 0 makes the
game intransitive (no reward explains the cycle of first words).

**The prefix tree.** Token-level quantities (the per-token conditionals of a sequence
distribution, the token-level geometric mixture of the LLM sampler) are computed from the
sequence probabilities alone: with mass(s) = Σ_{y ⊒ s} π(y) the mass of the prefix s,
π(v | s) = mass(s·v) / mass(s) (:meth:`SequenceGame.conditionals`), and conversely
π(y) = Π_t π(y_t | y_<t) (:meth:`SequenceGame.from_conditionals`).

Pure numpy: the transformer side is :mod:`prefgame.llm.exact`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit, log_softmax, logsumexp

__all__ = ["EOS", "SequenceGame"]

#: The end-of-sequence token's text (token id 0 of :meth:`SequenceGame.tokenizer`).
EOS = "<eos>"


@dataclass(frozen=True)
class SequenceGame:
    """All completions of at most ``max_length`` tokens over ``words`` ∪ {EOS}, and the
    preference P over them (formula in the module docstring).

    Attributes set at construction: ``sequences`` (tuples of words), ``n_tokens`` (tokens per
    completion, EOS included), ``texts`` (words joined by spaces: what a judge reads), ``P``.
    """

    words: tuple[str, ...] = ("a", "b", "c")
    max_length: int = 3
    cycle_weight: float = 0.4
    sharpness: float = 2.0
    prompt: str = "a b c"
    sequences: tuple[tuple[str, ...], ...] = field(init=False, repr=False)
    n_tokens: np.ndarray = field(init=False, repr=False)
    P: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        words = tuple(self.words)
        if len(words) < 2 or len(set(words)) != len(words):
            raise ValueError(f"words = {words!r}: need at least 2 distinct words")
        for w in words:
            if not isinstance(w, str) or not w.isalpha() or w == EOS:
                raise ValueError(f"word {w!r} must be a non-empty alphabetic string")
        if not (isinstance(self.max_length, int) and self.max_length >= 1):
            raise ValueError(f"max_length = {self.max_length!r}, must be an integer >= 1")
        n = sum(len(words) ** j for j in range(self.max_length + 1))
        if n > 5000:
            raise ValueError(
                f"{len(words)} words and max_length {self.max_length} give {n} sequences; "
                "the exact evaluation is meant for at most 5000"
            )
        if not 0.0 <= self.cycle_weight <= 1.0:
            raise ValueError(f"cycle_weight = {self.cycle_weight!r}, must lie in [0, 1]")
        if not (np.isfinite(self.sharpness) and self.sharpness >= 0):
            raise ValueError(f"sharpness = {self.sharpness!r}, must be a finite number >= 0")
        if any(p not in words for p in self.prompt.split()) or not self.prompt.split():
            raise ValueError(f"prompt {self.prompt!r} must be words of {words!r}")
        seqs = tuple(
            s for j in range(self.max_length + 1) for s in itertools.product(words, repeat=j)
        )
        set_ = object.__setattr__
        set_(self, "words", words)
        set_(self, "sequences", seqs)
        set_(self, "n_tokens", np.array([len(s) + (len(s) < self.max_length) for s in seqs]))
        set_(self, "P", self._preference())

    # --- the game ---------------------------------------------------------------------------

    @property
    def n(self) -> int:
        """The number of completions."""
        return len(self.sequences)

    @property
    def texts(self) -> list[str]:
        """Each completion as the text a judge reads (words joined by single spaces)."""
        return [" ".join(s) for s in self.sequences]

    def first_word(self) -> np.ndarray:
        """f(y): index of the first word in ``words``, k for the empty completion."""
        k = len(self.words)
        return np.array([self.words.index(s[0]) if s else k for s in self.sequences])

    def quality(self) -> np.ndarray:
        """q(y) = #distinct words − ½ · #repeated words."""
        return np.array([len(set(s)) - 0.5 * (len(s) - len(set(s))) for s in self.sequences])

    def cycle_matrix(self) -> np.ndarray:
        """C over the k words and "none" (last): ½ for w_i over w_{i+1 mod k} and for a word over
        "none", the negative for the reverse, 0 otherwise."""
        k = len(self.words)
        C = np.zeros((k + 1, k + 1))
        for i in range(k):
            j = (i + 1) % k
            if i != j:
                C[i, j], C[j, i] = 0.5, -0.5
            C[i, k], C[k, i] = 0.5, -0.5
        if k == 2:  # a 2-cycle is not a cycle: w_1 ≻ w_2 only
            C[0, 1], C[1, 0] = 0.5, -0.5
        return C

    def _preference(self) -> np.ndarray:
        f, q = self.first_word(), self.quality()
        lam = self.cycle_weight
        cyc = self.cycle_matrix()[f[:, None], f[None, :]]
        P = 0.5 + lam * cyc + (1 - lam) * (expit(self.sharpness * (q[:, None] - q[None, :])) - 0.5)
        upper = np.triu(P, 1)  # the lower triangle is 1 − its mirror: P + Pᵀ = 1
        P = upper + np.tril(1.0 - upper.T, -1) + 0.5 * np.eye(self.n)
        P.setflags(write=False)
        return P

    def index(self, texts: list[str]) -> np.ndarray:
        """The index of each completion text in :attr:`sequences` (``ValueError`` naming a text
        that is not a completion of this game)."""
        lookup = self._lookup
        out = []
        for t in texts:
            key = " ".join(t.split())
            if key not in lookup:
                raise ValueError(f"{t!r} is not a completion of this sequence game")
            out.append(lookup[key])
        return np.array(out, dtype=int)

    @property
    def _lookup(self) -> dict[str, int]:
        cached = self.__dict__.get("_lookup_cache")
        if cached is None:
            cached = {t: i for i, t in enumerate(self.texts)}
            object.__setattr__(self, "_lookup_cache", cached)
        return cached

    # --- token ids and the prefix tree --------------------------------------------------------

    def token_ids(self) -> list[list[int]]:
        """Each completion as token ids (EOS = 0, word i = i + 1), EOS included."""
        ids = {w: i + 1 for i, w in enumerate(self.words)}
        return [
            [ids[w] for w in s] + ([0] if len(s) < self.max_length else []) for s in self.sequences
        ]

    @property
    def _tree(self) -> dict[str, np.ndarray]:
        """Prefix-tree arrays (cached): ``node`` [n, L] the prefix node of y_<t (−1 past the end),
        ``token`` [n, L] the token y_t, ``mass`` [nodes, n] 1 where prefix node ⊑ y,
        ``child`` [nodes, |V|] the extended prefix s·v as an index into ``ext`` [ext, n]."""
        cached = self.__dict__.get("_tree_cache")
        if cached is not None:
            return cached
        ids = self.token_ids()
        L, V = self.max_length, len(self.words) + 1
        nodes = {(): 0}  # word prefixes of length < L: where a next token is drawn
        for j in range(1, L):
            for s in itertools.product(range(1, V), repeat=j):
                nodes[s] = len(nodes)
        exts: dict[tuple[int, ...], int] = {}  # every s·v, v ∈ V, of a node s
        child = np.zeros((len(nodes), V), dtype=int)
        for s, a in nodes.items():
            for v in range(V):
                child[a, v] = exts.setdefault((*s, v), len(exts))
        node = np.full((self.n, L), -1)
        token = np.zeros((self.n, L), dtype=int)
        below = np.zeros((len(nodes), self.n))
        ext_below = np.zeros((len(exts), self.n))
        for i, y in enumerate(ids):
            for t, v in enumerate(y):
                node[i, t], token[i, t] = nodes[tuple(y[:t])], v
                below[nodes[tuple(y[:t])], i] = 1.0
                ext_below[exts[tuple(y[: t + 1])], i] = 1.0
        cached = {"node": node, "token": token, "mass": below, "child": child, "ext": ext_below}
        object.__setattr__(self, "_tree_cache", cached)
        return cached

    def conditionals(self, pi: np.ndarray) -> np.ndarray:
        """log π(v | s) for every prefix node s and token v, ``[nodes, |V|]``:
        log mass(s·v) − log mass(s), mass(s) = Σ_{y ⊒ s} π(y)."""
        tree = self._tree
        pi = np.asarray(pi, dtype=np.float64)
        with np.errstate(divide="ignore"):
            log_ext = np.log(tree["ext"] @ pi)
            log_node = np.log(tree["mass"] @ pi)
        return log_ext[tree["child"]] - log_node[:, None]

    def from_conditionals(self, log_cond: np.ndarray) -> np.ndarray:
        """π(y) = Π_t π(y_t | y_<t) from the table ``log_cond`` ``[nodes, |V|]``, ``[n]``."""
        tree = self._tree
        node, token = tree["node"], tree["token"]
        terms = np.where(node >= 0, log_cond[np.maximum(node, 0), token], 0.0)
        return np.exp(terms.sum(-1))

    def token_mixture(self, pi: np.ndarray, mu: np.ndarray, beta: float) -> np.ndarray:
        """The sequence distribution of the token-level geometric mixture (the LLM sampler):
        each token from softmax((1 − β) log π(· | s) + β log μ(· | s)), ``[n]``."""
        mix = (1.0 - beta) * self.conditionals(pi) + beta * self.conditionals(mu)
        return self.from_conditionals(log_softmax(mix, axis=-1))

    def sequence_mixture(self, pi: np.ndarray, mu: np.ndarray, beta: float) -> np.ndarray:
        """The sequence-level geometric mixture π^(1−β) μ^β / Z of the theory, ``[n]``."""
        z = (1.0 - beta) * np.log(pi) + beta * np.log(mu)
        return np.exp(z - logsumexp(z))
