"""Do the LLM methods reach the equilibrium they promise?  An exact test on a sequence game.

On the enumerable :class:`~prefgame.tasks.sequence_game.SequenceGame` every quantity of the
theory is computable for a real transformer: its sequence distribution π_θ
(:func:`~prefgame.llm.exact.sequence_probs`), hence the exact KL to any target, the duality gap
and the exploitability. μ is the initial transformer's exact sequence distribution, and the
targets are tabular (:func:`targets`):

============================  =============================================================
target                        what it is (``docs/theory.md``)
============================  =============================================================
``nash``                      π*_τ = softmax(log μ + Pπ*_τ/τ)  (§2; online IPO, Prop. 4.1)
``mixture_nash``              BR_τ(π*_{τ/(1−β)}), the fixed point with the *sequence-level*
                              mixture π^(1−β) μ^β (Prop. 5.2; IPO-MD, Nash-MD-PG)
``token_mixture_fixed_point`` π = softmax(log μ + P m(π)/τ) with the *token-level* mixture m
                              that the LLM sampler draws from (solved here by Newton)
``dpo_stationary``            online DPO's stationary point (§8, by ``dynamics.online_dpo``)
``slic_stationary``           online SLiC's measured stationary point (``dynamics.online_slic``)
``rlhf``                      μ exp(r/τ)/Z with r the Bradley–Terry fit of P under μ (§9)
``mean_ipo``                  online IPO with length-averaged log-probs: log π/μ (y) =
                              |y| (Pπ(y)/τ + c), |y| the token count (EOS included)
``nash_0``                    a τ = 0 equilibrium (von Neumann winner) of P, by LP; SPPO's
                              average iterate and MPO's last iterate aim there (it need not be
                              unique: the exploitability is the measure that counts)
============================  =============================================================

Each method of :data:`~prefgame.llm.methods.METHODS` declares its ``target``;
:func:`verify_llm` trains it with the real trainer, sampler and loss (no special path) and
logs the exact distances along the run.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import brentq, root
from scipy.special import logsumexp

from prefgame.equilibrium import best_response, duality_gap, kl, solve, solve_unregularized
from prefgame.games import PreferenceGame
from prefgame.llm.methods import TARGETS
from prefgame.tasks.sequence_game import SequenceGame

if TYPE_CHECKING:
    from prefgame.llm.policy import Policy

__all__ = [
    "TARGETS",
    "VerifyConfig",
    "exploitability",
    "fixed_point",
    "initial_policy",
    "mean_ipo_target",
    "targets",
    "token_mixture_fixed_point",
    "verify_llm",
]


# --- exact targets (tabular, float64) ---------------------------------------------------------


def exploitability(P: np.ndarray, pi: np.ndarray) -> float:
    """max_y P(y ≻ π) − ½: the best response's edge over π in the unregularised game
    (0 only at a Nash equilibrium of P); half the τ = 0 duality gap 2 max_y (Pπ)(y) − 1."""
    return 0.5 * float(duality_gap(P, pi, 0.0))


def fixed_point(
    update: Callable[[np.ndarray], np.ndarray], z0: np.ndarray, *, tol: float = 1e-12
) -> np.ndarray:
    """The normalised log-policy z = update(z) (``update`` returns log-probabilities), by
    Powell's hybrid Newton method from ``z0``; ``RuntimeError`` when ‖z − update(z)‖∞ > tol."""
    sol = root(lambda z: z - update(z), z0, method="hybr", options={"xtol": 1e-14})
    z = sol.x
    res = float(np.max(np.abs(z - update(z))))
    if not res <= tol:
        raise RuntimeError(f"fixed point not found: residual {res:.3g} > {tol:g} ({sol.message})")
    return update(z)


