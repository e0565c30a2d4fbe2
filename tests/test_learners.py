"""The post-paper learners (MMD, OMWU, extragradient, INPO, SPPO, DNO, SPO): the CLI's
``equivalence --methods``, batching, the sampled flavour, input errors and the study's comparison.
The theory checks (fixed points, rates, failures) are in
``paper_proofs/check_{mmd,omwu,...}.py``."""

import inspect
import json

import numpy as np
import pytest

from prefgame import games as G
from prefgame.cli import main
from prefgame.dynamics import (
    LEARNERS,
    comal,
    dno,
    extragradient,
    inpo,
    mmd,
    mpo,
    nash_mp,
    nash_mp_step,
    omwu,
    spo,
    sppo,
)
from prefgame.equilibrium import solve
from prefgame.equivalence import METHODS, equivalence_study

ALL = list(LEARNERS)
LAST = [n for n, s in LEARNERS.items() if s.guarantee == "last" and s.target == "nash"]
PROXIMAL = [n for n, s in LEARNERS.items() if s.regularised and s.target == "nash_0"]
SAMPLED = [n for n in ALL if "samples" in inspect.signature(LEARNERS[n].function).parameters]


def _kw(name, **kw):
    """The keyword arguments that learner ``name`` takes (COMAL's prox has no step size)."""
    params = inspect.signature(LEARNERS[name].function).parameters
    return {k: v for k, v in kw.items() if k in params}


EXISTING_FIELDS = {"policy", "duality_gap", "max_abs_diff", "steps", "converged", "seconds"}


def _cli(capsys, *argv):
    rc = main(["equivalence", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("n,seed,tau", [(6, 11, 0.1), (12, 4, 0.3)])
def test_last_iterate_learners_reach_pi_star_through_the_cli(tmp_path, capsys, n, seed, tau):
    """Done-when: random intransitive games, non-uniform μ — every learner whose theory promises
    last-iterate convergence to π*_τ is within 1e-8 of it (checked against the Newton solver)."""
    g = G.random_intransitive(n, seed=seed).with_mu(
        np.random.default_rng(seed).dirichlet(np.ones(n))
    )
    np.save(tmp_path / "P.npy", g.P)
    np.save(tmp_path / "mu.npy", g.mu)
    rc, stdout, _ = _cli(
        capsys,
        "--matrix",
        str(tmp_path / "P.npy"),
        "--mu",
        str(tmp_path / "mu.npy"),
        "--tau",
        str(tau),
        "--methods",
        *ALL,
        "--max-steps",
        "4000",
        "--json",
    )
    assert rc == 0
    out = json.loads(stdout)
    star = solve(g, tau).policy
    lp = solve(g, 0.0).policy
    for m in ALL:
        e = out[m]
        assert EXISTING_FIELDS <= set(e) and "average_policy" in e and "stopped" in e
        assert e["guarantee"] == LEARNERS[m].guarantee
    for m in LAST:
        e = out[m]
        assert e["target"] == "pi*_tau" and e["converged"] and e["stopped"] == "target reached"
        assert np.max(np.abs(np.array(e["policy"]) - star)) <= 1e-8
        assert e["steps_to_target"]["last"] == e["steps"] < 4000
        if LEARNERS[m].claimed_factor is not None:
            assert e["claimed_kl_factor"] < 1
            assert e["fitted_rate"] ** 2 <= e["claimed_kl_factor"] + 1e-6
    for m in PROXIMAL:  # a τ = 0 target: nearer to the LP solution than π*_τ is
        e = out[m]
        assert e["target"] == "tau=0 LP" and e["target_tau"] == 0.0
        assert e["target_max_abs_diff"] < 0.5 * np.max(np.abs(star - lp))
    # the same maps: INPO = MMD with η/(1 − ητ) at the default steps, DNO = SPPO
    np.testing.assert_allclose(out["inpo"]["policy"], out["mmd"]["policy"], atol=1e-12)
    assert out["inpo"]["steps"] == out["mmd"]["steps"]
    np.testing.assert_allclose(
        out["dno"]["average_policy"], out["sppo"]["average_policy"], atol=1e-12
    )
    for m in ("sppo", "dno", "spo"):
        e = out[m]
        assert e["target"] == "tau=0 LP" and e["target_tau"] == 0.0
        assert not e["converged"] and e["stopped"] == "max_steps" and e["steps"] == 4000
        assert e["target_max_abs_diff"] == pytest.approx(np.max(np.abs(np.array(e["policy"]) - lp)))
        assert e["average_duality_gap"] < 0.05  # the average approaches the LP solution ...
        assert e["max_abs_diff"] > 1e-3  # ... which is not π*_τ
    # Hedge's last iterate is worse than its average on an intransitive game
    assert out["sppo"]["target_duality_gap"] > 2 * out["sppo"]["average_duality_gap"]


def test_text_output_lists_the_learners(capsys):
    rc, stdout, _ = _cli(
        capsys,
        "--game",
        "three_raters",
        "--tau",
        "0.5",
        "--methods",
        "mmd",
        "spo",
        "--max-steps",
        "500",
    )
    assert rc == 0 and "post-paper learners" in stdout
    assert "mmd" in stdout and "spo" in stdout and "reached" in stdout


def test_without_methods_the_output_is_unchanged(capsys):
    rc, stdout, _ = _cli(capsys, "--game", "rps", "--tau", "0.5", "--json", "--max-steps", "20000")
    assert rc == 0
    assert set(json.loads(stdout)) == {"game", "n", "tau", "beta", "nash_md_constant", *METHODS}


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--game", "rps", "--tau", "0.1", "--methods", "nope"], "--methods nope"),
        (["--game", "rps", "--tau", "0.1", "--methods"], "--methods"),
    ],
)
def test_unknown_method_exits_2(capsys, argv, needle):
    rc, stdout, stderr = _cli(capsys, *argv)
    assert rc == 2 and stdout == "" and needle in stderr and stderr.count("\n") == 1


