"""Preference games: a preference matrix P (one per context) and a reference policy μ.

A preference model over n responses is a matrix P with P[y, y'] = P(y ≻ y') ∈ [0, 1],
P + Pᵀ = 1 (all ones) and diag(P) = ½.  A batch of c contexts is an array ``[c, n, n]`` with
context weights ρ (``[c]``, summing to 1) and one reference policy per context (``[c, n]``).
Theory: ``docs/theory.md`` §1 (the built-in games with known answers: §11); symbols:
``docs/notation.md``; Munos et al. (NLHF), arXiv:2312.00886.

Every constructor returns a validated :class:`PreferenceGame`; invalid input raises
``ValueError`` with a message that names the offending entry and its value.

Example — rock–paper–scissors, the intransitive dice (A ≻ B ≻ C ≻ A, each with probability 5/9)
and a matrix that is not a preference model:

>>> from prefgame.games import PreferenceGame, intransitive_dice, rock_paper_scissors
>>> rps = rock_paper_scissors()
>>> rps.actions
('rock', 'paper', 'scissors')
>>> rps.P
array([[0.5, 0. , 1. ],
       [1. , 0.5, 0. ],
       [0. , 1. , 0.5]])
>>> 9 * intransitive_dice().P
array([[4.5, 5. , 4. ],
       [4. , 4.5, 5. ],
       [5. , 4. , 4.5]])
>>> PreferenceGame([[0.5, 0.9], [0.2, 0.5]])
Traceback (most recent call last):
    ...
ValueError: P[0,1] + P[1,0] = 1.1, must be 1
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .files import atomic_write

#: Tolerance for P + Pᵀ = 1, diag(P) = ½ and Σμ = 1.
ATOL = 1e-9

__all__ = [
    "ATOL",
    "BUILTIN_GAMES",
    "GameLike",
    "PreferenceGame",
    "batched_arrays",
    "bradley_terry",
    "cyclic",
    "dice_preferences",
    "from_counts",
    "game_arrays",
    "intransitive_dice",
    "load_game",
    "load_matrix",
    "load_policy_vector",
    "make_game",
    "mixture",
    "near_cyclic",
    "random_intransitive",
    "random_transitive",
    "rock_paper_scissors",
    "save_game",
    "three_rater_types",
    "validate_policy",
    "validate_preference_matrix",
]


# --------------------------------------------------------------------------- validation


def _idx(batch: tuple[int, ...], i: int, j: int | None = None) -> str:
    head = "".join(f"[{b}]" for b in batch)
    return f"P{head}[{i}]" if j is None else f"P{head}[{i},{j}]"


def _near(x: float, target: float) -> str:
    """``x`` with enough digits to show that it differs from ``target``."""
    short = f"{x:.6g}"
    return short if float(short) != target else f"{x:.17g}"


def _complex_entry(arr: np.ndarray, name: str) -> str:
    """``P[0,1] = (0.2+0.1j) is complex, must be real`` for the first non-real entry."""
    if arr.dtype.kind == "c":
        nonreal = np.imag(arr) != 0
    else:  # an object array holding Python complex numbers
        nonreal = np.array([isinstance(v, complex) for v in arr.ravel().tolist()], dtype=bool)
        nonreal = nonreal.reshape(arr.shape)
    if not nonreal.any():
        return f"{name} has complex dtype {arr.dtype}, must be real numbers"
    k = tuple(int(v) for v in np.argwhere(nonreal)[0])
    where = f"[{','.join(map(str, k))}]" if k else ""
    return f"{name}{where} = {arr[k]} is complex, must be real"


def _as_float64(x: ArrayLike, name: str, atol: float) -> tuple[np.ndarray, float, bool]:
    """(x as float64, the tolerance its precision allows, whether it was promoted from a
    lower-precision float).  Complex input is refused (its imaginary part would be dropped)."""
    try:
        raw = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    if raw.dtype.kind == "c" or (
        raw.dtype.kind == "O" and any(isinstance(v, complex) for v in raw.ravel().tolist())
    ):
        raise ValueError(_complex_entry(raw, name))
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    low = raw.dtype.kind == "f" and raw.dtype.itemsize < 8
    if low:  # float32 input: 0.3f + 0.7f is 1 only to float32's precision
        atol = max(atol, 4.0 * float(np.finfo(raw.dtype).eps))
    return arr, atol, low


#: Above this many actions a valid P is recognised tile by tile (no n×n temporaries: at
#: n = 10⁴ the whole-array checks took ~10 s and ~3 GiB on top of P's 0.8 GiB).
_TILED_ABOVE = 256


def _valid_by_tiles(arr: np.ndarray, atol: float, b: int = 256) -> bool:
    """Whether every check of :func:`validate_preference_matrix` passes: 0 ≤ P ≤ 1 (which
    also excludes NaN and ±inf), |P_ij + P_ji − 1| ≤ atol off the diagonal and
    |P_ii − ½| ≤ atol, read in b×b tiles (P_IJ with P_JIᵀ for J ≥ I)."""
    n = arr.shape[-1]
    for M in arr.reshape(-1, n, n):
        for i in range(0, n, b):
            rows = M[i : i + b]
            if not np.all((rows >= 0.0) & (rows <= 1.0)):
                return False
            d = np.diagonal(M[i : i + b, i : i + b])
            if np.any(np.abs(d - 0.5) > atol):
                return False
            for j in range(i, n, b):
                T = np.abs(M[i : i + b, j : j + b] + M[j : j + b, i : i + b].T - 1.0)
                if i == j:
                    np.fill_diagonal(T, 0.0)
                if np.any(T > atol):
                    return False
    return True


def validate_preference_matrix(P: ArrayLike, *, atol: float = ATOL, name: str = "P") -> np.ndarray:
    """Check that P is a valid preference matrix (or a batch ``[..., n, n]`` of them).

    Conditions: numeric and real (complex input is refused, never truncated), square in its last
    two axes, finite, 0 ≤ P ≤ 1, P + Pᵀ = 1 within ``atol``, diag(P) = ½ within ``atol``.
    Returns P as a float64 array.  Lower-precision input (float32, float16) is promoted: the
    tolerance grows to 4 ulp of the input's precision and P is then made exactly complementary,
    P ← ½(P + 1 − Pᵀ).
    """
    arr, atol, low = _as_float64(P, name, atol)
    if arr.ndim < 2:
        raise ValueError(
            f"{name} must be a square matrix [n, n] or a batch [c, n, n], got shape {arr.shape}"
        )
    if arr.shape[-1] != arr.shape[-2]:
        raise ValueError(f"{name} must be square, got shape {arr.shape}")
    if arr.shape[-1] < 1:
        raise ValueError(f"{name} must have at least one action, got shape {arr.shape}")

    if arr.shape[-1] > _TILED_ABOVE and _valid_by_tiles(arr, atol):
        # the checks below, passed; they run only to name a bad entry
        return 0.5 * (arr + (1.0 - np.swapaxes(arr, -1, -2))) if low else arr

    def where(mask: np.ndarray) -> tuple[tuple[int, ...], int, int]:
        k = tuple(int(v) for v in np.argwhere(mask)[0])
        return k[:-2], k[-2], k[-1]

    bad = ~np.isfinite(arr)
    if bad.any():
        b, i, j = where(bad)
        raise ValueError(
            f"{_idx(b, i, j).replace('P', name, 1)} = {arr[(*b, i, j)]}, must be finite"
        )
    bad = (arr < 0) | (arr > 1)
    if bad.any():
        b, i, j = where(bad)
        raise ValueError(
            f"{_idx(b, i, j).replace('P', name, 1)} = {arr[(*b, i, j)]:.6g}, must be in [0, 1]"
        )
    s = arr + np.swapaxes(arr, -1, -2)
    dev = np.abs(s - 1.0)
    n = arr.shape[-1]
    offdiag = ~np.eye(n, dtype=bool)
    bad = (dev > atol) & offdiag
    if bad.any():
        b, i, j = where(bad)
        raise ValueError(
            f"{_idx(b, i, j).replace('P', name, 1)} + {_idx(b, j, i).replace('P', name, 1)}"
            f" = {_near(s[(*b, i, j)], 1.0)}, must be 1"
        )
    diag = np.diagonal(arr, axis1=-2, axis2=-1)
    bad = np.abs(diag - 0.5) > atol
    if bad.any():
        k = tuple(int(v) for v in np.argwhere(bad)[0])
        b, i = k[:-1], k[-1]
        raise ValueError(
            f"{_idx(b, i, i).replace('P', name, 1)} = {_near(diag[k], 0.5)}, must be 1/2"
        )
    if low:  # promoted from float32/16: make P + Pᵀ = 1 and diag(P) = ½ hold in float64
        arr = 0.5 * (arr + (1.0 - np.swapaxes(arr, -1, -2)))
    return arr


def validate_policy(
    pi: ArrayLike,
    n: int | None = None,
    *,
    name: str = "mu",
    full_support: bool = True,
    atol: float = ATOL,
) -> np.ndarray:
    """Check that ``pi`` (``[..., n]``) lies on the probability simplex (with full support).

    Complex input is refused; float32/float16 input is checked to its own precision and
    renormalised in float64.
    """
    arr, atol, low = _as_float64(pi, name, atol)
    if arr.ndim < 1:
        raise ValueError(f"{name} must be a vector of probabilities, got a scalar")
    if n is not None and arr.shape[-1] != n:
        what = "contexts" if name == "rho" else "actions"
        raise ValueError(f"{name} has {arr.shape[-1]} entries but the game has {n} {what}")
    bad = ~np.isfinite(arr)
    if bad.any():
        k = tuple(int(v) for v in np.argwhere(bad)[0])
        raise ValueError(f"{name}{list(k)} = {arr[k]}, must be finite")
    bad = (arr <= 0) if full_support else (arr < 0)
    if bad.any():
        k = tuple(int(v) for v in np.argwhere(bad)[0])
        need = "> 0 (full support)" if full_support else ">= 0"
        raise ValueError(f"{name}{list(k)} = {arr[k]:.6g}, must be {need}")
    total = arr.sum(axis=-1)
    bad = np.abs(total - 1.0) > atol
    if bad.any():
        k = tuple(int(v) for v in np.argwhere(np.atleast_1d(bad))[0])
        t = np.atleast_1d(total)[k]
        where = f"{name}{list(k)}" if arr.ndim > 1 else name
        raise ValueError(f"sum of {where} = {t:.12g}, must be 1")
    if low:  # promoted from float32/16: renormalise in float64
        arr = arr / arr.sum(axis=-1, keepdims=True)
    return arr


# --------------------------------------------------------------------------- the game


@dataclass(frozen=True, eq=False)
class PreferenceGame:
    """A (batch of) preference game(s) with reference policy μ and context weights ρ.

    Attributes:
        P: ``[n, n]`` or ``[c, n, n]`` preference matrix, P[..., y, y'] = P(y ≻ y').
        mu: reference policy, ``[n]`` or ``[c, n]`` (broadcast from ``[n]`` for a batch).
        rho: context weights ``[c]`` (uniform by default); ``None`` for a single game.
        name: a label used in reports.
        actions: optional names of the n actions.
    """

    P: np.ndarray
    mu: np.ndarray | None = None
    rho: np.ndarray | None = None
    name: str = "custom"
    actions: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        P = validate_preference_matrix(self.P)
        if P.ndim > 3:
            raise ValueError(f"P must be [n, n] or [c, n, n], got shape {P.shape}")
        n = P.shape[-1]
        mu = np.full(n, 1.0 / n) if self.mu is None else self.mu
        mu = validate_policy(mu, n, name="mu")
        if P.ndim == 2:
            if mu.ndim != 1:
                raise ValueError(f"mu must have shape [{n}] for a single game, got {mu.shape}")
            if self.rho is not None:
                raise ValueError("rho (context weights) is only meaningful for a batch P [c, n, n]")
            rho = None
        else:
            c = P.shape[0]
            if mu.ndim == 1:
                mu = np.broadcast_to(mu, (c, n)).copy()
            elif mu.shape != (c, n):
                raise ValueError(
                    f"mu must have shape [{n}] or [{c}, {n}] for P of shape {P.shape}, "
                    f"got {mu.shape}"
                )
            rho = np.full(c, 1.0 / c) if self.rho is None else self.rho
            rho = validate_policy(rho, c, name="rho", full_support=False)
        if self.actions is not None and (
            isinstance(self.actions, (str, bytes)) or not isinstance(self.actions, (list, tuple))
        ):
            raise ValueError(f"actions = {self.actions!r}, must be a list of {n} names")
        if self.actions is not None and len(self.actions) != n:
            raise ValueError(f"{len(self.actions)} action names given for {n} actions")
        # Own copies: the caller's arrays stay writable, and editing them later cannot change
        # the game a learner sees.
        P = np.array(P, dtype=np.float64, copy=True)
        mu = np.array(mu, dtype=np.float64, copy=True)
        P.setflags(write=False)
        mu.setflags(write=False)
        if rho is not None:
            rho = np.array(rho, dtype=np.float64, copy=True)
            rho.setflags(write=False)
        object.__setattr__(self, "P", P)
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "rho", rho)
        if self.actions is not None:
            object.__setattr__(self, "actions", tuple(str(a) for a in self.actions))

    @property
    def n_actions(self) -> int:
        return int(self.P.shape[-1])

    @property
    def batched(self) -> bool:
        return self.P.ndim == 3

    @property
    def n_contexts(self) -> int:
        return int(self.P.shape[0]) if self.batched else 1

    @property
    def A(self) -> np.ndarray:
        """The antisymmetric part A = P − ½·11ᵀ (the zero-sum payoff of the game)."""
        return self.P - 0.5

    def as_batch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(P ``[c, n, n]``, μ ``[c, n]``, ρ ``[c]``), with c = 1 for a single game."""
        if self.batched:
            return self.P, self.mu, self.rho
        return self.P[None], self.mu[None], np.ones(1)

    def context(self, k: int) -> PreferenceGame:
        """The k-th context as a single game."""
        if not self.batched:
            raise ValueError("context() needs a batched game")
        return PreferenceGame(self.P[k], self.mu[k], name=f"{self.name}[{k}]", actions=self.actions)

    def with_mu(self, mu: ArrayLike | None) -> PreferenceGame:
        return PreferenceGame(self.P, mu, self.rho, self.name, self.actions)

    def permuted(self, perm: Sequence[int]) -> PreferenceGame:
        """The same game with actions relabelled: new action i is old action perm[i]."""
        perm = np.asarray(perm)
        P = self.P[..., perm, :][..., :, perm]
        acts = None if self.actions is None else tuple(self.actions[i] for i in perm)
        return PreferenceGame(P, self.mu[..., perm], self.rho, self.name, acts)

    @staticmethod
    def stack(
        games: Sequence[PreferenceGame], rho: ArrayLike | None = None, name: str = "batch"
    ) -> PreferenceGame:
        """Stack single games with the same number of actions into a batch of contexts."""
        if not games:
            raise ValueError("stack() needs at least one game")
        ns = {g.n_actions for g in games}
        if len(ns) != 1:
            raise ValueError(f"all games must have the same number of actions, got {sorted(ns)}")
        if any(g.batched for g in games):
            raise ValueError("stack() takes single (unbatched) games")
        return PreferenceGame(
            np.stack([g.P for g in games]), np.stack([g.mu for g in games]), rho, name
        )

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.P.shape))
        return f"PreferenceGame(name={self.name!r}, P: {shape})"