def token_mixture_fixed_point(
    game: SequenceGame,
    mu: np.ndarray,
    tau: float,
    beta: float,
    *,
    init: np.ndarray | None = None,
    P: np.ndarray | None = None,
) -> np.ndarray:
    """π = softmax(log μ + P m(π)/τ), m(π) the token-level mixture of π and μ
    (:meth:`SequenceGame.token_mixture`): where IPO-MD and Nash-MD-PG are stationary when their
    opponent is drawn token by token.  With the sequence-level mixture in place of m this is
    Prop. 5.2's BR_τ(π*_{τ/(1−β)}).  ``P``: another preference over the game's sequences
    (default ``game.P``)."""
    P = game.P if P is None else P
    z0 = np.log(init if init is not None else mu)

    def update(z: np.ndarray) -> np.ndarray:  # log BR_τ(m(π))
        return best_response(P, game.token_mixture(np.exp(z), mu, beta), tau, mu, log=True)

    return np.exp(fixed_point(update, z0))


def mean_ipo_target(
    game: SequenceGame,
    mu: np.ndarray,
    tau: float,
    *,
    init: np.ndarray | None = None,
    P: np.ndarray | None = None,
) -> np.ndarray:
    """Online IPO's fixed point with length-averaged log-probs (``logp_reduction="mean"``).

    The loss sees g(y) = log(π(y)/μ(y)) / |y|; its minimiser with pairs from π has
    g(y) − g(y') = (P(y ≻ π) − P(y' ≻ π))/τ, i.e. π(y) = μ(y) exp(|y| (P(y ≻ π)/τ + c)) with
    the c that normalises π (unique: the sum is increasing in c).  ``P`` as in
    :func:`token_mixture_fixed_point`."""
    P = game.P if P is None else P
    n_tok = game.n_tokens.astype(np.float64)
    logmu = np.log(mu)
    z0 = np.log(init) if init is not None else logmu

    def update(z: np.ndarray) -> np.ndarray:
        a = logmu + n_tok * (P @ np.exp(z)) / tau
        c = brentq(lambda c: logsumexp(a + n_tok * c), -1e3, 1e3, xtol=1e-15)
        return a + n_tok * c

    return np.exp(fixed_point(update, z0))


def targets(
    game: SequenceGame, mu: np.ndarray, tau: float, beta: float, reward: np.ndarray
) -> dict[str, np.ndarray]:
    """Every target of :data:`TARGETS` for the game with reference ``mu`` (sequence-level),
    regularisation τ, mixture β and the RL reward ``reward``."""
    from prefgame.dynamics import online_dpo, online_slic
    from prefgame.dynamics.policy_gradient import rlhf_policy

    g = PreferenceGame(game.P, mu)
    star = solve(g, tau).policy
    mix_star = solve(g, tau / (1.0 - beta)).policy if beta < 1 else mu
    out = {
        "nash": star,
        "mixture_nash": best_response(game.P, mix_star, tau, mu),
        "rlhf": rlhf_policy(g, tau, reward=reward),
    }
    out["token_mixture_fixed_point"] = token_mixture_fixed_point(
        game, mu, tau, beta, init=out["mixture_nash"]
    )
    out["mean_ipo"] = mean_ipo_target(game, mu, tau, init=star)
    out["nash_0"] = solve_unregularized(g).policy
    # online DPO's exact learner converges (stationarity ≤ 1e-12); SLiC's hinge has no
    # curvature and keeps moving by ~1e-5 (measured: 2e4 vs 2e5 steps), so its point is measured
    out["dpo_stationary"] = online_dpo(g, tau, steps=200_000, tol=1e-12).policy
    out["slic_stationary"] = online_slic(g, tau, steps=20_000, tol=1e-12).policy
    return out


# --- the run ------------------------------------------------------------------------------