def test_study_function_rejects_unknown_methods():
    with pytest.raises(ValueError, match="unknown method 'x'"):
        equivalence_study(G.rock_paper_scissors(), 0.1, methods=["x"])


@pytest.mark.parametrize("name", ALL)
def test_a_batch_of_contexts_equals_one_run_per_context(name):
    """Batched over contexts = one run per context (same step, given explicitly)."""
    g = G.random_intransitive(5, seed=3, contexts=3)
    mu = np.random.default_rng(0).dirichlet(np.ones(5), size=3)
    spec = LEARNERS[name]
    kw = _kw(name, eta=0.3, steps=50)
    batch = spec.run(G.PreferenceGame(g.P, mu), 0.4, **kw)
    assert batch.policy.shape == (3, 5) and batch.extra["average"].shape == (3, 5)
    for c in range(3):
        one = spec.run(G.PreferenceGame(g.P[c], mu[c]), 0.4, **kw)
        np.testing.assert_allclose(batch.policy[c], one.policy, atol=1e-13)
        np.testing.assert_allclose(batch.extra["average"][c], one.extra["average"], atol=1e-13)


@pytest.mark.parametrize("name", SAMPLED)
def test_sampled_flavour_is_seeded_and_tracks_the_exact_one(name):
    g = G.three_rater_types(0.2).with_mu([0.5, 0.3, 0.2])
    spec = LEARNERS[name]
    a = spec.run(g, 0.5, steps=200, samples=400, seed=7, eta=0.2)
    b = spec.run(g, 0.5, steps=200, samples=400, seed=7, eta=0.2)
    c = spec.run(g, 0.5, steps=200, samples=400, seed=8, eta=0.2)
    exact = spec.run(g, 0.5, steps=200, eta=0.2)
    np.testing.assert_array_equal(a.policy, b.policy)
    assert not np.array_equal(a.policy, c.policy)
    assert np.max(np.abs(a.extra["average"] - exact.extra["average"])) < 0.03


