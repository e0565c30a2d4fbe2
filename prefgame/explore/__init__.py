"""The interactive explorer: move τ, β, the step size, the start policy and the game, and watch
the learners of :mod:`prefgame.dynamics` against the exact equilibria of
:mod:`prefgame.equilibrium` — in a notebook cell or as a local web page.

* :mod:`prefgame.explore.model` — what is shown, every number from a library call, cached;
* :mod:`prefgame.explore.app` — the Panel/Bokeh page: :func:`explorer` (one notebook call) and
  :func:`serve` (``prefgame explore``);
* :mod:`prefgame.explore.ports` — a free port, or a check of the one asked for.

``explorer`` and ``serve`` are imported lazily, so ``prefgame.explore.model`` works without the
``explore`` extra (Panel) installed.
"""

from __future__ import annotations

__all__ = ["explorer", "serve"]


def __getattr__(name: str):
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