@dataclass
class VerifyConfig:
    """The settings of :func:`verify_llm` (defaults: about 10 minutes on 2 CPU cores)."""

    methods: tuple[str, ...] = ()  # empty: every registered method
    tau: float = 0.2
    beta: float = 0.5
    steps: int = 800
    seed: int = 0
    batch_size: int = 128  # prompts (= pairs for the pairwise methods) per step
    lr: float = 3e-3
    lr_schedule: str = "linear"  # decays to 0 at the last step: the noise floor falls with it
    log_every: int = 20
    n_layer: int = 2
    n_embd: int = 32
    n_head: int = 2
    words: tuple[str, ...] = ("a", "b", "c")
    max_length: int = 3
    cycle_weight: float = 0.4
    reductions: tuple[str, ...] = ("sum", "mean")  # "mean" runs online IPO a second time
    eta: float = 2.5  # INPO's and SPPO's step η (INPO: ητ = 0.5 at τ = 0.2)
    snapshot_every: int = 100  # steps per INPO/SPPO iteration and per MPO magnet period

    def __post_init__(self) -> None:
        from prefgame.llm.methods import METHODS

        self.methods = tuple(self.methods) or tuple(METHODS)
        for m in self.methods:
            if m not in METHODS:
                raise ValueError(f"--methods: unknown method {m!r}; choose from {tuple(METHODS)}")
        if not (math.isfinite(self.tau) and self.tau > 0):
            raise ValueError(f"--tau = {self.tau!r}, must be a finite number > 0")
        if not 0.0 <= self.beta < 1.0:
            raise ValueError(f"--beta = {self.beta!r}, must lie in [0, 1)")
        for name in ("steps", "batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"--{name.replace('_', '-')} = {getattr(self, name)}, must be >= 1"
                )
        if self.batch_size < 2:
            raise ValueError("--batch-size must be >= 2 (RL's leave-one-out baseline)")
        if not (math.isfinite(self.eta) and self.eta > 0):
            raise ValueError(f"--eta = {self.eta!r}, must be a finite number > 0")
        if self.snapshot_every < 1:
            raise ValueError(f"--snapshot-every = {self.snapshot_every}, must be >= 1")
        for m in self.methods:  # the bound each method's config would refuse mid-run
            weight = getattr(METHODS[m].loss, "anchor_weight", None)
            if weight is not None and not 0.0 <= weight(self.tau, self.eta) <= 1.0:
                raise ValueError(
                    f"--eta * --tau = {self.eta} * {self.tau} = {self.eta * self.tau:g} > 1 "
                    f"for method {m!r} (its anchor μ^(ητ) π_t^(1−ητ) needs ητ <= 1)"
                )


def initial_policy(cfg: VerifyConfig, game: SequenceGame) -> Policy:
    """The tiny GPT-2 every run starts from (seeded by ``cfg.seed``): its exact sequence
    distribution is μ."""
    from prefgame.llm.exact import sequence_game_tokenizer
    from prefgame.llm.policy import Policy
    from prefgame.llm.tokenizers import tiny_gpt2

    tok = sequence_game_tokenizer(game)
    model = tiny_gpt2(
        tok,
        n_layer=cfg.n_layer,
        n_embd=cfg.n_embd,
        n_head=cfg.n_head,
        n_positions=32,
        seed=cfg.seed,
    )
    return Policy(model, tok)


def _record(g: PreferenceGame, pi: np.ndarray, tau: float, goals: dict) -> dict:
    rec = {f"kl_to_{k}": kl(v, pi) for k, v in goals.items()}
    rec["duality_gap"] = float(duality_gap(g, pi, tau))
    rec["exploitability"] = exploitability(g.P, pi)
    mu = g.mu
    rec["kl_from_mu"] = kl(pi, mu)
    return rec


