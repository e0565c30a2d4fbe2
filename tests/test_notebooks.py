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


#: the learning path's course notebooks: each holds exercises with executed solutions and takeaways.
COURSE = [
    ROOT / "notebooks" / f"{n}.ipynb"
    for n in (
        "00_preference_games",
        "01_equivalence_proof",
        "02_intransitive_preferences",
        "03_dynamics_tour",
    )
]


@pytest.mark.parametrize("path", COURSE, ids=[p.stem for p in COURSE])
def test_course_notebook_has_exercises_with_executed_solutions_and_takeaways(path):
    """≥ 2 "Exercise: predict …, then check …" cells, each followed by a code cell tagged
    ``solution`` (collapsed in Jupyter, in a collapsed block on the site) that was executed and
    printed its answer; a "Takeaways" section near the end."""
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    exercises = [
        i
        for i, c in enumerate(cells)
        if c.cell_type == "markdown" and "Exercise: predict" in c.source and "check" in c.source
    ]
    assert len(exercises) >= 2, f"{path.name}: {len(exercises)} exercises"
    for i in exercises:
        sol = cells[i + 1]
        assert sol.cell_type == "code" and "solution" in sol.metadata.get("tags", []), (
            f"{path.name}: exercise in cell {i} has no solution cell right after it"
        )
        assert sol.metadata.get("jupyter", {}).get("source_hidden"), "solution not collapsed"
        assert sol.execution_count is not None, f"{path.name}: solution cell {i + 1} not executed"
        outs = sol.get("outputs", [])
        assert outs and not any(o.output_type == "error" for o in outs), (path.name, i + 1)
    takeaways = [
        i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Takeaways" in c.source
    ]
    assert takeaways and takeaways[-1] >= len(cells) - 3, f"{path.name}: no closing takeaways"


def test_notebook_00_defines_its_terms_before_using_them():
    """Each term's first appearance in 00 (code comments and outputs aside) is its bold
    definition."""
    nb = nbformat.read(ROOT / "notebooks" / "00_preference_games.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    for term in ("last iterate", "natural step", "Nash-MD-PG self-play gradient"):
        first = text.lower().find(term.lower())
        assert first > 0, term
        assert text[first - 2 : first] == "**", f"00 uses {term!r} before defining it"


if __name__ == "__main__":  # refresh outputs in place
    for p in (Path(a) for a in sys.argv[1:]) if len(sys.argv) > 1 else NOTEBOOKS:
        print("executing", p, flush=True)
        nbformat.write(execute(p), p)
