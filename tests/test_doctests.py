"""Every example in prefgame's docstrings runs, and prints what it says (``doctest``).

Modules are found by reading their source (no import at collection time), so a module whose
examples need an optional extra (torch, panel) is imported only here, and only when it has
examples; the tabular modules' examples need numpy and scipy alone.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "prefgame"
#: Extras a module's examples may need; without them (a tabular-only install) it is skipped.
OPTIONAL = {
    "torch",
    "transformers",
    "accelerate",
    "datasets",
    "peft",
    "safetensors",
    "panel",
    "bokeh",
}


def _modules_with_examples() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if ">>>" not in path.read_text(encoding="utf-8"):
            continue
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found.append(".".join(parts))
    return found


MODULES = _modules_with_examples()


def test_the_core_modules_have_examples():
    """The examples that illustrate the API stay (removing them fails this test)."""
    for name in ("prefgame.games", "prefgame.equilibrium", "prefgame.losses", "prefgame.dynamics"):
        assert name in MODULES, f"{name} has no docstring example"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in OPTIONAL:
            pytest.skip(f"{name}: its examples need the optional package {exc.name}")
        raise
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, verbose=False)
    assert result.attempted > 0, f"{name}: no example was collected"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