def run_method(
    cfg: VerifyConfig,
    game: SequenceGame,
    method: str,
    goals: dict[str, np.ndarray],
    mu: np.ndarray,
    reward: np.ndarray,
    *,
    reduction: str = "sum",
) -> dict:
    """Train ``method`` online on ``game`` with the real :class:`OnlineTrainer`; every
    ``log_every`` steps record the exact KL(goal ‖ π_θ) for each goal, the duality gap, the
    exploitability and KL(π_θ ‖ μ) (step 0 first)."""
    import torch

    from prefgame.llm.config import OnlineConfig
    from prefgame.llm.exact import SequenceGameJudge, sequence_probs
    from prefgame.llm.methods import METHODS
    from prefgame.llm.trainer import OnlineTrainer

    policy = initial_policy(cfg, game)
    spec = METHODS[method]
    trace = {"steps": [], "policy": []}

    def log(step: int) -> None:
        pi = sequence_probs(policy, game)
        trace["steps"].append(step)
        trace["policy"].append(pi)

    log(0)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out, torch.random.fork_rng(devices=[]):
        oc = OnlineConfig(
            method=method,
            tau=cfg.tau,
            beta=cfg.beta if spec.uses_beta else 0.0,
            batch_size=cfg.batch_size,
            max_steps=cfg.steps,
            max_new_tokens=game.max_length,
            lr=cfg.lr,
            lr_schedule=cfg.lr_schedule,
            logp_reduction=reduction,
            output_dir=out,
            progress_bar=False,
            log_tensorboard=False,
            win_rate_every=0,
            seed=cfg.seed,
            eta=cfg.eta,
            snapshot_every=cfg.snapshot_every if spec.snapshots else 0,
        )

        def every(trainer, logs) -> None:
            if trainer.step_count % cfg.log_every == 0 or trainer.step_count == cfg.steps:
                log(trainer.step_count)

        judge = SequenceGameJudge(game, reward)
        # GPT-2 ties lm_head to the embeddings: accelerate's checkpoint writer says so each run
        quiet = logging.getLogger("accelerate.utils.other")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            OnlineTrainer(oc, policy, judge, [game.prompt], callbacks=[every]).train()
        finally:
            quiet.setLevel(level)
    seconds = time.perf_counter() - t0
    g = PreferenceGame(game.P, mu)
    records = [_record(g, pi, cfg.tau, goals) for pi in trace["policy"]]
    out = {"target": spec.target if reduction == "sum" else "mean_ipo", "steps": trace["steps"]}
    for key in records[0]:
        out[key] = [r[key] for r in records]
    out["kl_to_target"] = out[f"kl_to_{out['target']}"]
    out["kl_to_pi_star"] = out["kl_to_nash"]
    out["final_policy"] = trace["policy"][-1].tolist()
    out["policies"] = [q.tolist() for q in trace["policy"]]  # π_θ at each logged step
    out["seconds"] = seconds
    return out


def verify_llm(cfg: VerifyConfig, *, progress: Callable[[str], None] | None = None) -> dict:
    """Train every method of ``cfg`` on the sequence game and measure it exactly (module doc).

    Returns the JSON-ready report: ``task``, ``tau``, ``beta``, ``mu``, ``targets`` (their
    distances to π*_τ and to each other), ``methods`` (per method its declared target and the
    exact traces), ``mixture`` (token- vs sequence-level) and ``reduction`` (summed vs
    averaged log-probs)."""
    from prefgame.dynamics.policy_gradient import fit_bradley_terry
    from prefgame.llm.exact import sequence_probs

    game = SequenceGame(words=cfg.words, max_length=cfg.max_length, cycle_weight=cfg.cycle_weight)
    mu = sequence_probs(initial_policy(cfg, game), game)
    g = PreferenceGame(game.P, mu)
    reward = fit_bradley_terry(g)
    goals = targets(game, mu, cfg.tau, cfg.beta, reward)
    say = progress or (lambda s: None)
    report = {
        "task": {
            "n_sequences": game.n,
            "max_length": game.max_length,
            "words": list(game.words),
            "cycle_weight": game.cycle_weight,
            "prompt": game.prompt,
            "model": {"n_layer": cfg.n_layer, "n_embd": cfg.n_embd, "n_head": cfg.n_head},
        },
        "tau": cfg.tau,
        "beta": cfg.beta,
        "config": asdict(cfg),
        "targets": {
            k: {
                "kl_from_pi_star": kl(goals["nash"], v),
                "kl_from_mu": kl(v, mu),
                "duality_gap": float(duality_gap(g, v, cfg.tau)),
                "exploitability": exploitability(game.P, v),
            }
            for k, v in goals.items()
        },
        "methods": {},
    }
    for name in cfg.methods:
        say(f"verify-llm: training {name} ({cfg.steps} steps)")
        report["methods"][name] = run_method(cfg, game, name, goals, mu, reward)
    report["mixture"] = mixture_report(game, mu, goals, cfg.tau, cfg.beta)
    if "mean" in cfg.reductions and "online_ipo" in cfg.methods:
        say(f"verify-llm: training online_ipo with averaged log-probs ({cfg.steps} steps)")
        mean = run_method(cfg, game, "online_ipo", goals, mu, reward, reduction="mean")
        summed = report["methods"]["online_ipo"]
        report["reduction"] = {
            "method": "online_ipo",
            "target_kl_mean_vs_sum": kl(goals["mean_ipo"], goals["nash"]),
            "sum": {
                "target": "nash",
                "final_kl_to_own_target": summed["kl_to_nash"][-1],
                "final_kl_to_other_target": summed["kl_to_mean_ipo"][-1],
            },
            "mean": {
                "target": "mean_ipo",
                "final_kl_to_own_target": mean["kl_to_mean_ipo"][-1],
                "final_kl_to_other_target": mean["kl_to_nash"][-1],
                "steps": mean["steps"],
                "kl_to_target": mean["kl_to_mean_ipo"],
                "kl_to_pi_star": mean["kl_to_nash"],
            },
        }
    report["mu"] = mu.tolist()
    report["target_policies"] = {k: v.tolist() for k, v in goals.items()}
    report["sequences"] = game.texts
    return report


