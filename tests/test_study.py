"""`prefgame study` (the main job) and `prefgame figures`: outputs, resumption, interruption."""

import json
import math

import pytest

from prefgame import study as S
from prefgame.cli import main


def test_study_writes_parts_and_report_then_resumes(tmp_path, capsys, monkeypatch):
    out = tmp_path / "res"
    rc = main(
        [
            "study",
            "--out",
            str(out),
            "--tau",
            "1",
            "--games",
            "rps",
            "three_raters",
            "--no-figures",
            "--quiet",
        ]
    )
    assert rc == 0
    report = (out / "report.md").read_text()
    assert "| three_raters |" in report and "Incomplete" not in report
    part = json.loads((out / "parts" / "three_raters__tau1.0.json").read_text())
    assert part["online_ipo"]["max_abs_diff"] <= 1e-8
    assert part["nash_md"]["max_abs_diff"] <= 1e-6
    assert part["rlhf"]["max_abs_diff"] > 1e-3
    # the post-paper learners' comparison (tests/test_learners.py checks it in detail)
    assert part["learners"]["mmd"]["converged"] and part["learners"]["mmd"]["max_abs_diff"] <= 1e-8
    assert "post-paper learners" in report
    # a rerun finds both parts on disk and recomputes nothing
    monkeypatch.setattr(S, "run_unit", lambda *a, **k: pytest.fail("recomputed a finished part"))
    assert (
        main(
            [
                "study",
                "--out",
                str(out),
                "--tau",
                "1",
                "--games",
                "rps",
                "three_raters",
                "--no-figures",
                "--quiet",
            ]
        )
        == 0
    )
    assert (out / "report.md").read_text() == report


