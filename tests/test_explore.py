"""The explorer without a browser: every number it shows is the library's, its cache is exact,
bad input gives the library's message, and ``prefgame explore`` checks its port first.

(The page in a real headless Chromium: ``tests/test_explore_browser.py``.)
"""

from __future__ import annotations

import socket

import numpy as np
import pytest

from prefgame import dynamics as D
from prefgame import games as G
from prefgame.cli import main
from prefgame.equilibrium import duality_gap, solve
from prefgame.explore import model as M

STEPS = 60


@pytest.fixture(autouse=True)
def _fresh_caches():
    M.clear_caches()
    yield
    M.clear_caches()


def _skewed(game: G.PreferenceGame) -> G.PreferenceGame:
    """The game under a non-uniform μ (so π_0 = μ ≠ π* and nothing is symmetric)."""
    mu = np.linspace(1.0, 2.0, game.n_actions)
    return game.with_mu(mu / mu.sum())


def test_numbers_are_the_librarys():
    game = _skewed(G.random_intransitive(4, seed=3))
    s = M.Settings(game=game, tau=0.2, beta=0.4, steps=STEPS, learners=tuple(M.LEARNERS))
    view = M.compute(s)
    assert not view.errors
    np.testing.assert_array_equal(view.star.policy, solve(game, 0.2).policy)
    for k, t in enumerate(M.PATH_TAUS):
        np.testing.assert_array_equal(view.path[k], solve(game, float(t)).policy)
    direct = {
        "nash_md": D.nash_md(game, 0.2, steps=STEPS, record_every=1),
        "online_ipo": D.online_ipo(game, 0.2, steps=STEPS, record_every=1),
        "ipo_md": D.ipo_md(game, 0.2, 0.4, steps=STEPS, record_every=1),
        "online_dpo": D.online_dpo(game, 0.2, steps=STEPS, record_every=1),
        "offline_ipo": D.offline_ipo(game, 0.2, steps=STEPS, record_every=1),
        "rlhf": D.rlhf(game, 0.2, steps=STEPS, record_every=1),
        "omd": D.online_mirror_descent(game, 0.2, steps=STEPS, record_every=1),
        "self_play_pg": D.self_play_pg(game, 0.2, steps=STEPS, record_every=1),
        "nash_md_pg": D.nash_md_pg(game, 0.2, 0.4, steps=STEPS, record_every=1),
    }
    for name, spec in D.LEARNERS.items():  # the post-paper learners, from the one registry
        kw = {} if spec.fixed_eta is None else {"eta": spec.fixed_eta}
        direct[name] = spec.run(game, 0.2, steps=STEPS, record_every=1, **kw)
    assert set(direct) == set(M.LEARNERS)
    for key, run in direct.items():
        shown = view.runs[key]
        np.testing.assert_array_equal(shown.history, run.history, err_msg=key)
        assert shown.history.shape == (STEPS + 1, 4)
        np.testing.assert_allclose(shown.history[0], game.mu, rtol=1e-14)  # default start: μ
        gaps = [duality_gap(game, p, 0.2) for p in run.history]
        np.testing.assert_allclose(shown.gap, gaps, rtol=1e-12, atol=1e-300, err_msg=key)
    mix = D.ipo_md_mixture(direct["ipo_md"].history, game.mu, 0.4)
    np.testing.assert_array_equal(view.ipo_md.mixture, mix)
    np.testing.assert_array_equal(view.star_beta.policy, solve(game, 0.2 / 0.6).policy)
    np.testing.assert_allclose(
        view.ipo_md.mixture_gap,
        [duality_gap(game, p, 0.2 / 0.6) for p in mix],
        rtol=1e-12,
        atol=1e-300,
    )


def test_ipo_md_mixture_lands_on_pi_star_at_tau_over_one_minus_beta():
    """What the mixture panel shows (Prop. 5.2), at μ ≠ uniform and a start π_0 ≠ μ."""
    game = _skewed(G.near_cyclic())
    s = M.Settings(
        game=game,
        tau=0.1,
        beta=0.5,
        steps=2000,
        start="custom",
        start_custom="0.7, 0.2, 0.1",
        learners=("ipo_md",),
    )
    view = M.compute(s)
    np.testing.assert_allclose(view.runs["ipo_md"].history[0], [0.7, 0.2, 0.1], rtol=1e-14)
    assert np.max(np.abs(view.ipo_md.mixture[-1] - view.star_beta.policy)) < 1e-9
    assert view.ipo_md.mixture_gap[-1] < 1e-12
    # ... and IPO-MD's own policy is *not* π*_τ (its gap at τ stays away from 0).
    assert view.runs["ipo_md"].gap[-1] > 1e-4


