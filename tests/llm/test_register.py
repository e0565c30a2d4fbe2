"""The public extension API: register_method, the Sampler/Loss protocols, --plugin, and a
config module that imports no torch."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from prefgame.dynamics import preference_optimisation
from prefgame.dynamics.policy_gradient import fit_bradley_terry
from prefgame.equilibrium import duality_gap, kl, solve
from prefgame.games import PreferenceGame
from prefgame.llm import (
    METHODS,
    MixtureOpponentSampler,
    PairSampler,
    PairwiseLoss,
    PolicyGradientLoss,
    register_method,
    unregister_method,
)
from prefgame.llm.exact import sequence_probs
from prefgame.llm.verify import VerifyConfig, initial_policy, run_method, targets
from prefgame.tasks.sequence_game import SequenceGame


def scaled_ipo(h, p, *, tau):
    """IPO in units of τ: (τh − (p − ½))² = τ² (h − (p − ½)/τ)², the same zero as IPO."""
    return (tau * h - (p - 0.5)) ** 2


@pytest.fixture
def registered():
    names = []

    def add(name, **kw):
        names.append(name)
        return register_method(name, **kw)

    yield add
    for n in names:
        METHODS.pop(n, None)


@pytest.mark.slow  # a subprocess / training
def test_config_module_imports_no_torch():
    code = textwrap.dedent(
        """
        import sys
        from prefgame.llm.config import OnlineConfig
        OnlineConfig(method="ipo_md", beta=0.125)
        import prefgame.llm.methods
        print("torch" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.mark.slow  # a subprocess / training
def test_a_tabular_loss_plugs_in_unchanged_and_lands_on_its_tabular_verdict(registered):
    """The user's loss f(h, p, *, tau), checked on the tabular game first (its verdict: π*_τ),
    then registered and trained on a real transformer over the sequence game."""
    game = SequenceGame()
    cfg = VerifyConfig(
        methods=(), steps=400, batch_size=64, lr=3e-3, log_every=100, n_layer=1, tau=0.2
    )
    mu = sequence_probs(initial_policy(cfg, game), game)
    tab = PreferenceGame(game.P, mu)
    run = preference_optimisation(
        tab, 0.2, loss=scaled_ipo, dloss=lambda h, p, tau: 2 * tau * (tau * h - (p - 0.5)),
        steps=20_000, tol=1e-12,
    )  # fmt: skip
    assert duality_gap(tab, run.policy, 0.2) < 1e-10  # the tabular verdict: π*_τ
    method = registered("scaled_ipo", sampler=PairSampler(), loss=scaled_ipo, target="nash")
    assert isinstance(method.loss, PairwiseLoss) and method.loss.fn is scaled_ipo
    reward = fit_bradley_terry(tab)
    goals = targets(game, mu, 0.2, 0.5, reward)
    out = run_method(cfg, game, "scaled_ipo", goals, mu, reward)
    k = out["kl_to_target"]
    assert out["target"] == "nash" and k[-1] < 0.15 * k[0], k
    for other in ("dpo_stationary", "rlhf", "mean_ipo"):  # and nowhere near the others
        assert out[f"kl_to_{other}"][-1] > 5 * k[-1]
    assert kl(solve(tab, 0.2).policy, np.asarray(out["final_policy"])) == pytest.approx(k[-1])


def test_register_errors_are_named(registered):
    registered("mine", sampler=PairSampler(), loss=scaled_ipo)
    with pytest.raises(ValueError, match="'mine' is already registered"):
        register_method("mine", sampler=PairSampler(), loss=scaled_ipo)
    register_method("mine", sampler=PairSampler(), loss=scaled_ipo, replace=True)
    with pytest.raises(ValueError, match="method name 'Bad name'"):
        register_method("Bad name", sampler=PairSampler(), loss=scaled_ipo)
    with pytest.raises(ValueError, match="neither a Loss nor a function"):
        register_method("mine2", sampler=PairSampler(), loss=3, replace=True)
    with pytest.raises(ValueError, match="is not a Sampler"):
        register_method("mine2", sampler=object(), loss=scaled_ipo)
    with pytest.raises(ValueError, match="target = 'nowhere'"):
        register_method("mine2", sampler=PairSampler(), loss=scaled_ipo, target="nowhere")
    with pytest.raises(ValueError, match="a pairwise loss needs a sampler of pairs"):
        from prefgame.llm import PolicySampler

        register_method("mine2", sampler=PolicySampler(), loss=scaled_ipo)
    m = register_method(
        "mine3", sampler=MixtureOpponentSampler(), loss=PolicyGradientLoss(lambda *a, **k: 0)
    )
    assert m.uses_beta and METHODS["mine3"] is m
    assert unregister_method("mine3") is m and "mine3" not in METHODS
    with pytest.raises(ValueError, match="'mine3' is not registered"):
        unregister_method("mine3")


PLUGIN = """
from prefgame.llm import PairSampler, register_method

def scaled_ipo(h, p, *, tau):
    return (tau * h - (p - 0.5)) ** 2

register_method("plugin_ipo", sampler=PairSampler(), loss=scaled_ipo, target="nash")
"""


@pytest.mark.slow  # a subprocess / training
def test_plugin_from_the_command_line(tmp_path):
    plugin = tmp_path / "my_methods.py"
    plugin.write_text(PLUGIN)
    proc = subprocess.run(
        [sys.executable, "-m", "prefgame", "verify-llm", "--plugin", str(plugin),
         "--methods", "plugin_ipo", "--steps", "2", "--log-every", "1", "--batch-size", "4",
         "--json"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["methods"]["plugin_ipo"]["target"] == "nash"
    assert report["methods"]["plugin_ipo"]["steps"] == [0, 1, 2]
    for args, needle in (
        (["--plugin", str(tmp_path / "nope.py")], "nope.py: no such file"),
        (["--plugin", "no_such_module_here"], "importing it failed (ModuleNotFoundError"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "prefgame", "verify-llm", *args],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert proc.returncode == 2 and needle in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