@pytest.mark.parametrize(
    "call,needle",
    [
        (lambda g: mmd(g, 0.0), "tau = 0.0"),
        (lambda g: mmd(g, 0.1, eta=-1), "eta = -1"),
        (lambda g: inpo(g, 1.0, eta=2.0), "eta * tau"),
        (lambda g: omwu(g, 1.0, eta=1.5), "eta * tau"),
        (lambda g: extragradient(g, 0.1, eta=float("nan")), "eta = nan"),
        (lambda g: sppo(g, eta=0), "eta = 0"),
        (lambda g: dno(g, steps=-1), "steps = -1"),
        (lambda g: spo(g, samples=0), "samples = 0"),
    ],
)
def test_bad_input_names_the_problem(call, needle):
    with pytest.raises(ValueError, match=needle.replace("*", r"\*")):
        call(G.rock_paper_scissors())


@pytest.mark.slow  # a study run with its figure
def test_study_comparison_report_and_figure(tmp_path):
    """The study's learner comparison on one game: the promised iterates reach π*_τ, the τ-free
    learners are reused across τ (same entry, τ-dependent fields recomputed), the report has the
    tables and the figure draws (``run_study`` itself is exercised in tests/test_study.py)."""
    from prefgame.figures import fig_learner_distances, save_figure
    from prefgame.study import _learner_sections, run_learners, start_policy

    g = G.three_rater_types(0.1)
    init = start_policy(3, 0)
    parts = []
    for tau in (0.3, 1.0):
        star = np.asarray(solve(g, tau).policy)
        learners = run_learners(g, tau, init, star)
        for m in LAST:
            e = learners[m]
            assert e["converged"] and np.max(np.abs(np.array(e["policy"]) - star)) <= 1e-8
            assert e["curve"]["last"][-1] <= 1e-8 and e["curve"]["steps"][-1] == e["steps"]
        for m in ("sppo", "dno", "spo"):
            e = learners[m]
            assert e["target"] == "tau=0 LP" and len(e["curve"]["steps"]) > 50
            assert e["max_abs_diff"] == pytest.approx(np.max(np.abs(np.array(e["policy"]) - star)))
        parts.append({"label": "three_raters", "tau": tau, "learners": learners})
    assert parts[0]["learners"]["spo"]["policy"] == parts[1]["learners"]["spo"]["policy"]
    assert (
        parts[0]["learners"]["spo"]["max_abs_diff"] != parts[1]["learners"]["spo"]["max_abs_diff"]
    )
    text = "\n".join(_learner_sections(parts, [0.3, 1.0]))
    assert "post-paper learners" in text and text.count("| three_raters |") == 6
    fig = fig_learner_distances("three_raters", parts)
    paths = save_figure(fig, tmp_path / "learners_three_raters")
    assert paths[0].stat().st_size > 10_000
    # its caption states, per τ, the steps each promised iterate took to reach its target
    caption = paths[-1].read_text()
    for p in parts:
        e = p["learners"]["mmd"]
        assert f"mmd (last iterate, {e['steps_to_target']['last']} steps)" in caption


# --- the learners that move their reference: MPO, COMAL, and Nash-MP ---------------------------


@pytest.fixture(scope="module")
def intransitive():
    n, seed, tau = 6, 11, 0.1
    g = G.random_intransitive(n, seed=seed).with_mu(
        np.random.default_rng(seed).dirichlet(np.ones(n))
    )
    return g, tau, solve(g, tau).policy, solve(g, 0.0).policy


def test_mpo_last_iterate_reaches_the_tau0_equilibrium_and_mmd_without_refresh_does_not(
    intransitive,
):
    g, tau, star, lp = intransitive
    assert np.max(np.abs(star - lp)) > 0.05  # the two targets are far apart
    run = mpo(g, tau, steps=30_000, tol=1e-10)
    assert run.converged and run.iterations < 30_000
    assert np.max(np.abs(run.policy - lp)) < 1e-8
    # a magnet that never moves is MMD, iterate for iterate, and stays at π*_τ
    frozen = mpo(g, tau, steps=500, refresh=10**9)
    plain = mmd(g, tau, steps=500)
    np.testing.assert_allclose(frozen.policy, plain.policy, atol=1e-14)
    assert np.max(np.abs(plain.policy - star)) < 1e-6
    # the magnet is refreshed: with K = 1 the first step is MMD's, the second is not
    one = mpo(g, tau, steps=2, refresh=1, record_every=1)
    mm = mmd(g, tau, steps=2, record_every=1)
    np.testing.assert_allclose(one.history[1], mm.history[1], atol=1e-15)
    assert np.max(np.abs(one.history[2] - mm.history[2])) > 1e-4


