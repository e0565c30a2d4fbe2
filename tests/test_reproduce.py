"""The reproduce command's --quick mode, end to end on CPU (SFT -> PM/RM -> 6 methods -> judge)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
METHODS = ["online_ipo", "ipo_md", "online_dpo", "nash_md_pg", "online_slic", "rl"]


def _quick_run(base: Path) -> tuple[Path, Path]:
    out, work = base / "results", base / "work"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "llm" / "reproduce.py"), "--quick", "--out", str(out),
         "--work", str(work)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, work


@pytest.mark.slow
def test_quick_reproduce_runs_end_to_end(tmp_path):
    """One test (not a shared fixture), so that pytest-xdist runs the pipeline only once."""
    out, work = _quick_run(tmp_path)
    _check_winrates(out)
    _check_report_curves_and_logs(out, work)


def _check_winrates(out: Path) -> None:
    win = json.loads((out / "winrates.json").read_text())
    assert set(win) == {"methods", "mean", "std", "seeds", "prompts", "judge"}
    assert win["methods"] == METHODS
    assert win["seeds"] == 2 and win["prompts"] == 64
    mean, std = np.array(win["mean"]), np.array(win["std"])
    assert mean.shape == std.shape == (6, 6)
    np.testing.assert_allclose(np.diag(mean), 0.5)
    # P(i ≻ j) + P(j ≻ i) = 1: the gold judge is antisymmetric and every seed pairing is used
    np.testing.assert_allclose(mean + mean.T, 1.0, atol=1e-3)
    assert ((mean >= 0) & (mean <= 1)).all() and (std >= 0).all()
    assert "factsum-gold" in win["judge"]


def _check_report_curves_and_logs(out: Path, work: Path) -> None:
    text = (out / "RESULTS.md").read_text()
    assert "Table 2" in text and "(.608)" in text.replace("0.608", ".608")
    assert (out / "curves.png").stat().st_size > 10_000
    kl = json.loads((out / "kl.json").read_text())
    assert set(kl) == set(METHODS)
    assert all(np.isfinite(v["kl_mean"]) for v in kl.values())
    for kind in ("pm", "rm"):
        info = json.loads((work / f"{kind}_info.json").read_text())
        assert 0.0 <= info["accuracy"] <= 1.0
    for m in METHODS:
        for s in range(2):
            log = json.loads((work / "align" / f"{m}_s{s}" / "log.json").read_text())
            assert log["log"][-1]["step"] == log["config"]["max_steps"]