def test_interrupting_the_study_keeps_what_is_finished(tmp_path, monkeypatch):
    calls = []
    real = S.run_unit

    def flaky(game, tau, **kw):
        calls.append(game.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(game, tau, **kw)

    monkeypatch.setattr(S, "run_unit", flaky)
    with pytest.raises(KeyboardInterrupt):
        S.run_study(tmp_path, taus=[1.0], games=["rps", "dice"], figures=False, progress=False)
    assert (tmp_path / "parts" / "rps__tau1.0.json").exists()
    assert not (tmp_path / "parts" / "dice__tau1.0.json").exists()
    assert "Incomplete: 1 part" in (tmp_path / "report.md").read_text()
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no temporary files left


@pytest.mark.slow  # every figure rendered
def test_figures_command_writes_png_and_svg(tmp_path, capsys):
    assert main(["figures", "--out", str(tmp_path), "--only", "dpo_collapse"]) == 0
    assert (tmp_path / "dpo_collapse.png").stat().st_size > 10_000
    assert (tmp_path / "dpo_collapse.svg").read_text().lstrip().startswith("<?xml")
    # the caption is saved beside the figure and carries the numbers computed for it:
    # IPO's two-action optimum σ(1/(2τ)) at τ = 0.5 is σ(1) = 0.7311 (computed here independently)
    caption = (tmp_path / "dpo_collapse.caption.md").read_text()
    assert f"{1 / (1 + math.exp(-1)):.4f}" in caption and "DPO" in caption
    assert str(tmp_path / "dpo_collapse.caption.md") in capsys.readouterr().out


def test_report_prints_every_figure_with_its_caption(tmp_path):
    from prefgame.figures import read_caption, save_figure, set_caption

    plt = pytest.importorskip("matplotlib.pyplot")
    for name in ("one", "two"):
        fig = plt.figure()
        save_figure(
            set_caption(fig, f"the claim of {name},\n with   0.25"), tmp_path / "figures" / name
        )
        plt.close(fig)
    (tmp_path / "figures" / "bare.png").write_bytes(b"")  # a figure saved without a caption
    assert read_caption(tmp_path / "figures" / "one") == "the claim of one, with 0.25"
    assert read_caption(tmp_path / "figures" / "bare") is None
    text = S.write_report(tmp_path, [], taus=[0.1], figures=["one", "two", "bare"]).read_text()
    lines = text.splitlines()
    for k, name in enumerate(("one", "two", "bare"), 1):
        i = lines.index(f"![{name}](figures/{name}.png)")
        assert lines[i + 2].startswith(f"**Figure {k}** (`{name}`). ")
    assert "**Figure 2** (`two`). the claim of two, with 0.25" in lines
    assert "no caption saved" in lines[lines.index("![bare](figures/bare.png)") + 2]


def test_simplex_caption_states_what_the_distances_say():
    from prefgame.figures import _simplex_caption

    final = {
        "online IPO": {"a": 0.0, "b": 3e-13, "c": 1e-12},
        "Nash-MD": {"a": 0.0, "b": 4e-5, "c": 8.7e-5},
        "online DPO": {"a": 1e-15, "b": 0.2, "c": 0.087},
        "offline IPO": {"a": 0.3, "b": 0.1, "c": 0.18},
    }
    text = _simplex_caption(final, 0.1, ["a", "b", "c"], ["a"])
    assert "On a, Pμ = ½" in text and "online IPO, Nash-MD, online DPO end there" in text
    assert "online IPO ends at π*_τ" in text and "Nash-MD is within 8.7e-05" in text
    assert "online DPO stops 0.2 away" in text and "offline IPO stops 0.18 away" in text
    # without a game where Pμ = ½, the worst game decides
    text = _simplex_caption(final, 0.1, ["a", "b", "c"], [])
    assert "offline IPO stops 0.3 away" in text and "Pμ" not in text


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["figures", "--only", "nope"], "unknown figure"),
        (["study", "--games", "nope", "--no-figures", "--quiet"], "unknown study game"),
        (["study", "--tau", "-1"], "tau"),
    ],
)
def test_errors_exit_2(tmp_path, capsys, argv, needle):
    rc = main(argv + ["--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and err.count("\n") == 1


def test_close_taus_get_their_own_parts_and_repeats_run_once(tmp_path, capsys, monkeypatch):
    """τ = 0.1 and 0.1000001 must not share a part (they did with ``{tau:g}`` names)."""
    calls, reports = [], []
    monkeypatch.setattr(S, "run_unit", lambda game, tau, **k: calls.append(tau) or _fake_part(tau))
    monkeypatch.setattr(
        S, "write_report", lambda out, parts, taus, **k: reports.append(list(taus)) or out
    )
    rc = main(
        [
            "study",
            "--out",
            str(tmp_path),
            "--tau",
            "0.1",
            "0.1000001",
            "0.1",
            "--games",
            "rps",
            "rps",
            "--no-figures",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 0 and calls == [0.1, 0.1000001]
    assert "repeated game rps" in err and "repeated tau 0.1 " in err
    assert json.loads(S.part_path(tmp_path, "rps", 0.1000001).read_text())["tau"] == 0.1000001
    assert reports[-1] == [0.1, 0.1000001]
    assert (
        S._tau_str(0.1000001) == "0.1000001" and S._tau_str(0.1) == "0.1" and S._tau_str(1.0) == "1"
    )


def _fake_part(tau):
    e = {
        "policy": [1 / 3] * 3,
        "duality_gap": 0.0,
        "max_abs_diff": 0.0,
        "steps": 1,
        "converged": True,
        "kl": 0.0,
        "kl_bound": 1.0,
        "target": 1e-6,
    }
    return {
        "tau": tau,
        "n": 3,
        "beta": 0.125,
        "exact": {"policy": [1 / 3] * 3, "duality_gap": 0.0},
        "online_ipo": e,
        "nash_md": e,
        "learners": {},
    }


def test_a_part_for_another_tau_or_game_is_recomputed(tmp_path):
    path = S.part_path(tmp_path, "rps", 0.5)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**_fake_part(0.5000001), "label": "rps"}))  # wrong τ inside
    assert S.load_part(path, "rps", 0.5, S.STUDY_GAMES["rps"]()) is None
    part = {
        **_fake_part(0.5),
        "label": "rps",
        "game_fingerprint": "0" * 64,
    }  # other game parameters
    path.write_text(json.dumps(part))
    assert S.load_part(path, "rps", 0.5, S.STUDY_GAMES["rps"]()) is None
    # the same game and τ: reused (a real part; the fake one lacks the report's fields)
    path, part = _real_part(tmp_path / "real")
    assert S.load_part(path, "rps", 1.0, S.STUDY_GAMES["rps"]()) == part


@pytest.mark.parametrize("content", ["{}", "{", "[1, 2]", None])
def test_a_corrupt_part_is_one_line_naming_the_file(tmp_path, capsys, content):
    path = S.part_path(tmp_path, "rps", 1.0)
    if content is None:
        path.mkdir(parents=True)
    else:
        path.parent.mkdir(parents=True)
        path.write_text(content)
    rc = main(
        ["study", "--out", str(tmp_path), "--tau", "1", "--games", "rps", "--no-figures", "--quiet"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and str(path) in err and "--force" in err


@pytest.mark.slow  # a whole study run
def test_study_takes_your_matrix_and_your_learner(tmp_path, capsys, monkeypatch):
    import numpy as np

    from prefgame.dynamics import preference_optimisation
    from prefgame.equilibrium import solve
    from prefgame.games import near_cyclic

    monkeypatch.setattr(S, "STUDY_GAMES", dict(S.STUDY_GAMES))
    monkeypatch.setattr(S, "EXTRA_METHODS", dict(S.EXTRA_METHODS))
    P = near_cyclic((0.9, 0.6, 0.75)).P
    np.save(tmp_path / "mine.npy", P)

    def triple_ipo(h, p, *, tau):
        return 3.0 * ((h - (p - 0.5) / tau) ** 2)

    S.register_method(
        "triple_ipo",
        lambda g, t, i, s: preference_optimisation(
            g,
            t,
            loss=triple_ipo,
            dloss=lambda h, p, tau: 6.0 * (h - (p - 0.5) / tau),
            init=i,
            steps=s,
            tol=1e-12,
        ),
    )
    out = tmp_path / "res"
    rc = main(
        [
            "study",
            "--matrix",
            str(tmp_path / "mine.npy"),
            "--tau",
            "0.1",
            "--out",
            str(out),
            "--no-figures",
            "--quiet",
        ]
    )
    assert rc == 0
    part = json.loads((out / "parts" / "mine__tau0.1.json").read_text())
    star = solve(P, 0.1).policy
    assert np.abs(np.asarray(part["exact"]["policy"]) - star).max() < 1e-12
    assert part["online_ipo"]["max_abs_diff"] <= 1e-8
    assert part["extra_methods"]["triple_ipo"]["max_abs_diff"] <= 1e-8
    assert part["rlhf"]["max_abs_diff"] > 1e-3
    report = (out / "report.md").read_text()
    assert "| mine |" in report and "triple_ipo" in report
    with pytest.raises(ValueError, match="exists"):
        S.register_method("online_ipo", lambda *a: None)


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["study", "--mu", "mu.npy", "--no-figures"], "--mu applies to --matrix"),
        (["study", "--matrix", "nope.npy", "--no-figures"], "no such file"),
    ],
)
def test_study_matrix_errors_exit_2(tmp_path, capsys, argv, needle):
    rc = main(argv + ["--out", str(tmp_path / "o")])
    assert rc == 2
    assert needle in capsys.readouterr().err


