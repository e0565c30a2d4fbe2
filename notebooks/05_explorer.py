# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The explorer: move τ, β and the game, and watch every learner
#
# `explorer()` is the page that `prefgame explore` serves, shown inline (it needs the `explore` extra,
# Panel; the controls are live while a kernel runs this notebook). Move τ and watch π*_τ travel along the
# τ-path of equilibria (dotted on the simplex, one line per action on the right); Nash-MD and online IPO
# follow it, IPO-MD does not — but its *mixture* (π_T)^{1−β} μ^β lands on π* at τ/(1−β) (the square), the
# content of Calandriello et al.'s Prop. 5.2. Set τ = 0 and the learners that need τ > 0 say so; upload a
# matrix that is not a preference matrix and the page shows the library's message.
#
# Notation: [`docs/notation.md`](../docs/notation.md) (τ is DPO's β; β alone is IPO-MD's mixture weight).
# Papers: online IPO / IPO-MD, Calandriello et al. [arXiv:2403.08635](https://arxiv.org/abs/2403.08635);
# NLHF / Nash-MD, Munos et al. [arXiv:2312.00886](https://arxiv.org/abs/2312.00886); IPO, Azar et al.
# [arXiv:2310.12036](https://arxiv.org/abs/2310.12036).

# %%
from prefgame.explore import explorer

explorer(
    "near_cyclic", tau=0.1, beta=0.25, learners=("nash_md", "online_ipo", "ipo_md", "online_dpo")
)

# %% [markdown]
# Every number on that page comes from one call, `prefgame.explore.model.compute`, which only calls the
# library (`solve`, the learners of `prefgame.dynamics`, `duality_gap`). The same call without the page:

# %%
import numpy as np

from prefgame.equilibrium import solve
from prefgame.explore.model import Settings, compute
from prefgame.games import near_cyclic

view = compute(
    Settings(
        game="near_cyclic",
        tau=0.1,
        beta=0.25,
        steps=2000,
        learners=("nash_md", "online_ipo", "ipo_md", "online_dpo"),
    )
)
star = solve(near_cyclic(), 0.1).policy
for run in view.runs.values():
    print(
        f"{run.label:12s} gap(π_T) = {run.gap[-1]:.1e}   max|π_T − π*_τ| = {np.max(np.abs(run.policy - star)):.1e}"
    )
mix_err = np.max(np.abs(view.ipo_md.mixture[-1] - solve(near_cyclic(), 0.1 / 0.75).policy))
print(f"IPO-MD mixture vs π* at τ/(1−β): max abs difference {mix_err:.1e}")

# %% [markdown]
# With more than three actions the simplex gives way to π_t(y) against the step t, one plot per learner,
# with π*_τ(y) dashed. Here a random intransitive game on 8 actions, started from a random policy:

# %%
explorer(
    "random_intransitive",
    n=8,
    seed=2,
    tau=0.05,
    start="random",
    start_seed=1,
    learners=("nash_md", "online_ipo"),
)
