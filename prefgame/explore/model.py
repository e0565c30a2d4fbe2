"""What the explorer shows, computed by the library and cached: no maths of its own.

:func:`compute` turns one :class:`Settings` (game, τ, β, step size, start policy, steps,
learners) into a :class:`View`, whose every number comes from a library call:

=====================================  ==================================================
π*_τ and its duality-gap certificate    :func:`prefgame.equilibrium.solve` (LP at τ = 0)
the τ-path  τ' ↦ π*_τ'                  ``solve`` on a log grid of τ' (cached per game)
a learner's iterates π_0 … π_T          the learner of :mod:`prefgame.dynamics`, ``record_every=1``
gap(π_t) at τ                           :func:`prefgame.equilibrium.duality_gap` on every π_t
IPO-MD's mixture (π_t)^{1−β} μ^β         :func:`prefgame.dynamics.ipo_md_mixture`
π* at τ/(1−β) (Prop. 5.2)               ``solve``
=====================================  ==================================================

Caches (so that a slider move re-runs only what it changes): equilibria by (game, τ), the
τ-path by game, and each learner's run by (game, learner, τ, β if it uses β, step size, start).
Given the sliders' grids (``taus=``, ``betas=``), a learner that takes one τ (and β) per context
(Nash-MD and the IPO family, with their own step sizes, n ≤ :data:`TAU_BATCH_MAX_ACTIONS`) runs,
on a miss, the cross through (τ, β) on the grids in one batched call — every τ at this β and
(IPO-MD) every β at this τ, those not yet cached — context by context the same floating-point
operations as one run each, so the same numbers, at about the cost of one run for small n; the
next τ or β move is then a cache hit;
a run asked for fewer steps than a cached one is its prefix (every learner here is deterministic
and its step t depends only on t and π_t), so moving the number of steps down costs nothing.
:func:`warm` fills the caches ahead of time (the page runs it for the neighbouring τ values in
a background thread while the user looks at the plots).

Bad input raises the library's own ``ValueError`` (named field and value); a learner that fails
(τ = 0 where it needs τ > 0, η τ > 1, divergence) is reported in ``View.errors`` and the others
are still shown.
"""

from __future__ import annotations

import hashlib
import inspect
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import dynamics as D
from ..equilibrium import Equilibrium, duality_gap, solve
from ..games import BUILTIN_GAMES, PreferenceGame, load_game, make_game, validate_policy

__all__ = [
    "LEARNERS",
    "PATH_TAUS",
    "Learner",
    "LearnerRun",
    "Settings",
    "View",
    "build_game",
    "compute",
    "game_from_upload",
    "parse_policy",
    "start_policy",
    "warm",
]

#: The τ' grid of the τ-path of equilibria (log-spaced; τ' → ∞ tends to μ, τ' → 0 to a
#: von Neumann winner).
PATH_TAUS = np.geomspace(1e-3, 1e2, 41)


# --------------------------------------------------------------------------- learners


@dataclass(frozen=True)
class Learner:
    """One learner of :mod:`prefgame.dynamics` as the explorer runs it.

    ``run(game, tau, beta, eta, steps, init)`` returns a Trajectory with every iterate recorded;
    ``eta=None`` means the library's own step (``default_step`` says which).
    """

    label: str
    run: Callable
    uses_beta: bool = False
    default_step: str = ""
    tau_batch: bool = False  # ``run`` takes one τ (and β, if it uses β) per context: a batch


def _rec(**kw) -> dict:
    return {"record_every": 1, **kw}