def test_study_matrix_may_not_shadow_a_builtin_game(tmp_path, capsys):
    import numpy as np

    from prefgame.games import rock_paper_scissors

    np.save(tmp_path / "rps.npy", rock_paper_scissors().P)
    rc = main(
        [
            "study",
            "--matrix",
            str(tmp_path / "rps.npy"),
            "--out",
            str(tmp_path / "o"),
            "--no-figures",
        ]
    )
    assert rc == 2
    assert "built-in study game" in capsys.readouterr().err


def test_report_opens_with_the_takeaway_and_a_reach_table():
    def part(label, tau, diffs):
        entry = lambda d: {"max_abs_diff": d, "duality_gap": d, "steps": 1, "converged": True}
        p = {"label": label, "tau": tau, "exact": {"duality_gap": 1e-15}, "extra_methods": {}}
        for m in S.MAIN_ORDER:
            p[m] = entry(diffs.get(m, 1.0))
        for m in S.EXTRA_METHODS:
            p["extra_methods"][m] = entry(diffs.get(m, 1.0))
        return p

    parts = [
        part("g1", 0.1, {"nash_md": 1e-7, "online_ipo": 1e-12}),
        part("g2", 0.1, {"online_ipo": 1e-9}),
    ]
    lines = S._takeaway(parts, [0.1])
    text = "\n".join(lines)
    assert "in every part: online_ipo." in text  # nash_md misses g2 (1.0 > 1e-6)
    assert "nash_md (1/2)" in text
    assert "Never: rlhf" not in text and "rlhf" in text.split("Never:")[1].split("\n")[0]
    row = next(line for line in lines if line.startswith("| g2 |"))
    cols = next(line for line in lines if line.startswith("| game |")).split(" | ")
    cells = row.split(" | ")
    assert cells[cols.index("online_ipo")].strip(" |") == "✓"
    assert cells[cols.index("nash_md")].strip(" |") == "✗"


