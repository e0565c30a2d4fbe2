"""prefgame's τ > 0 solver against another tool: pygambit's logit QRE at λ = 1/τ.

The reference values were computed once with pygambit by ``tools/make_gambit_reference.py``
and committed (``tests/data/gambit_logit_qre.json``, with the pygambit version and date), so
this check runs in every ``make test`` without pygambit.  Mapping and tolerance: see the script's
docstring and ``docs/theory.md`` §2 — gambit's answer is within about its own fixed-point
residual r of π*_τ, and we allow 10 r + 1e-12.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prefgame.equilibrium import solve
from prefgame.games import PreferenceGame

DATA = Path(__file__).resolve().parent / "data" / "gambit_logit_qre.json"
DOC = json.loads(DATA.read_text())
CASES = DOC["cases"]


def _residual(P: np.ndarray, mu: np.ndarray, tau: float, own: np.ndarray, other: np.ndarray):
    F = np.log(own) - np.log(mu) - (P - 0.5) @ other / tau
    return float(np.max(np.abs(F - F.mean())))


def test_the_reference_file_says_where_it_came_from():
    assert DOC["tool"].startswith("pygambit ")
    assert DOC["script"] == "tools/make_gambit_reference.py"
    assert (Path(__file__).resolve().parents[1] / DOC["script"]).is_file()
    assert len(CASES) >= 8
    assert any(not np.allclose(c["mu"], c["mu"][0]) for c in CASES)  # a non-uniform μ is covered


@pytest.mark.parametrize("case", CASES, ids=[f"{c['game']}-tau{c['tau']}" for c in CASES])
def test_solver_matches_pygambit_logit_qre(case):
    P, mu, tau = np.asarray(case["P"]), np.asarray(case["mu"]), case["tau"]
    s1, s2 = np.asarray(case["player1"]), np.asarray(case["player2"])
    assert case["lambda"] == pytest.approx(1.0 / tau, rel=1e-15)
    # The stored answer is what the file says: a QRE to within its recorded residual, and
    # symmetric (the regularised game's equilibrium is unique and symmetric).
    r = case["qre_residual"]
    assert max(_residual(P, mu, tau, s1, s2), _residual(P, mu, tau, s2, s1)) <= r * (1 + 1e-6)
    assert r < 1e-6, "gambit's answer is too coarse to test against"
    np.testing.assert_allclose(s1, s2, atol=10 * r + 1e-12)
    ours = solve(PreferenceGame(P, mu), tau)
    assert ours.converged
    np.testing.assert_allclose(ours.policy, s1, rtol=0, atol=10 * r + 1e-12)


def test_the_reference_is_reproduced_when_pygambit_is_installed():
    """Where pygambit is installed (the ``bench`` extra), recompute the first cases with the
    committed script: the file is what the script makes, not hand-edited numbers."""
    pytest.importorskip("pygambit")
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_gambit_reference", DATA.parents[2] / DOC["script"]
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for case in CASES[:3]:
        P, mu, tau = np.asarray(case["P"]), np.asarray(case["mu"]), case["tau"]
        s1, _ = script.gambit_qre(P, mu, tau)
        np.testing.assert_allclose(s1, case["player1"], atol=10 * case["qre_residual"] + 1e-12)