@pytest.mark.parametrize("key", list(M.LEARNERS))
def test_a_shorter_run_is_a_prefix_of_a_longer_one(key):
    """The run cache serves T steps from a longer cached run: exact only if every learner's
    first T iterates do not depend on the total number of steps (checked against a fresh run)."""
    game = _skewed(G.random_intransitive(5, seed=1))
    s = M.Settings(
        game=game, tau=0.3, beta=0.3, steps=3 * STEPS, start="random", start_seed=2, learners=(key,)
    )
    long = M.compute(s).runs[key]
    assert long.seconds > 0  # really ran
    short = M.compute(M.Settings(**{**s.__dict__, "steps": STEPS})).runs[key]
    assert short.seconds == 0.0  # served from the cache
    M.clear_caches()
    fresh = M.compute(M.Settings(**{**s.__dict__, "steps": STEPS})).runs[key]
    assert fresh.seconds > 0
    np.testing.assert_array_equal(short.history, fresh.history)
    np.testing.assert_array_equal(short.gap, fresh.gap)


def test_cache_keys_separate_what_changes_a_run():
    game = G.rock_paper_scissors()
    base = M.Settings(game=game, tau=0.2, beta=0.2, steps=STEPS, learners=("nash_md", "ipo_md"))
    v1 = M.compute(base)
    v2 = M.compute(M.Settings(**{**base.__dict__, "beta": 0.6}))
    # Nash-MD does not use β: served from the cache, unchanged; IPO-MD re-ran.
    assert v2.runs["nash_md"].seconds == 0.0
    np.testing.assert_array_equal(v1.runs["nash_md"].history, v2.runs["nash_md"].history)
    assert v2.runs["ipo_md"].seconds > 0
    # A different μ is a different game: nothing may come from the uniform-μ cache.
    v3 = M.compute(M.Settings(**{**base.__dict__, "mu": "0.5, 0.3, 0.2"}))
    assert all(r.seconds > 0 for r in v3.runs.values())
    np.testing.assert_array_equal(v3.star.policy, solve(game.with_mu([0.5, 0.3, 0.2]), 0.2).policy)


def test_start_policies():
    game = G.cyclic(5)
    for start, expect in [("mu", game.mu), ("uniform", np.full(5, 0.2))]:
        v = M.compute(M.Settings(game=game, tau=0.5, steps=5, start=start, learners=("omd",)))
        np.testing.assert_array_equal(v.runs["omd"].history[0], expect)
    v = M.compute(
        M.Settings(game=game, tau=0.5, steps=5, start="random", start_seed=7, learners=("omd",))
    )
    pi0 = v.runs["omd"].history[0]
    assert abs(pi0.sum() - 1) < 1e-12 and np.all(pi0 > 0) and np.max(np.abs(pi0 - 0.2)) > 0.01


def test_tau_zero_is_the_lp_and_each_learner_that_needs_tau_positive_says_so():
    game = G.three_rater_types(0.2)
    v = M.compute(
        M.Settings(game=game, tau=0.0, steps=20, learners=("nash_md", "online_ipo", "omd"))
    )
    np.testing.assert_array_equal(v.star.policy, solve(game, 0.0).policy)
    assert "omd" in v.runs  # OMD (Hedge) runs at τ = 0
    assert v.errors == [
        "Nash-MD: tau = 0.0, must be a finite number > 0",
        "online IPO: tau = 0.0, must be a finite number > 0",
    ]
    assert v.ipo_md is None and v.star_beta is None