LEARNERS: dict[str, Learner] = {
    "nash_md": Learner(
        "Nash-MD",
        lambda g, t, b, e, s, i: D.nash_md(g, t, eta=e, steps=s, init=i, **_rec()),
        default_step="η_t = 2/(τ(t+2))",
        tau_batch=True,
    ),
    "online_ipo": Learner(
        "online IPO",
        lambda g, t, b, e, s, i: D.online_ipo(
            g, t, lr="auto" if e is None else e, steps=s, init=i, **_rec()
        ),
        default_step="lr = 'auto'",
        tau_batch=True,
    ),
    "ipo_md": Learner(
        "IPO-MD",
        lambda g, t, b, e, s, i: D.ipo_md(
            g, t, b, lr="auto" if e is None else e, steps=s, init=i, **_rec()
        ),
        uses_beta=True,
        default_step="lr = 'auto'",
        tau_batch=True,
    ),
    "online_dpo": Learner(
        "online DPO",
        lambda g, t, b, e, s, i: D.online_dpo(
            g, t, lr="auto" if e is None else e, steps=s, init=i, **_rec()
        ),
        default_step="lr = 'auto'",
    ),
    "offline_ipo": Learner(
        "offline IPO",
        lambda g, t, b, e, s, i: D.offline_ipo(
            g, t, lr="auto" if e is None else e, steps=s, init=i, **_rec()
        ),
        default_step="lr = 'auto'",
        tau_batch=True,
    ),
    "rlhf": Learner(
        "RLHF",
        lambda g, t, b, e, s, i: D.rlhf(g, t, lr=e, steps=s, init=i, **_rec()),
        default_step="lr = 0.5/τ",
    ),
    "omd": Learner(
        "OMD",
        lambda g, t, b, e, s, i: D.online_mirror_descent(
            g, t, eta=0.1 if e is None else e, steps=s, init=i, **_rec()
        ),
        default_step="η = 0.1",
    ),
    "self_play_pg": Learner(
        "self-play PG",
        lambda g, t, b, e, s, i: D.self_play_pg(
            g, t, lr=0.1 if e is None else e, steps=s, init=i, **_rec()
        ),
        default_step="lr = 0.1",
    ),
    "nash_md_pg": Learner(
        "Nash-MD-PG(β)",
        lambda g, t, b, e, s, i: D.nash_md_pg(
            g, t, b, lr=0.1 if e is None else e, steps=s, init=i, **_rec()
        ),
        uses_beta=True,
        default_step="lr = 0.1",
    ),
}


def _post_paper(spec: D.LearnerSpec) -> Learner:
    """A learner of the one registry :data:`prefgame.dynamics.LEARNERS` as the explorer runs it
    (η: the explorer's constant step where the learner takes one, else its theorem's)."""
    takes_eta = "eta" in inspect.signature(spec.function).parameters

    def run(g, t, b, e, s, i):
        e = spec.fixed_eta if e is None else e  # a step the horizon does not change
        kw = {"eta": e} if takes_eta and e is not None else {}
        return spec.run(g, t, steps=s, init=i, **_rec(**kw))

    target = "π*_τ" if spec.target == "nash" else "a τ = 0 equilibrium"
    return Learner(
        f"{spec.name} (→ {target}, {spec.guarantee} iterate)",
        run,
        default_step=(
            f"η = {spec.fixed_eta:g}" if spec.fixed_eta else "its theorem's" if takes_eta else "—"
        ),
    )


# the post-paper learners, read from the registry (the study and equivalence read it too)
LEARNERS.update({n: _post_paper(spec) for n, spec in D.LEARNERS.items() if n not in LEARNERS})


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """Everything the explorer's controls set.

    Attributes:
        game: a built-in game's name (:data:`prefgame.games.BUILTIN_GAMES`) or a PreferenceGame.
        n, seed, eps: parameters of the built-in game, passed only where its constructor takes them.
        mu: reference policy μ as text (``"0.5, 0.3, 0.2"``); blank keeps the game's.
        tau: τ ≥ 0 (the learners need τ > 0; ``solve`` takes τ = 0 as an LP).
        beta: IPO-MD's (and Nash-MD-PG's) mixture weight β ∈ [0, 1).
        eta: the constant step size of every learner, or None for each learner's library default.
        start: ``"mu"``, ``"corner"`` (0.8 on the first action, the rest shared equally: a start
            far from π*, so trajectories show), ``"uniform"``, ``"random"`` (Dirichlet(1),
            ``start_seed``) or ``"custom"``.
        start_custom: π_0 as text when ``start == "custom"``.
        steps: number of learner steps T.
        learners: keys of :data:`LEARNERS` to run.
    """

    game: str | PreferenceGame = "near_cyclic"
    n: int = 5
    seed: int = 0
    eps: float = 0.1
    mu: str = ""
    tau: float = 0.1
    beta: float = 0.25
    eta: float | None = None
    start: str = "mu"
    start_seed: int = 0
    start_custom: str = ""
    steps: int = 2000
    learners: tuple[str, ...] = ("nash_md", "online_ipo", "ipo_md")


