"""The tabular core installs and runs without the extras: nothing on its import path needs torch.

``pip install -e .`` (no extras) must be enough for
``prefgame solve / equivalence / study / figures``;
this runs them in a fresh interpreter in which importing torch, transformers & co. fails.  The
notebooks the README lists for the tabular core (00–03 and 07) run there too, as their jupytext
``.py`` pairs.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import importlib.abc, sys
    BLOCK = {"torch", "transformers", "accelerate", "datasets", "peft", "safetensors", "panel",
             "bokeh", "jupytext", "nbformat", "nbclient", "hypothesis", "sympy", "pytest"}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCK:
                raise ImportError(f"{name} is not installed (blocked by the test)")

    sys.meta_path.insert(0, Block())
    import numpy as np
    import prefgame.cli, prefgame.study, prefgame.figures, prefgame.equivalence, prefgame.dynamics
    from prefgame.cli import main
    from prefgame.dynamics import preference_optimisation
    from prefgame.games import near_cyclic
    assert main(["solve", "--game", "rps", "--tau", "0.1", "--json"]) == 0
    argv = ["equivalence", "--game", "three_raters", "--tau", "1", "--max-steps", "20000", "--json"]
    assert main(argv) == 0
    # a custom loss with its numpy derivative needs no torch either
    f = lambda h, p, *, tau: (h - (p - 0.5) / tau) ** 2
    df = lambda h, p, tau: 2 * (h - (p - 0.5) / tau)
    run = preference_optimisation(near_cyclic(), 0.5, loss=f, dloss=df, steps=5000, tol=1e-12)
    assert run.converged
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCK)
    assert not loaded, loaded
    print("TABULAR-CORE-OK")
""")


def _python(*args: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -c ...`` in a clean environment (only this checkout on the path)."""
    return subprocess.run(
        [sys.executable, "-c", *args],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"},
    )


def test_tabular_commands_run_without_torch_or_other_extras():
    res = _python(SCRIPT)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "TABULAR-CORE-OK" in res.stdout


BLOCKED_RUN = textwrap.dedent("""
    import importlib.abc, runpy, sys
    BLOCK = {"torch", "transformers", "accelerate", "datasets", "peft", "safetensors", "panel",
             "bokeh"}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCK:
                raise ImportError(f"{name} is not installed (blocked by the test)")

    sys.meta_path.insert(0, Block())
    runpy.run_path(sys.argv[1], run_name="__main__")
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCK)
    assert not loaded, loaded
    print("NOTEBOOK-OK")
""")

#: the notebooks the README says need only the tabular core.
TABULAR_NOTEBOOKS = [
    "00_preference_games",
    "01_equivalence_proof",
    "02_intransitive_preferences",
    "03_dynamics_tour",
    "07_your_own_idea",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", TABULAR_NOTEBOOKS)
def test_tabular_notebooks_run_without_torch(name):
    res = _python(BLOCKED_RUN, f"{name}.py", cwd=ROOT / "notebooks")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "NOTEBOOK-OK" in res.stdout


LLM_CLI_WITHOUT_EXTRA = textwrap.dedent("""
    import importlib.abc, runpy, sys
    BLOCK = {"torch", "transformers", "accelerate", "datasets", "peft", "safetensors"}

    class Missing(importlib.abc.MetaPathFinder):  # as Python reports a package not installed
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCK:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    sys.meta_path.insert(0, Missing())
    sys.argv = ["prefgame.llm", *ARGS]
    runpy._run_module_as_main("prefgame.llm")
""")


def test_llm_cli_without_the_extra_says_so_in_one_line():
    """``python -m prefgame.llm`` without the ``llm`` extra: ``--help`` works (the config needs
    no torch); a run is one line naming the extra, not a traceback (issue 24)."""
    res = _python(LLM_CLI_WITHOUT_EXTRA.replace("*ARGS", '"--help"'), timeout=120)
    assert res.returncode == 0 and "--snapshot_every" in res.stdout, res.stderr
    run = '"--prompts", "README.md", "--policy_name", "a", "--judge_name", "b"'
    res = _python(LLM_CLI_WITHOUT_EXTRA.replace("*ARGS", run), timeout=120)
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "`llm` extra" in lines[0] and "pip install" in lines[0], res.stderr
