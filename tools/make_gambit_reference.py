"""Reference values for the τ > 0 solver from another tool: pygambit's logit QRE.

    python tools/make_gambit_reference.py            # writes tests/data/gambit_logit_qre.json

Run once, by hand, where pygambit is installed (``pip install pygambit``, the ``bench`` extra;
it compiles from source).  The committed JSON is what ``tests/test_gambit_reference.py`` checks
prefgame's solver against in every ``make test``, without pygambit.

Mapping (``docs/theory.md`` §2).  The regularised game's equilibrium π*_τ solves
π ∝ μ exp(Pπ/τ) = μ exp(Aπ/τ) (A = P − ½, the zero-sum form).  A logit QRE with precision λ
solves σ_i(a) ∝ exp(λ u_i(a, σ_{−i})).  Give player 1 the payoff A[a, b] + τ log μ(a) and
player 2 the payoff −A[a, b] + τ log μ(b) (the zero-sum game A, −A plus a term in each player's
own action): then σ_1 ∝ μ^{λτ} exp(λAσ_2) and σ_2 ∝ μ^{λτ} exp(λAσ_1), so at λ = 1/τ the
(unique, symmetric) QRE is σ_1 = σ_2 = π*_τ.  With μ uniform the shift is a constant and the game
is plain (A, −A).

Gambit's precision.  ``logit_solve_lambda`` follows the QRE branch with a predictor–corrector
whose tolerance is its own; we do not rely on it.  For each answer σ (both players) the script
computes, with numpy alone, the centred fixed-point residual
r = max_a |log σ(a) − log μ(a) − (Aσ′)(a)/τ − mean| and stores it.  π is softmax of the logits and
the Jacobian of the logit residual, I − AS/τ, has eigenvalues 1 + iω (|·| ≥ 1), so gambit's
answer is within about r of π*_τ; the test allows 10 r (+ 1e-12).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import numpy as np

from prefgame.games import (
    near_cyclic,
    random_intransitive,
    random_transitive,
    three_rater_types,
)

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "gambit_logit_qre.json"

#: (label, P, μ or None for uniform, τ values): small games, both uniform and non-uniform μ,
#: intransitive and transitive, τ from 0.05 to 1.
CASES = [
    ("random_intransitive(n=5, seed=3)", random_intransitive(5, seed=3).P, None, [1.0, 0.3, 0.1]),
    ("near_cyclic()", near_cyclic().P, None, [0.5, 0.1]),
    ("three_rater_types(eps=0.2)", three_rater_types(0.2).P, None, [0.2, 0.05]),
    ("random_transitive(n=4, seed=1)", random_transitive(4, seed=1).P, None, [0.5]),
    (
        "random_intransitive(n=4, seed=7), mu = (0.1, 0.2, 0.3, 0.4)",
        random_intransitive(4, seed=7).P,
        [0.1, 0.2, 0.3, 0.4],
        [1.0, 0.3],
    ),
]


def qre_residual(P: np.ndarray, mu: np.ndarray, tau: float, own: np.ndarray, other: np.ndarray):
    """max_a |F(a)|, F = log σ − log μ − Aσ′/τ, centred (zero iff σ = BR_τ(σ′))."""
    F = np.log(own) - np.log(mu) - (P - 0.5) @ other / tau
    return float(np.max(np.abs(F - F.mean())))


def gambit_qre(P: np.ndarray, mu: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Both players' strategies of the logit QRE at λ = 1/τ of the shifted game (docstring)."""
    import pygambit as gbt

    A = P - 0.5
    shift = tau * np.log(mu)
    game = gbt.Game.from_arrays(A + shift[:, None], -A + shift[None, :])
    qre = gbt.qre.logit_solve_lambda(game, [1.0 / tau])[0]
    p1, p2 = list(game.players)
    s1 = np.array([float(qre.profile[s]) for s in p1.strategies])
    s2 = np.array([float(qre.profile[s]) for s in p2.strategies])
    return s1, s2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    import pygambit as gbt

    cases = []
    for label, P, mu, taus in CASES:
        n = P.shape[0]
        mu_arr = np.full(n, 1.0 / n) if mu is None else np.asarray(mu, dtype=np.float64)
        for tau in taus:
            s1, s2 = gambit_qre(P, mu_arr, tau)
            res = max(qre_residual(P, mu_arr, tau, s1, s2), qre_residual(P, mu_arr, tau, s2, s1))
            cases.append(
                {
                    "game": label,
                    "P": P.tolist(),
                    "mu": mu_arr.tolist(),
                    "tau": tau,
                    "lambda": 1.0 / tau,
                    "player1": s1.tolist(),
                    "player2": s2.tolist(),
                    "qre_residual": res,
                }
            )
            print(f"{label:60s} tau={tau:<5g} residual={res:.2e}")
    doc = {
        "description": (
            "Logit QRE at lambda = 1/tau of the game (A + tau log mu(a), -A + tau log mu(b)), "
            "A = P - 1/2: the regularised equilibrium pi*_tau (docs/theory.md section 2)."
        ),
        "tool": f"pygambit {gbt.__version__}, gbt.qre.logit_solve_lambda",
        "script": "tools/make_gambit_reference.py",
        "date": dt.date.today().isoformat(),
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out} ({len(cases)} cases)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