def test_step_size_errors_are_the_learners_messages():
    v = M.compute(M.Settings(game="rps", tau=1.0, eta=2.0, steps=10, learners=("nash_md", "omd")))
    assert v.errors == [
        "Nash-MD: eta * tau = 2, must be in (0, 1] (mixture weight)",
        "OMD: eta = 2.0, must be > 0 with eta * tau <= 1",
    ]


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"tau": -1.0}, "tau = -1.0, must be a finite number >= 0"),
        ({"beta": 1.0}, "beta = 1.0, must be in [0, 1)"),
        ({"mu": "0.5, 0.5"}, "mu has 2 entries but the game has 3 actions"),
        ({"mu": "a, b, c"}, "mu = 'a, b, c': not a list of numbers"),
        ({"mu": "0.5, 0.6, -0.1"}, "mu[2] = -0.1, must be > 0 (full support)"),
        (
            {"start": "custom", "start_custom": "1, 0, 0"},
            "start policy[1] = 0, must be > 0 (full support)",
        ),
        ({"game": "nope"}, "unknown game 'nope'"),
        ({"learners": ("sgd",)}, "unknown learner 'sgd'"),
    ],
)
def test_bad_settings_raise_the_named_error(settings, message):
    with pytest.raises(ValueError) as exc:
        M.compute(M.Settings(**{"game": "near_cyclic", "steps": 5, **settings}))
    assert message in str(exc.value)


def test_builtin_parameters_reach_the_constructor():
    g = M.build_game(M.Settings(game="random_intransitive", n=7, seed=4))
    np.testing.assert_array_equal(g.P, G.random_intransitive(7, seed=4).P)
    g = M.build_game(M.Settings(game="three_raters", n=7, eps=0.25))  # n is not a parameter here
    np.testing.assert_array_equal(g.P, G.three_rater_types(0.25).P)


def test_uploads(tmp_path):
    P = G.random_intransitive(4, seed=5).P
    np.save(tmp_path / "p.npy", P)
    g = M.game_from_upload("mine.npy", (tmp_path / "p.npy").read_bytes())
    np.testing.assert_array_equal(g.P, P)
    assert g.name == "mine"
    g = M.game_from_upload("m.json", b'{"P": [[0.5, 0.9], [0.1, 0.5]], "mu": [0.25, 0.75]}')
    np.testing.assert_array_equal(g.mu, [0.25, 0.75])
    with pytest.raises(ValueError, match=r"^bad\.csv: P must be square, got shape \(2, 3\)$"):
        M.game_from_upload("bad.csv", b"0.5,0.2,0.3\n0.8,0.5,0.1\n")
    with pytest.raises(ValueError, match=r"^asym\.csv: P\[0,1\] \+ P\[1,0\] = 1\.5, must be 1$"):
        M.game_from_upload("asym.csv", b"0.5,0.9\n0.6,0.5\n")
    with pytest.raises(ValueError, match=r"^x\.txt: unknown file type '\.txt'"):
        M.game_from_upload("x.txt", b"1")
    batch = G.random_intransitive(3, seed=0, contexts=2)
    with pytest.raises(ValueError, match="a batch of 2 contexts"):
        M.compute(M.Settings(game=batch, steps=5))


def test_uploads_are_capped_before_any_compute(tmp_path, monkeypatch):
    """Issue 25: a 400×400 upload held the single-threaded server (every session) for 85 s.
    Size and actions are refused in one line naming the file; complex values are refused."""
    import io
    import time

    called = []
    monkeypatch.setattr(M, "solve", lambda *a, **k: called.append(a) or pytest.fail("computed"))
    buf = io.BytesIO()
    np.save(buf, G.random_intransitive(400, seed=0).P)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"^big\.npy: 1,280,128 bytes, the explorer takes files"):
        M.game_from_upload("big.npy", buf.getvalue())
    buf = io.BytesIO()
    np.save(buf, G.random_intransitive(M.MAX_UPLOAD_ACTIONS + 1, seed=0).P)
    with pytest.raises(ValueError, match=r"^n51\.npy: 51 actions, the explorer shows games of up"):
        M.game_from_upload("n51.npy", buf.getvalue())
    assert time.perf_counter() - t0 < 5 and not called
    buf = io.BytesIO()
    np.save(buf, G.random_intransitive(M.MAX_UPLOAD_ACTIONS, seed=0).P)
    assert M.game_from_upload("n50.npy", buf.getvalue()).n_actions == M.MAX_UPLOAD_ACTIONS
    buf = io.BytesIO()
    np.save(buf, np.array([[0.5, 0.2 + 0.1j], [0.8, 0.5]]))
    with pytest.raises(ValueError, match=r"^c\.npy: P\[0,1\] = \(0\.2\+0\.1j\) is complex"):
        M.game_from_upload("c.npy", buf.getvalue())