def test_comal_is_the_proximal_point_map_of_the_solver(intransitive):
    g, tau, star, lp = intransitive
    run = comal(g, tau, steps=3, record_every=1)
    prev = np.asarray(g.mu)
    for k in (1, 2, 3):
        expect = solve(G.PreferenceGame(g.P, prev), tau).policy
        np.testing.assert_allclose(run.history[k], expect, atol=1e-10)
        prev = expect
    np.testing.assert_allclose(run.history[1], star, atol=1e-10)  # from μ: π*_τ first
    far = comal(g, tau, steps=400, tol=1e-9)
    assert far.converged and np.max(np.abs(far.policy - lp)) < 1e-7


def test_nash_mp_reaches_pi_star_and_its_half_step_is_mmd(intransitive):
    from prefgame.dynamics.magnetic_mirror_descent import mmd_step

    g, tau, star, _ = intransitive
    logmu = np.log(np.asarray(g.mu))[None]
    logpi = np.log(np.random.default_rng(1).dirichlet(np.ones(6)))[None]
    new, half = nash_mp_step(logpi, g.P[None], logmu, tau, 0.7)
    np.testing.assert_allclose(half, mmd_step(logpi, g.P[None], logmu, tau, 0.7), atol=1e-15)
    # π_{t+1} is the MMD step from π_t with the opponent value at π_{t+½}, not at π_t
    v_half = g.P @ np.exp(half[0])
    expect = mmd_step(logpi, g.P[None], logmu, tau, 0.7, opponent_value=v_half[None])
    np.testing.assert_allclose(new, expect, atol=1e-15)
    assert np.max(np.abs(new - half)) > 1e-4
    run = nash_mp(g, tau, steps=5000, tol=1e-12)
    assert run.converged and np.max(np.abs(run.policy - star)) < 1e-10


def test_mpo_refreshing_every_step_is_hedge_and_the_default_period_is_not(intransitive):
    """K = 1: the magnet is π_t at every step, so log π_{t+1} = log π_t + η/(1 + ητ) Pπ_t —
    Hedge (SPPO's map), whose last iterate does not converge; the default K ≥ 2 does."""
    from prefgame.dynamics import hedge_step

    g, tau, _, lp = intransitive
    eta = 0.4  # ≈ τ/L², the theorem's step
    one = mpo(g, tau, eta=eta, refresh=1, steps=3, record_every=1)
    z = np.log(np.asarray(g.mu))
    for t in (1, 2, 3):
        z = hedge_step(z[None], g.P[None], eta / (1 + eta * tau))[0]
        np.testing.assert_allclose(one.history[t], np.exp(z), atol=1e-12)
    default = mpo(g, tau, eta=eta, steps=40_000, tol=1e-9)
    assert default.extra["refresh"] == int(np.ceil(3 / np.log1p(eta * tau))) > 2
    assert default.converged and np.max(np.abs(default.policy - lp)) < 1e-7
    hedge = mpo(g, tau, eta=eta, refresh=1, steps=40_000)
    assert np.max(np.abs(hedge.policy - lp)) > 0.1
    assert mpo(g, tau, eta=40.0, steps=1).extra["refresh"] == 2  # ητ = 4: never K = 1


def test_nash_mp_is_extragradient_with_eta_over_1_plus_eta_tau(intransitive):
    g, tau, _, _ = intransitive
    for eta in (0.3, 2.0):
        a = nash_mp(g, tau, eta=eta, steps=50, record_every=1)
        b = extragradient(g, tau, eta=eta / (1 + eta * tau), steps=50, record_every=1)
        np.testing.assert_allclose(a.history, b.history, atol=1e-13)