def parse_policy(text: str, n: int, *, name: str) -> np.ndarray:
    """``"0.2, 0.3, 0.5"`` → a validated policy (:func:`prefgame.games.validate_policy`)."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"{name} = {text!r}: not a list of numbers") from None
    return validate_policy(values, n, name=name)


def build_game(s: Settings) -> PreferenceGame:
    """The game of the settings: a built-in one (only the parameters its constructor takes),
    with μ."""
    if isinstance(s.game, PreferenceGame):
        game = s.game
    else:
        if s.game not in BUILTIN_GAMES:
            make_game(s.game)  # raises the library's "unknown game ... known games: ..."
        params = inspect.signature(BUILTIN_GAMES[s.game]).parameters
        kwargs = {k: v for k, v in (("n", s.n), ("seed", s.seed), ("eps", s.eps)) if k in params}
        game = make_game(s.game, **kwargs)
    if game.batched:
        raise ValueError(
            f"{game.name}: a batch of {game.n_contexts} contexts; the explorer shows "
            "one game (a single [n, n] matrix)"
        )
    if s.mu.strip():
        game = game.with_mu(parse_policy(s.mu, game.n_actions, name="mu"))
    return game


#: Upload limits: the server is single-threaded, so one upload's compute blocks every session
#: (a 400×400 matrix held them all for 85 s).  A 50-action game is drawn in about a second.
MAX_UPLOAD_BYTES = 1 << 20
MAX_UPLOAD_ACTIONS = 50


def game_from_upload(filename: str, data: bytes) -> PreferenceGame:
    """A game from an uploaded ``.npy``/``.csv``/``.json`` file, by
    :func:`prefgame.games.load_game`.

    The library's message names the file as the user called it (not the temporary copy).  Files
    over :data:`MAX_UPLOAD_BYTES` and games over :data:`MAX_UPLOAD_ACTIONS` actions are refused
    before any compute.
    """
    name = Path(filename).name or "upload"
    hint = "larger games: `prefgame solve --matrix` or `prefgame study --matrix`"
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(
            f"{name}: {len(data):,} bytes, the explorer takes files up to "
            f"{MAX_UPLOAD_BYTES:,} bytes ({hint})"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            game = load_game(path)
        except ValueError as exc:
            raise ValueError(str(exc).replace(str(path), name).replace(f"{tmp}/", "")) from None
    if game.n_actions > MAX_UPLOAD_ACTIONS:
        raise ValueError(
            f"{name}: {game.n_actions} actions, the explorer shows games of up to "
            f"{MAX_UPLOAD_ACTIONS} actions ({hint})"
        )
    return game


def start_policy(s: Settings, game: PreferenceGame) -> np.ndarray | None:
    """π_0: None (μ, the learners' default), a corner, uniform, a seeded Dirichlet(1) draw, or
    the text."""
    n = game.n_actions
    if s.start == "mu":
        return None
    if s.start == "corner":
        pi = np.full(n, 0.2 / (n - 1))
        pi[0] = 0.8
        return pi
    if s.start == "uniform":
        return np.full(n, 1.0 / n)
    if s.start == "random":  # the same draw as `prefgame equivalence --init-seed`
        pi = np.maximum(np.random.default_rng(s.start_seed).dirichlet(np.ones(n)), 1e-6)
        return pi / pi.sum()
    if s.start == "custom":
        return parse_policy(s.start_custom, n, name="start policy")
    raise ValueError(
        f"start = {s.start!r}, must be 'mu', 'corner', 'uniform', 'random' or 'custom'"
    )


# --------------------------------------------------------------------------- caches


class _LRU:
    """A small thread-safe least-recently-used cache (the page's thread and the prefetch thread
    share it); a value is computed outside the lock, so two threads may both compute it once."""

    def __init__(self, size: int):
        self.size, self.data, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
        return None

    def put(self, key, value) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.data.clear()


#: (A batch fills up to 13 τ + 20 β entries per learner: room for several settings.)
_EQUILIBRIA, _PATHS, _RUNS = _LRU(512), _LRU(64), _LRU(384)

#: Largest game whose learners run batched over the grids (the n slider's end; uploads go up to
#: 50 actions, where a batch of ~30 contexts is no longer about the cost of one run).
TAU_BATCH_MAX_ACTIONS = 12


def _key(game: PreferenceGame) -> str:
    """A content key of the game (P and μ): equal matrices share cached equilibria."""
    h = hashlib.sha1(np.ascontiguousarray(game.P).tobytes())
    h.update(np.ascontiguousarray(game.mu).tobytes())
    return h.hexdigest()


def _equilibrium(game: PreferenceGame, key: str, tau: float) -> Equilibrium:
    eq = _EQUILIBRIA.get((key, tau))
    if eq is None:
        eq = solve(game, tau)
        _EQUILIBRIA.put((key, tau), eq)
    return eq


def _tau_path(game: PreferenceGame, key: str) -> np.ndarray:
    path = _PATHS.get(key)
    if path is None:
        path = np.stack([_equilibrium(game, key, float(t)).policy for t in PATH_TAUS])
        _PATHS.put(key, path)
    return path


def _run(
    game: PreferenceGame,
    key: str,
    learner: str,
    tau: float,
    beta: float,
    eta: float | None,
    steps: int,
    init: np.ndarray | None,
    taus: tuple[float, ...] = (),
    betas: tuple[float, ...] = (),
):
    """(history ``[steps+1, n]``, seconds) of one learner, from the cache where possible.

    On a miss, a learner with ``tau_batch`` also runs, in the same batched call, what is not yet
    cached of the cross through (τ, β) on the sliders' grids (module docstring): every τ > 0 of
    ``taus`` at this β and, if it uses β and β is a notch of ``betas``, every β of ``betas`` at
    this τ.  If that batch fails, (τ, β) alone is run, as without the grids, so that errors are
    the single run's.
    """
    spec = LEARNERS[learner]

    def cache_key(t: float, b: float) -> tuple:
        return (
            key,
            learner,
            t,
            b if spec.uses_beta else None,
            eta,
            None if init is None else init.tobytes(),
        )

    def missing(t: float, b: float) -> bool:
        hit = _RUNS.get(cache_key(t, b))
        return hit is None or hit.shape[0] <= steps

    if not missing(tau, beta):
        return _RUNS.get(cache_key(tau, beta))[: steps + 1], 0.0
    t0 = time.perf_counter()
    batch = [(tau, beta)]
    if spec.tau_batch and eta is None and tau > 0 and game.n_actions <= TAU_BATCH_MAX_ACTIONS:
        batch += [(t, beta) for t in dict.fromkeys(float(t) for t in taus) if t > 0]
        if spec.uses_beta and beta in betas:
            batch += [(tau, b) for b in dict.fromkeys(float(b) for b in betas)]
        rest = dict.fromkeys(tb for tb in batch[1:] if tb != (tau, beta) and missing(*tb))
        batch = [(tau, beta), *rest]
    if len(batch) > 1:
        c = len(batch)
        many = PreferenceGame(
            np.repeat(game.P[None], c, axis=0), mu=np.repeat(game.mu[None], c, axis=0)
        )
        t_arr = np.array([t for t, _ in batch])
        b_arr = np.array([b for _, b in batch]) if spec.uses_beta else beta
        try:
            hists = np.asarray(spec.run(many, t_arr, b_arr, eta, steps, init).history)
        except (ValueError, FloatingPointError):
            pass  # run (τ, β) alone below: its own error, or its numbers
        else:
            for k, tb in enumerate(batch):
                _RUNS.put(cache_key(*tb), np.ascontiguousarray(hists[:, k]))
            return _RUNS.get(cache_key(tau, beta)), time.perf_counter() - t0
    hist = np.asarray(spec.run(game, tau, beta, eta, steps, init).history)
    _RUNS.put(cache_key(tau, beta), hist)
    return hist, time.perf_counter() - t0


def clear_caches() -> None:
    """Forget every cached equilibrium and run (for timing a cold start)."""
    for cache in (_EQUILIBRIA, _PATHS, _RUNS):
        cache.clear()


def warm(
    s: Settings,
    *,
    stop: Callable[[], bool] = lambda: False,
    taus: tuple[float, ...] = (),
    betas: tuple[float, ...] = (),
) -> None:
    """Fill the caches for ``s`` without building a :class:`View` (the page's prefetch of the
    neighbouring τ values); returns early, between two learner runs, once ``stop()`` is true.
    ``taus``, ``betas``: the grids to batch over (as in :func:`compute`).  Errors are left for
    :func:`compute` to report."""
    try:
        game = build_game(s)
        init, key, tau, beta = start_policy(s, game), _key(game), float(s.tau), float(s.beta)
        _equilibrium(game, key, tau)
        _equilibrium(game, key, tau / (1.0 - beta))
    except (ValueError, ZeroDivisionError):
        return
    for name in dict.fromkeys((*s.learners, "ipo_md")):
        if stop():
            return
        try:
            _run(game, key, name, tau, beta, s.eta, int(s.steps), init, tuple(taus), tuple(betas))
        except (ValueError, FloatingPointError):
            pass


# --------------------------------------------------------------------------- the view


@dataclass
class LearnerRun:
    """One learner's iterates and their duality gaps at τ (and, for IPO-MD, its mixture)."""

    label: str
    history: np.ndarray  # [T+1, n]: π_0 … π_T
    gap: np.ndarray  # [T+1]: gap(π_t) in the game at τ
    seconds: float  # 0.0 when served from the cache
    mixture: np.ndarray | None = None  # IPO-MD: (π_t)^{1−β} μ^β, [T+1, n]
    mixture_gap: np.ndarray | None = None  # its gap at τ/(1−β), [T+1]

    @property
    def policy(self) -> np.ndarray:
        return self.history[-1]


@dataclass
class View:
    """Everything the explorer draws for one :class:`Settings`."""

    game: PreferenceGame
    settings: Settings
    star: Equilibrium  # π*_τ
    path_taus: np.ndarray  # [K]
    path: np.ndarray  # [K, n]: π*_τ' on PATH_TAUS
    runs: dict[str, LearnerRun] = field(default_factory=dict)
    ipo_md: LearnerRun | None = None  # always run (the mixture panel), shown if chosen
    star_beta: Equilibrium | None = None  # π* at τ/(1−β)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def actions(self) -> tuple[str, ...]:
        return self.game.actions or tuple(f"y{i + 1}" for i in range(self.game.n_actions))


def _history_gap(game: PreferenceGame, hist: np.ndarray, tau: float) -> np.ndarray:
    """gap(π_t) for every row of ``hist``, by one batched :func:`duality_gap` call."""
    P = np.broadcast_to(game.P, hist.shape + hist.shape[-1:])
    return np.asarray(duality_gap(P, hist, tau, np.broadcast_to(game.mu, hist.shape)))


def compute(
    s: Settings,
    game: PreferenceGame | None = None,
    *,
    taus: tuple[float, ...] = (),
    betas: tuple[float, ...] = (),
) -> View:
    """The :class:`View` of the settings (see the module docstring).

    ``taus``, ``betas``: the τ and β sliders' grids; on a cache miss the learners that can run
    them as one batch do so (the cross through (τ, β); the same numbers as without it, see the
    module docstring), so that the next τ or β move is a cache hit.

    Raises the library's ``ValueError`` for bad settings that leave nothing to draw (an invalid
    game, μ, start policy, τ < 0, β outside [0, 1)); a failing learner only adds to ``errors``.
    """
    t0 = time.perf_counter()
    game = build_game(s) if game is None else game
    tau = float(s.tau)
    beta = float(s.beta)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta = {beta}, must be in [0, 1)")
    steps = int(s.steps)
    if steps < 1:
        raise ValueError(f"steps = {steps}, must be >= 1")
    unknown = [k for k in s.learners if k not in LEARNERS]
    if unknown:
        raise ValueError(f"unknown learner {unknown[0]!r}; known: {', '.join(LEARNERS)}")
    init = start_policy(s, game)
    key = _key(game)
    star = _equilibrium(game, key, tau)  # validates τ (the library's message)
    view = View(game, s, star, PATH_TAUS, _tau_path(game, key))
    for name in dict.fromkeys((*s.learners, "ipo_md")):
        try:
            hist, secs = _run(
                game, key, name, tau, beta, s.eta, steps, init, tuple(taus), tuple(betas)
            )
            run = LearnerRun(LEARNERS[name].label, hist, _history_gap(game, hist, tau), secs)
        except (ValueError, FloatingPointError) as exc:
            if name in s.learners:
                view.errors.append(f"{LEARNERS[name].label}: {exc}")
            continue
        if name == "ipo_md":
            tau_b = tau / (1.0 - beta)
            run.mixture = D.ipo_md_mixture(hist, game.mu, beta)
            run.mixture_gap = _history_gap(game, run.mixture, tau_b)
            view.star_beta = _equilibrium(game, key, tau_b)
            view.ipo_md = run
        if name in s.learners:
            view.runs[name] = run
    view.seconds = time.perf_counter() - t0
    return view