def test_simplex_helpers_draw_the_triangle_and_a_zoom_with_its_inset():
    """``simplex_axes`` + ``simplex_zoom`` (notebook 00's τ-path): the zoomed axes keep the
    triangle in an inset with the zoomed region framed, and the clipped corner labels do not
    stretch the figure."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from prefgame.figures import simplex_axes, simplex_zoom, to_simplex

    np.testing.assert_allclose(to_simplex(np.eye(3)), [[0, 0], [1, 0], [0.5, np.sqrt(3) / 2]])
    fig, ax = plt.subplots()
    assert simplex_axes(ax, ("a", "b", "c"), title="t") is ax and ax.get_title() == "t"
    inset = simplex_zoom(ax, (0.3, 0.7), (0.15, 0.45), ("a", "b", "c"))
    assert ax.get_xlim() == (0.3, 0.7) and ax.get_ylim() == (0.15, 0.45)
    assert [t.get_text() for t in inset.texts] == ["a", "b", "c"]
    frame = inset.lines[-1].get_xydata()
    assert frame.min(0).tolist() == [0.3, 0.15] and frame.max(0).tolist() == [0.7, 0.45]
    assert all(t.get_clip_on() for t in ax.texts)
    plt.close(fig)


def test_two_matrices_with_the_same_file_name_keep_both_studies(tmp_path, capsys, monkeypatch):
    """Issue 25: ``--matrix A/data.npy`` then ``--matrix B/data.npy`` into the same ``--out``
    used to replace A's finished part with B's (both named by the stem ``data``)."""
    import numpy as np

    from prefgame.games import PreferenceGame

    monkeypatch.setattr(S, "STUDY_GAMES", dict(S.STUDY_GAMES))
    out = tmp_path / "res"
    PA, PB = [[0.5, 0.2], [0.8, 0.5]], [[0.5, 0.7], [0.3, 0.5]]
    for d, P in (("A", PA), ("B", PB)):
        (tmp_path / d).mkdir()
        np.save(tmp_path / d / "data.npy", np.array(P))

    def study(d):
        argv = ["study", "--matrix", str(tmp_path / d / "data.npy"), "--out", str(out)]
        rc = main([*argv, "--tau", "1", "--no-figures", "--quiet"])
        return rc, capsys.readouterr().err

    assert study("A") == (0, "")
    part_a = S.part_path(out, "data", 1.0)
    saved_a = part_a.read_bytes()
    rc, err = study("B")
    assert rc == 0 and "studied as 'data_2'" in err and err.count("\n") == 1
    assert part_a.read_bytes() == saved_a  # A's finished part is untouched
    part_b = json.loads(S.part_path(out, "data_2", 1.0).read_text())
    assert part_b["game_fingerprint"] == S.game_fingerprint(PreferenceGame(PB))
    assert json.loads(saved_a)["game_fingerprint"] == S.game_fingerprint(PreferenceGame(PA))
    # reruns find their own parts (nothing recomputed), under the same names
    monkeypatch.setattr(S, "run_unit", lambda *a, **k: pytest.fail("recomputed a finished part"))
    assert study("A") == (0, "")
    assert study("B")[0] == 0 and "| data_2 |" in (out / "report.md").read_text()
    # the API refuses too, naming the part, rather than overwriting another game's part
    S.register_game("data", PreferenceGame(PB), replace=True)
    with pytest.raises(ValueError, match=r"data__tau1\.0\.json: a finished part of another game"):
        S.run_study(out, taus=[1.0], games=["data"], figures=False, progress=False)
    assert part_a.read_bytes() == saved_a


def _real_part(tmp_path):
    """A finished rps part at τ = 1 (computed once per test session would be nicer; 2 s)."""
    main(
        ["study", "--out", str(tmp_path), "--tau", "1", "--games", "rps", "--no-figures", "--quiet"]
    )
    path = S.part_path(tmp_path, "rps", 1.0)
    return path, json.loads(path.read_text())


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda p: {**p, "exact": 5},
        lambda p: {k: v for k, v in p.items() if k != "nash_md"},
        lambda p: {**p, "nash_md": {"policy": []}},
        lambda p: {**p, "learners": [1]},
        lambda p: {**p, "extra_methods": "x"},
        lambda p: {
            **p,
            "learners": {"mmd": {**p["learners"]["mmd"], "curve": {"steps": [1], "last": []}}},
        },
    ],
    ids=["exact-int", "no-nash_md", "nash_md-fields", "learners-list", "extra-str", "curve"],
)
def test_a_part_with_broken_fields_is_one_line_naming_the_file(tmp_path, capsys, corrupt):
    """Issue 25: valid JSON with lost or mistyped fields was a KeyError/TypeError traceback."""
    path, part = _real_part(tmp_path)
    capsys.readouterr()
    path.write_text(json.dumps(corrupt(part)))
    rc = main(
        ["study", "--out", str(tmp_path), "--tau", "1", "--games", "rps", "--no-figures", "--quiet"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and str(path) in err and "--force" in err, err
    rc = main(["study", "--out", str(tmp_path), "--tau", "1", "--games", "rps", "--quiet"])
    assert rc == 2  # still refused (nothing overwritten) until --force
    assert (
        main(
            [
                "study",
                "--out",
                str(tmp_path),
                "--tau",
                "1",
                "--games",
                "rps",
                "--no-figures",
                "--force",
            ]
        )
        == 0
    )
    assert json.loads(path.read_text())["exact"]["policy"] == part["exact"]["policy"]


def test_a_corrupt_caption_is_named(tmp_path):
    from prefgame.figures import read_caption

    (tmp_path / "f.caption.md").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ValueError, match=r"f\.caption\.md: corrupt figure caption.*--force"):
        read_caption(tmp_path / "f")


@pytest.mark.slow  # draws figures
def test_study_of_your_matrix_draws_figures_of_your_game_at_your_tau(tmp_path, monkeypatch):
    """``--matrix`` with figures: the paper's figures of RPS, the dice, ... are not drawn; the
    user's game gets its learner and dynamics figures, one panel per τ of the study."""
    import numpy as np

    from prefgame.games import random_intransitive

    monkeypatch.setattr(S, "STUDY_GAMES", dict(S.STUDY_GAMES))
    np.save(tmp_path / "four.npy", random_intransitive(4, seed=2).P)
    out = tmp_path / "res"
    argv = ["study", "--matrix", str(tmp_path / "four.npy"), "--tau", "0.2", "0.5"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    pngs = sorted(p.stem for p in (out / "figures").glob("*.png"))
    assert pngs == ["dynamics_four", "learners_four"]
    caption = (out / "figures" / "dynamics_four.caption.md").read_text()
    assert "four (4 actions)" in caption and "τ = 0.2:" in caption and "τ = 0.5:" in caption
    report = (out / "report.md").read_text()
    assert "figures/dynamics_four.png" in report
    assert "simplex_trajectories" not in report and "rps_cycling" not in report