# --------------------------------------------------------------------------- the Panel app

pn = pytest.importorskip("panel")


def _move(widget, value) -> None:
    """Set a slider as a release of the mouse does: ``value`` then ``value_throttled``."""
    import param

    widget.value = value
    if "value_throttled" in widget.param:
        with param.edit_constant(widget):
            widget.value_throttled = value


def test_app_redraws_from_the_controls_and_shows_errors():
    from prefgame.explore.app import Explorer

    app = Explorer(M.Settings(game="near_cyclic", tau=0.1, steps=200))
    v0 = app.last_view
    assert not app.alert.visible and "near_cyclic" in app.summary.object
    _move(app.tau, 0.5)
    v1 = app.last_view
    assert v1 is not v0 and v1.settings.tau == 0.5
    np.testing.assert_array_equal(v1.star.policy, solve(G.near_cyclic(), 0.5).policy)
    assert app.last_seconds < 60  # measured for the benchmark; here only defined

    app.mu.value = "0.5, 0.5"
    assert app.alert.visible and "mu has 2 entries but the game has 3 actions" in app.alert.object
    assert app.last_view is v1  # the last good plots stay
    app.mu.value = ""
    assert not app.alert.visible

    app.upload.filename = "bad.csv"
    app.upload.value = b"0.5,0.2,0.3\n0.8,0.5,0.1\n"
    assert app.alert.object == "bad.csv: P must be square, got shape (2, 3)"
    app.upload.filename = "ok.csv"
    app.upload.value = b"0.5,0.7,0.2,0.4\n0.3,0.5,0.9,0.6\n0.8,0.1,0.5,0.35\n0.6,0.4,0.65,0.5\n"
    assert app.game.value == "uploaded file" and app.last_view.game.n_actions == 4
    assert not app.alert.visible

    _move(app.tau, 0.0)
    assert app.alert.visible and "tau = 0.0, must be a finite number > 0" in app.alert.object
    assert "Traceback" not in app.alert.object
    app.stop_prefetch()


def test_explorer_takes_start_values_off_the_slider_grids():
    from prefgame.explore import explorer
    from prefgame.explore.app import Explorer

    assert isinstance(explorer("rps", tau=0.03, steps=30), pn.Row)
    app = Explorer(
        M.Settings(game="rps", tau=0.03, eta=0.3, steps=30, learners=("omd",)), prefetch=False
    )
    assert app.last_view.settings == M.Settings(
        game="rps", tau=0.03, eta=0.3, steps=30, learners=("omd",)
    )
    assert not app.alert.visible and 0.03 in app.tau.options


def test_prefetch_makes_the_next_tau_notch_a_cache_hit_with_the_same_numbers():
    from prefgame.explore.app import Explorer

    app = Explorer(
        M.Settings(
            game=_skewed(G.near_cyclic()),
            tau=0.1,
            steps=300,
            learners=("nash_md", "online_ipo", "online_dpo"),
        )
    )
    app.prefetch_thread.join(120)
    _move(app.tau, 0.2)  # the next notch of the τ slider
    shown = app.last_view
    assert shown.settings.tau == 0.2
    assert all(r.seconds == 0.0 for r in shown.runs.values()) and shown.ipo_md.seconds == 0.0
    app.stop_prefetch()  # (its next warm would refill the τ grid, 0.2 included, while we time)
    M.clear_caches()
    fresh = M.compute(shown.settings)
    for key, run in fresh.runs.items():
        assert run.seconds > 0
        np.testing.assert_array_equal(shown.runs[key].history, run.history)
    np.testing.assert_array_equal(shown.ipo_md.mixture, fresh.ipo_md.mixture)


