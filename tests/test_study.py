"""`prefgame study` (the main job) and `prefgame figures`: outputs, resumption, interruption."""

import json

import pytest

from prefgame import study as S
from prefgame.cli import main


def test_study_writes_parts_and_report_then_resumes(tmp_path, capsys, monkeypatch):
    out = tmp_path / "res"
    rc = main(["study", "--out", str(out), "--tau", "1", "--games", "rps", "three_raters",
               "--no-figures", "--quiet"])
    assert rc == 0
    report = (out / "report.md").read_text()
    assert "| three_raters |" in report and "Incomplete" not in report
    part = json.loads((out / "parts" / "three_raters__tau1.json").read_text())
    assert part["online_ipo"]["max_abs_diff"] <= 1e-8
    assert part["nash_md"]["max_abs_diff"] <= 1e-6
    assert part["rlhf"]["max_abs_diff"] > 1e-3
    # the post-paper learners' comparison (tests/test_learners.py checks it in detail)
    assert part["learners"]["mmd"]["converged"] and part["learners"]["mmd"]["max_abs_diff"] <= 1e-8
    assert "post-paper learners" in report
    # a rerun finds both parts on disk and recomputes nothing
    monkeypatch.setattr(S, "run_unit", lambda *a, **k: pytest.fail("recomputed a finished part"))
    assert main(["study", "--out", str(out), "--tau", "1", "--games", "rps", "three_raters",
                 "--no-figures", "--quiet"]) == 0
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
    assert (tmp_path / "parts" / "rps__tau1.json").exists()
    assert not (tmp_path / "parts" / "dice__tau1.json").exists()
    assert "Incomplete: 1 part" in (tmp_path / "report.md").read_text()
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no temporary files left


def test_figures_command_writes_png_and_svg(tmp_path, capsys):
    assert main(["figures", "--out", str(tmp_path), "--only", "dpo_collapse"]) == 0
    assert (tmp_path / "dpo_collapse.png").stat().st_size > 10_000
    assert (tmp_path / "dpo_collapse.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("argv,needle", [
    (["figures", "--only", "nope"], "unknown figure"),
    (["study", "--games", "nope", "--no-figures", "--quiet"], "unknown study game"),
    (["study", "--tau", "-1"], "tau"),
])
def test_errors_exit_2(tmp_path, capsys, argv, needle):
    rc = main(argv + ["--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and err.count("\n") == 1
