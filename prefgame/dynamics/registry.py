"""The post-paper learners by name, with what their papers promise
(``prefgame equivalence --methods``).

Each :class:`LearnerSpec` records the learner, the equilibrium its theory targets (π*_τ, or a
τ = 0 equilibrium for the Hedge-type self-play methods and the proximal ones, MPO and COMAL),
which iterate the guarantee is for, the claimed rate and the source.  ``run(game, tau, **kw)``
calls the learner with τ where it takes one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..games import GameLike
from ._common import Trajectory
from .extragradient import extragradient
from .inpo import inpo
from .magnetic_mirror_descent import mmd
from .optimistic import omwu
from .proximal import comal, mpo, nash_mp
from .self_play_hedge import dno, sppo
from .spo import spo

__all__ = ["LEARNERS", "LearnerSpec"]


@dataclass(frozen=True)
class LearnerSpec:
    """A learner and its claim.

    Attributes:
        name: the CLI name.
        function: the learner.
        regularised: True → it takes τ; False → it ignores τ (τ-free: run once per game).
        target: ``"nash"`` → π*_τ; ``"nash_0"`` → a τ = 0 equilibrium (the LP solution is the
            reference; τ is then the learner's proximal strength, as for MPO and COMAL).
        guarantee: "last" or "average" (the iterate the theory promises converges).
        rate: the claimed rate, in words.
        source: the paper (arXiv link).
        max_steps: a lower step cap for the study (None: the study's cap for the iterate).
        fixed_eta: for a learner whose default step is tuned to the horizon T (SPPO, DNO:
            η = √(8D/T)), a step independent of T, so that a run of T steps is a prefix of a
            longer one (the explorer extends its runs so); None: the default is already so.
        claimed_factor: (η, τ) ↦ the per-step factor the theorem puts on KL(π*‖π_t)
            (last-iterate learners; None otherwise).
    """

    name: str
    function: Callable[..., Trajectory]
    regularised: bool
    guarantee: str
    rate: str
    source: str
    claimed_factor: Callable[[float, float], float] | None = None
    target: str = "nash"
    max_steps: int | None = None  # the study's step cap when a step is costly (COMAL: a solve)
    fixed_eta: float | None = None  # a step that does not depend on the horizon (see below)

    def __post_init__(self) -> None:
        if self.target not in ("nash", "nash_0"):
            raise ValueError(f"learner {self.name!r}: target = {self.target!r}")
        if not self.regularised and self.target != "nash_0":
            raise ValueError(f"learner {self.name!r}: a τ-free learner targets 'nash_0'")

    @property
    def target_label(self) -> str:
        """``"pi*_tau"`` or ``"tau=0 LP"`` (the equivalence study's ``target`` field)."""
        return "pi*_tau" if self.target == "nash" else "tau=0 LP"

    def run(self, game: GameLike, tau: float, **kw: Any) -> Trajectory:
        return self.function(game, tau, **kw) if self.regularised else self.function(game, **kw)

    def target_tau(self, tau: float) -> float:
        """The τ of the equilibrium this learner targets in a study at ``tau``."""
        return float(tau) if self.target == "nash" else 0.0


LEARNERS: dict[str, LearnerSpec] = {
    s.name: s
    for s in (
        LearnerSpec(
            "mmd",
            mmd,
            True,
            "last",
            "KL(π*‖π_{t+1}) ≤ (1+ητ)^{-t} KL(π*‖π_1), η ≤ τ/L²",
            "Sokota et al. 2023, https://arxiv.org/abs/2206.05825",
            lambda eta, tau: 1 / (1 + eta * tau),
        ),
        LearnerSpec(
            "omwu",
            omwu,
            True,
            "last",
            "KL(π*‖π_t) ≤ 2(1−ητ)^t KL(π*‖π_0), η ≤ min(1/(2τ+2L), 1/(4L))",
            "Cen, Wei & Chi 2021, https://arxiv.org/abs/2105.15186",
            lambda eta, tau: 1 - eta * tau,
        ),
        LearnerSpec(
            "extragradient",
            extragradient,
            True,
            "last",
            "KL(π*‖π_t) ≤ (1−ητ)^t KL(π*‖π_0), η ≤ 1/(τ+L)",
            "Zhou, Fazel & Du 2025 (EGPO), https://arxiv.org/abs/2503.08942",
            lambda eta, tau: 1 - eta * tau,
        ),
        LearnerSpec(
            "inpo",
            inpo,
            True,
            "last",
            "KL(π*‖π_{t+1}) ≤ (1−ητ)^t KL(π*‖π_1), η ≤ τ/(L²+τ²)",
            "Zhang et al. 2024, https://arxiv.org/abs/2407.00617",
            lambda eta, tau: 1 - eta * tau,
        ),
        LearnerSpec(
            "sppo",
            sppo,
            False,
            "average",
            "gap_0(π̄_T) ≤ 2D/(ηT) + η/4 = O(1/√T) at η = √(8D/T)",
            "Wu et al. 2024, https://arxiv.org/abs/2405.00675",
            target="nash_0",
            fixed_eta=0.5,
        ),
        LearnerSpec(
            "dno",
            dno,
            False,
            "average",
            "as SPPO with η_DNO = 1/η_SPPO (the same map)",
            "Rosset et al. 2024, https://arxiv.org/abs/2404.03715",
            target="nash_0",
            fixed_eta=2.0,  # = SPPO's 0.5 (η_DNO = 1/η_SPPO)
        ),
        LearnerSpec(
            "spo",
            spo,
            False,
            "average",
            "gap_0(π̄_T) ≤ 2D/(η√T) + η/(2√T) = O(1/√T), η_k = η/√k",
            "Swamy et al. 2024, https://arxiv.org/abs/2401.04056",
            target="nash_0",
        ),
        LearnerSpec(
            "nash_mp",
            nash_mp,
            True,
            "last",
            "KL(π*_τ‖π_t) linear in the last iterate, of order (1+2τ)^{−N/2} in N queries",
            "Tiapkin et al. 2025 (Nash-MP), https://arxiv.org/abs/2505.19731",
        ),
        LearnerSpec(
            "mpo",
            mpo,
            True,
            "last",
            "last iterate → a τ = 0 equilibrium (magnet refreshed every K steps; no rate)",
            "Wang et al. 2024 (MPO), https://arxiv.org/abs/2410.16714",
            target="nash_0",
        ),
        LearnerSpec(
            "comal",
            comal,
            True,
            "last",
            "last iterate → a τ = 0 equilibrium (proximal point, each prox solved; no rate)",
            "Liu et al. 2024 (COMAL), https://arxiv.org/abs/2410.23223",
            target="nash_0",
            max_steps=2000,
        ),
    )
}