@pytest.mark.parametrize("game", [G.near_cyclic(), G.random_intransitive(6, seed=3)])
def test_the_tau_grid_batch_gives_the_one_tau_runs_numbers(game):
    """The fast path (the cross through (τ, β) on the sliders' grids in one batched call per
    learner) shows the numbers of the old one (one run per (τ, β)): equal to 1e-12 at each τ and
    β tried, every learner."""
    from prefgame.explore.app import TAUS

    betas = tuple(round(0.05 * k, 10) for k in range(20))  # the β slider's notches
    learners = ("nash_md", "online_ipo", "ipo_md", "offline_ipo", "online_dpo")
    base = M.Settings(game=_skewed(game), tau=0.1, beta=0.5, steps=200, learners=learners)
    fast = M.compute(base, taus=tuple(TAUS), betas=betas)
    assert fast.runs["nash_md"].seconds > 0
    for tau, beta in ((0.1, 0.5), (0.005, 0.5), (0.2, 0.5), (10.0, 0.5), (0.1, 0.0), (0.1, 0.95)):
        s = M.Settings(**{**base.__dict__, "tau": tau, "beta": beta})
        shown = M.compute(s, taus=tuple(TAUS), betas=betas)
        for key in ("nash_md", "online_ipo", "ipo_md", "offline_ipo"):  # batched: cache hits
            assert (tau, beta) == (0.1, 0.5) or shown.runs[key].seconds == 0.0
        M.clear_caches()
        old = M.compute(s)
        M.clear_caches()
        for key in learners:
            np.testing.assert_allclose(shown.runs[key].history, old.runs[key].history, 0, 1e-12)
            np.testing.assert_allclose(shown.runs[key].gap, old.runs[key].gap, 0, 1e-12)
        np.testing.assert_allclose(shown.ipo_md.mixture, old.ipo_md.mixture, 0, 1e-12)
        np.testing.assert_allclose(shown.ipo_md.mixture_gap, old.ipo_md.mixture_gap, 0, 1e-12)
        M.compute(base, taus=tuple(TAUS), betas=betas)  # the grids again, for the next move


def test_a_failing_tau_batch_falls_back_to_the_one_tau_run():
    """A fixed step too large at some grid τ: the batch is not used, each τ runs alone and says
    its own error (the learners with a step size of their own batch; with η they do not)."""
    from prefgame.explore.app import TAUS

    s = M.Settings(game="rps", tau=0.5, eta=1.0, steps=20, learners=("nash_md", "online_ipo"))
    v = M.compute(s, taus=tuple(TAUS))
    M.clear_caches()
    w = M.compute(s)
    assert v.errors == w.errors
    for key in w.runs:
        np.testing.assert_array_equal(v.runs[key].history, w.runs[key].history)
    v = M.compute(M.Settings(**{**s.__dict__, "tau": 2.0}), taus=tuple(TAUS))
    assert any("eta * tau" in e for e in v.errors)


def test_learners_take_one_tau_and_beta_per_context():
    game = G.near_cyclic()
    taus = np.array([0.05, 0.5, 5.0])
    P = np.repeat(game.P[None], 3, axis=0)
    for run in (
        lambda g, t: D.nash_md(g, t, steps=50, record_every=1),
        lambda g, t: D.nash_md(g, t, steps=50),
        lambda g, t: D.online_ipo(g, t, steps=50, record_every=5),
        lambda g, t: D.ipo_md(g, t, 0.3, steps=50),
    ):
        batch = run(P, taus)
        np.testing.assert_array_equal(batch.tau, taus)
        for k, t in enumerate(taus):
            # (without record_every, one τ takes Nash-MD's tight loop: equal to rounding)
            np.testing.assert_allclose(batch.policy[k], run(game.P, float(t)).policy, 0, 1e-12)
    betas = np.array([0.0, 0.4, 0.9])
    batch = D.ipo_md(P, taus, betas, steps=50, record_every=1)
    np.testing.assert_array_equal(batch.extra["beta"], betas)
    for k in range(3):
        one = D.ipo_md(game.P, float(taus[k]), float(betas[k]), steps=50, record_every=1)
        np.testing.assert_array_equal(batch.history[:, k], one.history)
    with pytest.raises(ValueError, match="beta"):
        D.ipo_md(P, taus, np.array([0.1, 1.5, 0.2]))
    with pytest.raises(ValueError, match="3 values for a batch of 2"):
        D.nash_md(P[:2], taus)
    with pytest.raises(ValueError, match="tau"):
        D.online_ipo(P, np.array([0.1, 0.0, 1.0]))
    with pytest.raises(ValueError, match="loss='ipo' only"):
        D.online_dpo(P, taus)