def mixture_report(
    game: SequenceGame, mu: np.ndarray, goals: dict[str, np.ndarray], tau: float, beta: float
) -> dict:
    """Token-level vs sequence-level mixture of π and μ, exactly: at π = the Prop. 5.2 fixed
    point π*_β (where IPO-MD samples at convergence), their max |Δ| per sequence, total
    variation and KL; and how far the two fixed points lie apart."""
    pi = goals["mixture_nash"]
    tok = game.token_mixture(pi, mu, beta)
    seq = game.sequence_mixture(pi, mu, beta)
    return {
        "beta": beta,
        "at": "mixture_nash",
        "token_vs_sequence_max_abs": float(np.max(np.abs(tok - seq))),
        "token_vs_sequence_tv": float(0.5 * np.abs(tok - seq).sum()),
        "kl_sequence_to_token": kl(seq, tok),
        "sequence_mixture_is_pi_star_tau_over_1_minus_beta": kl(
            seq, solve(PreferenceGame(game.P, mu), tau / (1 - beta)).policy
        ),
        "fixed_points_kl": kl(goals["mixture_nash"], goals["token_mixture_fixed_point"]),
        "fixed_points_max_abs": float(
            np.max(np.abs(goals["mixture_nash"] - goals["token_mixture_fixed_point"]))
        ),
    }


def summary_lines(report: dict) -> Sequence[str]:
    """A human-readable table of the report (one line per method)."""
    task = report["task"]
    head = (
        f"sequence game: {task['n_sequences']} completions, max length {task['max_length']}; "
        f"tau = {report['tau']}, beta = {report['beta']}"
    )
    cols = (
        f"{'method':12s} {'target':26s} {'KL(target||pi) start -> end':>30s} "
        f"{'KL(pi*||pi) end':>16s} {'gap end':>9s}"
    )
    lines = [head, cols]
    for name, m in report["methods"].items():
        k = m["kl_to_target"]
        lines.append(
            f"{name:12s} {m['target']:26s} {k[0]:14.4f} -> {k[-1]:<13.4f} "
            f"{m['kl_to_pi_star'][-1]:16.4f} {m['duality_gap'][-1]:9.4f}"
        )
    mix = report["mixture"]
    lines.append(
        f"token vs sequence mixture at beta = {mix['beta']}: max |diff| = "
        f"{mix['token_vs_sequence_max_abs']:.4g}, TV = {mix['token_vs_sequence_tv']:.4g}; "
        f"KL between their fixed points = {mix['fixed_points_kl']:.4g}"
    )
    if "reduction" in report:
        r = report["reduction"]
        lines.append(
            f"online_ipo, averaged log-probs: KL(mean target||pi) = "
            f"{r['mean']['final_kl_to_own_target']:.4f}, KL(pi*||pi) = "
            f"{r['mean']['final_kl_to_other_target']:.4f} "
            f"(targets {r['target_kl_mean_vs_sum']:.4f} apart)"
        )
    return lines
