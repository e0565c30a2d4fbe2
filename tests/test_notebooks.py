"""Execute every notebook in ``notebooks/`` top to bottom in a fresh "python3" kernel.

Any cell error fails the test.  The notebooks are jupytext-paired (``NAME.ipynb`` with outputs,
``NAME.py`` in percent format); the pairing is checked too, so the two never drift apart.

Refresh the committed outputs with ``.venv/bin/python tests/test_notebooks.py`` (executes each
notebook and writes it back in place).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupytext = pytest.importorskip("jupytext")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMEOUT = 300  # seconds per cell


def execute(path: Path):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return nb


def _sources(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells if c.source.strip()]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_paired_with_its_py_file(path):
    py = path.with_suffix(".py")
    assert py.is_file(), f"{py.name} missing: pair with `jupytext --set-formats ipynb,py:percent`"
    assert _sources(jupytext.read(py)) == _sources(nbformat.read(path, as_version=4)), (
        f"{path.name} and {py.name} differ: run `jupytext --sync {path}`"
    )


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path):
    nb = execute(path)
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors


if __name__ == "__main__":  # refresh outputs in place
    for p in (Path(a) for a in sys.argv[1:]) if len(sys.argv) > 1 else NOTEBOOKS:
        print("executing", p, flush=True)
        nbformat.write(execute(p), p)