# --------------------------------------------------------------------------- CLI


def test_cli_explore_checks_the_port_before_serving(capsys):
    assert main(["explore", "--no-browser", "--port", "70000"]) == 2
    assert "--port 70000: must be in 1..65535" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["explore", "--no-browser", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"prefgame: error: --port {port}: cannot listen on 127.0.0.1:{port}")
    assert len(err.splitlines()) == 1


# --------------------------------------------------------------------------- the guided tour


def test_the_tour_sets_the_controls_and_its_claims_hold():
    """Each step of the guided tour sets its controls (one redraw), shows its text, hides the
    controls that do not apply, and what it tells the reader to look for is in the numbers."""
    from prefgame.explore.app import TOUR, Explorer

    app = Explorer(prefetch=False)
    assert app.settings().start == "corner" and not app.tour_text.visible
    assert not app.eps.visible and not app.n.visible  # near_cyclic takes neither
    app.tour_next.clicks += 1  # "start the tour"
    seen = []
    for k, (title, values, _) in enumerate(TOUR):
        if k:
            app._tour_next()
        v = app.last_view
        s = v.settings
        assert app.tour.value == k and app.tour_text.visible and title in app.tour_text.object
        assert not app.alert.visible, app.alert.object
        for name, value in values.items():
            got = getattr(s, name)
            assert (tuple(got) if name == "learners" else got) == (
                tuple(value) if name == "learners" else value
            ), (k, name)
        assert s.start == "corner" and s.steps == 2000
        np.testing.assert_allclose(v.runs[s.learners[0]].history[0], [0.8, 0.1, 0.1])
        assert app.beta.visible == ("ipo_md" in s.learners)
        assert app.eps.visible == (s.game == "three_raters")
        star = v.star.policy
        end = {key: run.history[-1] for key, run in v.runs.items()}
        dist = {key: np.abs(p - star).max() for key, p in end.items()}
        gap = {key: duality_gap(v.game, p, s.tau) for key, p in end.items()}
        seen.append(title)
        if k == 0:  # τ large: π*_τ next to μ, both learners on it, gap at the floor
            assert np.abs(star - v.game.mu).max() < 0.01
            assert max(dist.values()) < 1e-5 and max(gap.values()) < 1e-10
        elif k == 1:  # τ small: the star moved towards the winner; both end on it
            winner = solve(v.game, 0.0).policy
            assert np.abs(star - winner).max() < np.abs(star - v.game.mu).max()
            assert max(dist.values()) < 1e-3 and dist["online_ipo"] < 1e-12
        elif k == 2:  # IPO-MD off the star, its mixture on π* at τ/(1 − β)
            assert dist["ipo_md"] > 0.01
            np.testing.assert_allclose(
                v.ipo_md.mixture[-1], solve(v.game, s.tau / (1 - s.beta)).policy, atol=1e-10
            )
        elif k == 3:  # RPS: OMD and self-play PG far from uniform after 100 steps; Nash-MD at once
            for key in ("omd", "self_play_pg"):
                assert np.abs(v.runs[key].history[100] - star).max() > 0.1
            assert np.abs(v.runs["nash_md"].history[1] - star).max() < 1e-12
        elif k == 4:  # three raters: RLHF exploitable, Nash-MD not
            assert gap["rlhf"] > 0.05 and gap["nash_md"] < 1e-6 and dist["nash_md"] < 1e-3
        elif k == 5:  # online DPO settles off the star, online IPO on it
            assert dist["online_dpo"] > 0.01 and gap["online_dpo"] > 1e-3
            assert gap["online_ipo"] < 1e-20
    assert len(seen) == len(TOUR) >= 5
    app._tour_next()  # after the last step: back to step 1
    assert app.tour.value == 0
    app.tour.value = -1  # explore freely: the text goes, the controls stay
    assert not app.tour_text.visible and app.last_view.settings.game == "near_cyclic"
