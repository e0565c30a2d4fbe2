"""`prefgame equivalence`: the numbers the issue asks for, through the command line."""

import json

import numpy as np
import pytest

from prefgame import games as G
from prefgame.cli import main
from prefgame.equilibrium import solve
from prefgame.equivalence import METHODS, equivalence_study


def _run(capsys, *argv):
    rc = main(["equivalence", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _check_claims(out):
    assert set(METHODS) <= set(out) and out["tau"] > 0 and "beta" in out
    for m in METHODS:
        assert {"policy", "duality_gap", "max_abs_diff"} <= set(out[m])
    assert out["online_ipo"]["max_abs_diff"] <= 1e-8
    assert out["nash_md"]["max_abs_diff"] <= 1e-6
    assert out["nash_md"]["kl"] <= out["nash_md"]["kl_bound"]
    assert out["ipo_md"]["mixture_max_abs_diff"] <= 1e-9


def test_rps_json(capsys):
    rc, stdout, _ = _run(capsys, "--game", "rps", "--tau", "0.1", "--json", "--init-seed", "3")
    assert rc == 0
    out = json.loads(stdout)
    _check_claims(out)
    # the RPS exception: online DPO and RLHF also land on the uniform equilibrium
    assert out["online_dpo"]["max_abs_diff"] <= 1e-8
    assert out["rlhf"]["max_abs_diff"] <= 1e-8


@pytest.mark.slow  # long learner runs
def test_random_20_action_matrix_file(tmp_path, capsys):
    g = G.random_intransitive(20, seed=42)
    path = tmp_path / "P.npy"
    np.save(path, g.P)
    rc, stdout, _ = _run(capsys, "--matrix", str(path), "--tau", "0.1", "--json")
    assert rc == 0
    out = json.loads(stdout)
    _check_claims(out)
    np.testing.assert_allclose(out["exact"]["policy"], solve(g, 0.1).policy, atol=1e-12)
    # intransitive: online DPO and RLHF are measurably away from π*_τ
    assert out["online_dpo"]["max_abs_diff"] > 1e-2 and out["online_dpo"]["duality_gap"] > 1e-3
    assert out["rlhf"]["max_abs_diff"] > 1e-2 and out["rlhf"]["duality_gap"] > 1e-3
    # constant-step Nash-MD is biased, the bias shrinking with η
    bias = [b["max_abs_diff"] for b in out["nash_md_constant"]]
    assert bias[0] > bias[1] > bias[2] > 1e-6


@pytest.mark.parametrize(
    "game",
    ["three_raters", pytest.param("near_cyclic", marks=pytest.mark.slow), "bradley_terry", "dice"],
)
def test_builtin_games(game):
    out = equivalence_study(G.make_game(game), 0.2, 0.5, init=None)
    _check_claims(out)
    if (
        game != "dice"
    ):  # the dice, like RPS, has a uniform π* that every method keeps from uniform μ
        assert out["online_dpo"]["max_abs_diff"] > 1e-3
        assert out["rlhf"]["max_abs_diff"] > 1e-3


def test_text_output_and_nonuniform_mu(tmp_path, capsys):
    mu = tmp_path / "mu.json"
    mu.write_text(json.dumps({"mu": [0.5, 0.3, 0.2]}))
    rc, stdout, _ = _run(capsys, "--game", "near_cyclic", "--mu", str(mu), "--tau", "1")
    assert rc == 0
    assert "online_ipo" in stdout and "Prop. 5.2" in stdout and "biased fixed point" in stdout


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--game", "rps", "--tau", "0"], "tau"),
        (["--game", "rps", "--tau", "0.1", "--beta", "1"], "beta"),
        (["--game", "nope", "--tau", "0.1"], "unknown game"),
        (["--tau", "0.1"], "--game"),
    ],
)
def test_user_errors_exit_2_with_one_line(capsys, argv, needle):
    rc, stdout, stderr = _run(capsys, *argv)
    assert rc == 2 and stdout == ""
    assert needle in stderr and stderr.count("\n") == 1


def test_invalid_matrix_file(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("0.5,0.9\n0.9,0.5\n")
    rc, _, stderr = _run(capsys, "--matrix", str(path), "--tau", "0.1")
    assert rc == 2 and "must be 1" in stderr
