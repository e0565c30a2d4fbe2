import json
import subprocess
import sys

import numpy as np
import pytest

from prefgame import games as G
from prefgame.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_solve_rps_json_prints_exactly_one_object(capsys):
    code, out, err = run(capsys, "solve", "--game", "rps", "--tau", "0.1", "--json")
    assert code == 0 and err == ""
    lines = out.strip().splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert set(doc) == {"policy", "duality_gap", "tau", "n", "iterations", "seconds", "converged"}
    np.testing.assert_allclose(doc["policy"], [1 / 3] * 3, atol=1e-12)
    assert doc["duality_gap"] <= 1e-12 and doc["converged"] is True and doc["n"] == 3


def test_solve_matrix_file_with_mu(tmp_path, capsys):
    g = G.random_intransitive(20, seed=7)
    G.save_game(g, tmp_path / "p.npy")
    mu = np.linspace(1, 2, 20)
    np.save(tmp_path / "mu.npy", mu / mu.sum())
    code, out, _ = run(
        capsys,
        "solve",
        "--matrix",
        str(tmp_path / "p.npy"),
        "--mu",
        str(tmp_path / "mu.npy"),
        "--tau",
        "0.05",
        "--json",
    )
    doc = json.loads(out)
    assert code == 0 and doc["converged"] and doc["duality_gap"] <= 1e-12 and doc["n"] == 20


def test_solve_tau_zero_uses_the_lp(capsys):
    code, out, _ = run(
        capsys, "solve", "--game", "three_raters", "--param", "eps=0.2", "--tau", "0", "--json"
    )
    assert code == 0
    np.testing.assert_allclose(
        json.loads(out)["policy"], [1 / 3 + 0.1, 1 / 3 + 0.1, 1 / 3 - 0.2], atol=1e-9
    )


def test_human_readable_output(capsys):
    code, out, _ = run(capsys, "solve", "--game", "dice", "--tau", "1")
    assert code == 0 and "duality gap" in out and "converged" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["solve", "--game", "nope", "--tau", "1"], "unknown game 'nope'"),
        (["solve", "--game", "rps", "--tau", "-1"], "tau = -1, must be a finite number >= 0"),
        (["solve", "--game", "rps", "--tau", "abc"], "tau = 'abc', must be a number"),
        (["solve", "--game", "rps"], "--tau"),
        (["solve", "--tau", "1"], "one of the arguments --game --matrix is required"),
        (["solve", "--game", "three_raters", "--param", "eps=0.9", "--tau", "1"], "eps = 0.9"),
        (["solve", "--game", "rps", "--param", "bogus=1", "--tau", "1"], "bad --param"),
        (["bogus"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


def test_bad_files_exit_2(tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("0.5,0.2,0.3\n0.8,0.5,0.5\n1.0,0.5,0.5\n")
    code, _, err = run(capsys, "solve", "--matrix", str(tmp_path / "bad.csv"), "--tau", "1")
    assert code == 2 and "P[0,2] + P[2,0] = 1.3, must be 1" in err
    (tmp_path / "bad.json").write_text("{")
    code, _, err = run(capsys, "solve", "--matrix", str(tmp_path / "bad.json"), "--tau", "1")
    assert code == 2 and "malformed JSON" in err
    code, _, err = run(capsys, "solve", "--matrix", str(tmp_path / "missing.npy"), "--tau", "1")
    assert code == 2 and "no such file" in err


def test_console_script_has_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "prefgame.cli", "solve", "--game", "rps", "--tau", "-2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_tau_zero_keeps_the_lp_tolerance(tmp_path, capsys):
    """HiGHS is accurate to ≈ 1e-10 here; the CLI must not impose Newton's 1e-12 on the LP."""
    rng = np.random.default_rng(6)
    S = rng.uniform(-1, 1, (200, 200))
    P = 0.5 + 0.45 * (S - S.T) / 2
    P = np.round(P, 3)
    P = (P + 1 - P.T) / 2
    np.save(tmp_path / "p.npy", P)
    code, out, _ = run(capsys, "solve", "--matrix", str(tmp_path / "p.npy"), "--tau", "0", "--json")
    doc = json.loads(out)
    assert doc["duality_gap"] > 1e-12  # the case under test: an LP answer between 1e-12 and 1e-9
    assert code == 0 and doc["converged"] is True


@pytest.mark.parametrize("tol", ["nan", "-1", "0", "inf", "abc"])
def test_bad_tol_exits_2(capsys, tol):
    code, out, err = run(capsys, "solve", "--game", "rps", "--tau", "1", f"--tol={tol}")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "tol = " in err