#: What the solvers and learners accept as a game: a :class:`PreferenceGame`, or a bare matrix P
#: (``[n, n]`` or ``[c, n, n]``; μ then comes from the ``mu=`` argument, uniform by default).
GameLike = PreferenceGame | ArrayLike


def game_arrays(game: GameLike, mu: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(P, μ) as validated float arrays from a :class:`PreferenceGame` or a bare matrix.

    P is ``[n, n]`` or ``[c, n, n]``; μ (default: the game's, or uniform for a matrix) is
    broadcast to ``P.shape[:-1]``.  Invalid input raises the named ``ValueError``.
    """
    if isinstance(game, PreferenceGame):
        P = game.P
        mu = game.mu if mu is None else validate_policy(mu, P.shape[-1])
    else:
        P = validate_preference_matrix(game)
        if P.ndim > 3:
            raise ValueError(f"P must be [n, n] or [c, n, n], got shape {P.shape}")
        n = P.shape[-1]
        mu = np.full(n, 1.0 / n) if mu is None else validate_policy(mu, n)
    if mu.shape[:-1] not in ((), P.shape[:-2]):
        raise ValueError(
            f"mu has shape {mu.shape}, expected [{P.shape[-1]}] or {list(P.shape[:-1])}"
        )
    return P, np.broadcast_to(mu, P.shape[:-1])


def batched_arrays(
    game: GameLike, mu: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """(P ``[c, n, n]``, log μ ``[c, n]``, single) — the arrays every tabular learner runs on.

    :func:`game_arrays` with a context axis added to a single game (``single=True``, c = 1;
    learners squeeze it again on output) and μ in log space.
    """
    P, mu = game_arrays(game, mu)
    single = P.ndim == 2
    Pb = P[None] if single else P
    mub = np.broadcast_to(mu, Pb.shape[:-1])
    return np.ascontiguousarray(Pb), np.log(mub), single


# --------------------------------------------------------------------------- constructors


def rock_paper_scissors() -> PreferenceGame:
    """Rock–paper–scissors: P = ½ ± ½ on the cycle rock ≻ scissors ≻ paper ≻ rock."""
    g = cyclic(3)
    return PreferenceGame(g.P, name="rps", actions=("rock", "paper", "scissors"))


def cyclic(n: int = 5, *, margin: float = 0.5) -> PreferenceGame:
    """Generalised cycle on n actions (a balanced tournament: the uniform policy is an
    equilibrium for every τ; for τ = 0 it is the unique one when n is odd).

    Action i is beaten by i+1, …, i+⌊(n−1)/2⌋ (mod n) with probability ½ + margin; for even n
    the opposite action i + n/2 is a tie.  For n = 3 this is rock–paper–scissors with
    0 = rock, 1 = paper, 2 = scissors: paper ≻ rock, scissors ≻ paper, rock ≻ scissors.
    """
    n = _check_int(n, "n", 2)
    if not 0 < margin <= 0.5:
        raise ValueError(f"margin = {margin}, must be in (0, 1/2]")
    P = np.full((n, n), 0.5)
    for i in range(n):
        for k in range(1, (n - 1) // 2 + 1):
            j = (i + k) % n
            P[j, i] = 0.5 + margin
            P[i, j] = 0.5 - margin
    return PreferenceGame(P, name=f"cyclic{n}")


def dice_preferences(faces: Sequence[Sequence[float]]) -> np.ndarray:
    """P[a, b] = Pr(die a rolls higher than die b) + ½ Pr(tie), computed exactly from the faces."""
    faces = _check_faces(faces)
    m = len(faces)
    P = np.empty((m, m))
    for a, b in product(range(m), repeat=2):
        wins = ties = 0
        for x, y in product(faces[a], faces[b]):
            wins += x > y
            ties += x == y
        P[a, b] = float(Fraction(2 * wins + ties, 2 * len(faces[a]) * len(faces[b])))
    return P


def _check_faces(faces: Any) -> list[list[float]]:
    """Dice as lists of finite real numbers (``faces = 'abc'`` is not three dice of one face).

    Every problem is a ``ValueError`` (the package's rule for bad input), naming the die."""
    hint = "must be a list of dice, each a list of numbers, e.g. [[2,4,9],[1,6,8],[3,5,7]]"

    def is_list(x: Any) -> bool:
        return not isinstance(x, (str, bytes)) and isinstance(x, (Sequence, np.ndarray))

    if not is_list(faces):
        raise ValueError(f"faces = {faces!r}, {hint}")
    out = []
    for k, die in enumerate(faces):
        if not is_list(die):
            raise ValueError(f"faces[{k}] = {die!r}, {hint}")
        row = []
        for v in die:
            real = isinstance(v, (int, float, np.integer, np.floating))
            if isinstance(v, (bool, np.bool_)) or not real or not np.isfinite(v):
                raise ValueError(f"faces[{k}] = {die!r}: {v!r} is not a finite real number")
            row.append(v)
        if not row:
            raise ValueError(f"faces[{k}] is empty: each die needs at least one face")
        out.append(row)
    if not out:
        raise ValueError("faces = []: each die needs at least one face")
    return out


def intransitive_dice(
    faces: Sequence[Sequence[float]] = ((2, 4, 9), (1, 6, 8), (3, 5, 7)),
) -> PreferenceGame:
    """Intransitive dice (default A={2,4,9}, B={1,6,8}, C={3,5,7}: A ≻ B ≻ C ≻ A w.p. 5/9)."""
    faces = _check_faces(faces)
    names = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ"[: len(faces)]) if len(faces) <= 26 else None
    return PreferenceGame(dice_preferences(faces), name="dice", actions=names)


def three_rater_types(eps: float = 0.1) -> PreferenceGame:
    """NLHF §3.2: three rater types with shares (1/3 − ε, 1/3 + ε/2, 1/3 + ε/2).

    Type 1 prefers y2 ≻ y1, type 2 prefers y1 ≻ y3, type 3 prefers y3 ≻ y2; every other
    comparison is a tie (½).  The unregularised Nash equilibrium is π ∝ (α3, α2, α1) =
    (1/3 + ε/2, 1/3 + ε/2, 1/3 − ε), valid for |ε| ≤ 1/3.
    """
    eps = float(eps)
    if not abs(eps) <= 1 / 3:
        raise ValueError(f"eps = {eps}, must satisfy |eps| <= 1/3")
    a1, a2, a3 = 1 / 3 - eps, 1 / 3 + eps / 2, 1 / 3 + eps / 2
    # Each type's own preference matrix; the population P is the share-weighted mixture.
    t1 = np.full((3, 3), 0.5)
    t1[1, 0], t1[0, 1] = 1.0, 0.0
    t2 = np.full((3, 3), 0.5)
    t2[0, 2], t2[2, 0] = 1.0, 0.0
    t3 = np.full((3, 3), 0.5)
    t3[2, 1], t3[1, 2] = 1.0, 0.0
    P = a1 * t1 + a2 * t2 + a3 * t3
    return PreferenceGame(P, name=f"three_raters(eps={eps:g})", actions=("y1", "y2", "y3"))


def near_cyclic(strength: Sequence[float] = (0.9, 0.8, 0.7)) -> PreferenceGame:
    """A 3-action near-cycle: y1 ≻ y2 w.p. s0, y2 ≻ y3 w.p. s1, y3 ≻ y1 w.p. s2.

    Stands in for Calandriello et al. App. E's "near-cyclic" game, whose exact matrix was not
    recovered; unequal strengths make the equilibrium non-uniform.
    """
    s = [float(v) for v in strength]
    if len(s) != 3:
        raise ValueError(f"strength needs 3 values, got {len(s)}")
    P = np.full((3, 3), 0.5)
    for (i, j), v in zip(((0, 1), (1, 2), (2, 0)), s):
        P[i, j], P[j, i] = v, 1.0 - v
    return PreferenceGame(P, name="near_cyclic", actions=("y1", "y2", "y3"))


def bradley_terry(scores: Sequence[float] | np.ndarray) -> PreferenceGame:
    """Bradley–Terry game P(y ≻ y') = σ(r(y) − r(y')) from scores r (``[n]`` or ``[c, n]``)."""
    r = np.asarray(scores, dtype=np.float64)
    if r.ndim not in (1, 2) or r.shape[-1] < 1:
        raise ValueError(f"scores must have shape [n] or [c, n], got {r.shape}")
    if not np.isfinite(r).all():
        raise ValueError("scores must be finite")
    d = r[..., :, None] - r[..., None, :]
    P = 0.5 * (1.0 + np.tanh(0.5 * d))  # σ(d), exactly antisymmetric and ½ on the diagonal
    return PreferenceGame(P, name="bradley_terry")


def random_transitive(
    n: int = 5, *, seed: int = 0, scale: float = 2.0, contexts: int | None = None
) -> PreferenceGame:
    """A random transitive game: Bradley–Terry with scores ~ N(0, scale²) (seeded)."""
    n = _check_int(n, "n", 1)
    rng = np.random.default_rng(seed)
    shape = (n,) if contexts is None else (_check_int(contexts, "contexts", 1), n)
    g = bradley_terry(rng.normal(scale=scale, size=shape))
    return PreferenceGame(g.P, name=f"random_transitive(n={n}, seed={seed})")


def random_intransitive(
    n: int = 5, *, seed: int = 0, contexts: int | None = None
) -> PreferenceGame:
    """A random game with P[i, j] ~ U(0, 1) above the diagonal, 1 − Pᵀ below (seeded)."""
    n = _check_int(n, "n", 1)
    rng = np.random.default_rng(seed)
    c = 1 if contexts is None else _check_int(contexts, "contexts", 1)
    U = rng.uniform(size=(c, n, n))
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    P = np.where(upper, U, np.where(upper.T, 1.0 - np.swapaxes(U, -1, -2), 0.5))
    return PreferenceGame(
        P[0] if contexts is None else P, name=f"random_intransitive(n={n}, seed={seed})"
    )


def mixture(
    populations: Iterable[PreferenceGame | np.ndarray], weights: Sequence[float]
) -> PreferenceGame:
    """A mixture of rater populations: P = Σ_k w_k P_k (each population its own matrix)."""
    mats = [
        validate_preference_matrix(
            g.P if isinstance(g, PreferenceGame) else g, name=f"population {k}"
        )
        for k, g in enumerate(populations)
    ]
    if not mats:
        raise ValueError("mixture() needs at least one population")
    shapes = {m.shape for m in mats}
    if len(shapes) != 1:
        raise ValueError(f"populations have different shapes: {sorted(shapes)}")
    w = validate_policy(weights, len(mats), name="weights", full_support=False)
    P = np.tensordot(w, np.stack(mats), axes=1)
    return PreferenceGame(P, name="mixture")


def from_counts(wins: ArrayLike, *, prior: float = 0.5) -> PreferenceGame:
    """Estimate P from pairwise comparison counts: wins[i, j] = times i was preferred to j.

    P[i, j] = (wins[i, j] + α) / (wins[i, j] + wins[j, i] + 2α) with prior pseudo-count α
    (default ½, the Jeffreys prior); a pair never compared gets ½.  Ties may be recorded as
    half a win each way.
    """
    W = np.asarray(wins, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"wins must be a square matrix, got shape {W.shape}")
    if not np.isfinite(W).all() or (W < 0).any():
        i, j = (int(v) for v in np.argwhere(~np.isfinite(W) | (W < 0))[0])
        raise ValueError(f"wins[{i},{j}] = {W[i, j]}, must be a finite count >= 0")
    if prior < 0:
        raise ValueError(f"prior = {prior}, must be >= 0")
    total = W + W.T + 2 * prior
    with np.errstate(invalid="ignore", divide="ignore"):
        P = np.where(total > 0, (W + prior) / np.where(total > 0, total, 1), 0.5)
    np.fill_diagonal(P, 0.5)
    return PreferenceGame(P, name="from_counts")


def _check_int(v, name: str, minimum: int) -> int:
    if isinstance(v, bool) or int(v) != v:
        raise ValueError(f"{name} = {v!r}, must be an integer")
    if v < minimum:
        raise ValueError(f"{name} = {v}, must be >= {minimum}")
    return int(v)


#: Built-in games by name (the CLI's ``--game``).
BUILTIN_GAMES = {
    "rps": rock_paper_scissors,
    "dice": intransitive_dice,
    "three_raters": three_rater_types,
    "near_cyclic": near_cyclic,
    "cyclic": cyclic,
    "bradley_terry": lambda n=5, seed=0: random_transitive(n, seed=seed),
    "random_transitive": random_transitive,
    "random_intransitive": random_intransitive,
}


def make_game(name: str, **kwargs: Any) -> PreferenceGame:
    """Build a built-in game by name; unknown names raise a ValueError listing the known ones."""
    if name not in BUILTIN_GAMES:
        raise ValueError(f"unknown game {name!r}; known games: {', '.join(sorted(BUILTIN_GAMES))}")
    return BUILTIN_GAMES[name](**kwargs)


# --------------------------------------------------------------------------- files


def load_matrix(path: str | os.PathLike) -> np.ndarray:
    """Load a preference matrix from ``.npy``, ``.csv`` or ``.json`` (key ``"P"`` or a bare
    list)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if not path.is_file():
        raise ValueError(f"{path}: is a directory, expected a file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 -- numpy raises several types for a malformed file
            raise ValueError(f"{path}: not a valid .npy file ({exc})") from None
    elif suffix == ".csv":
        arr = _read_csv(path)
    elif suffix == ".json":
        data = _read_json(path)
        arr = data["P"] if isinstance(data, dict) and "P" in data else data
        if isinstance(data, dict) and "P" not in data:
            raise ValueError(f"{path}: JSON object has no key 'P'")
    else:
        raise ValueError(f"{path}: unknown file type {suffix!r}; use .npy, .csv or .json")
    return _file_array(arr, path, "P", "the matrix is not a rectangular array of numbers")


def _file_array(arr: Any, path: Path, name: str, what: str) -> np.ndarray:
    """A file's array as float64, or float32/float16 as stored (:class:`PreferenceGame` promotes
    it with a tolerance that fits its precision); complex values are refused, naming the entry."""
    try:
        raw = np.asarray(arr)
    except (TypeError, ValueError, RecursionError):
        raise ValueError(f"{path}: {what}") from None
    if raw.dtype.kind == "c":
        raise ValueError(f"{path}: {_complex_entry(raw, name)}")
    if raw.dtype.kind == "f" and raw.dtype.itemsize < 8:
        return raw
    try:
        return np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: {what}") from None


def load_policy_vector(path: str | os.PathLike) -> np.ndarray:
    """Load a probability vector over actions (e.g. μ) from ``.npy``, ``.csv`` or ``.json``.

    A ``.json`` file holds a list, or an object with key ``"mu"`` or ``"policy"``; a one-row or
    one-column matrix is flattened.  The values are returned as read (validated by the caller,
    e.g. :class:`PreferenceGame`).  Not to be confused with :func:`prefgame.llm.load_policy`,
    which loads a language model.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        data = _read_json(path)
        arr = data.get("mu", data.get("policy")) if isinstance(data, dict) else data
        if arr is None:
            raise ValueError(f"{path}: JSON object has no key 'mu' or 'policy'")
        return _file_array(arr, path, "mu", "the policy is not a list of numbers")
    arr = load_matrix(path)
    return arr.reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr


def load_game(path: str | os.PathLike, mu_path: str | os.PathLike | None = None) -> PreferenceGame:
    """Load a game; a ``.json`` file may also hold ``mu``, ``rho``, ``name`` and ``actions``."""
    path = Path(path)
    meta: dict = {}
    if path.suffix.lower() == ".json":
        data = _read_json(path)
        if isinstance(data, dict):
            meta = {k: data[k] for k in ("mu", "rho", "name", "actions") if k in data}
    P = load_matrix(path)
    mu = load_policy_vector(mu_path) if mu_path is not None else None
    try:
        game = PreferenceGame(
            P,
            meta.get("mu") if mu is None else None,
            meta.get("rho"),
            meta.get("name", path.stem),
            meta.get("actions"),
        )
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if mu is None:
        return game
    try:  # a --mu file's errors name that file, not the matrix
        return game.with_mu(mu)
    except ValueError as exc:
        raise ValueError(f"{mu_path}: {exc}") from None


def save_game(game: PreferenceGame, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Save a game to ``.npy``/``.csv`` (P only; μ must be uniform) or ``.json`` (everything).

    The file is written atomically (temporary file, then rename); an existing file is kept
    unless ``overwrite=True``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    uniform = np.allclose(game.mu, 1.0 / game.n_actions, rtol=0, atol=1e-15) and (
        game.rho is None or np.allclose(game.rho, 1.0 / game.n_contexts, rtol=0, atol=1e-15)
    )
    if suffix in (".npy", ".csv") and not uniform:
        raise ValueError(
            f"{path}: {suffix} stores P only and this game has a non-uniform mu/rho; save as .json"
        )
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, game.P)
        payload = buf.getvalue()
    elif suffix == ".csv":
        if game.batched:
            raise ValueError(f"{path}: .csv holds one matrix; save a batch as .npy or .json")
        s = io.StringIO()
        csv.writer(s).writerows([[repr(float(v)) for v in row] for row in game.P])
        payload = s.getvalue().encode()
    elif suffix == ".json":
        doc = {"name": game.name, "P": game.P.tolist(), "mu": game.mu.tolist()}
        if game.rho is not None:
            doc["rho"] = game.rho.tolist()
        if game.actions is not None:
            doc["actions"] = list(game.actions)
        payload = json.dumps(doc).encode()
    else:
        raise ValueError(f"{path}: unknown file type {suffix!r}; use .npy, .csv or .json")
    return atomic_write(path, payload)


def _read_json(path: Path):
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if not path.is_file():
        raise ValueError(f"{path}: is a directory, expected a .json file")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: malformed JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply to be a matrix or a policy") from None


def _read_csv(path: Path) -> np.ndarray:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text CSV file") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f"{path}: empty CSV file")
    out = []
    for lineno, row in enumerate(rows, 1):
        try:
            out.append([float(c) for c in row])
        except ValueError:
            raise ValueError(f"{path}: line {lineno}: {row!r} is not a row of numbers") from None
    widths = {len(r) for r in out}
    if len(widths) != 1:
        raise ValueError(f"{path}: rows have different lengths {sorted(widths)}")
    return np.asarray(out)
