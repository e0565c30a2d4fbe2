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
# # Intransitive preferences: RLHF against the Nash solution
#
# RLHF fits a Bradley–Terry reward r to the preferences and returns μ exp(r/τ)/Z. A scalar reward cannot
# represent a preference cycle. The Nash solution (NLHF) optimises against the preferences directly. Here we
# compare the two on rock–paper–scissors, the intransitive dice, a near-cycle and NLHF's three rater types,
# as ε and τ vary. Everything comes from `prefgame` (games, `equilibrium.solve`, `dynamics.rlhf_policy`).
# Terms (Bradley–Terry, von Neumann winner, π*_τ, duality gap) are defined in [00](00_preference_games.ipynb).
# Two exercises ask for a prediction before a solution cell (collapsed in Jupyter) computes the answer; the
# takeaways close the notebook.
#
# Notation: [`docs/notation.md`](../docs/notation.md) (τ is DPO's β; β alone is IPO-MD's mixture weight).
# Papers: online IPO / IPO-MD, Calandriello et al. [arXiv:2403.08635](https://arxiv.org/abs/2403.08635);
# NLHF / Nash-MD, Munos et al. [arXiv:2312.00886](https://arxiv.org/abs/2312.00886); IPO, Azar et al.
# [arXiv:2310.12036](https://arxiv.org/abs/2310.12036).

# %%
import matplotlib.pyplot as plt
import numpy as np

from prefgame.dynamics import fit_bradley_terry, rlhf_policy
from prefgame.equilibrium import duality_gap, solve
from prefgame.games import (
    bradley_terry,
    intransitive_dice,
    near_cyclic,
    rock_paper_scissors,
    three_rater_types,
)

plt.rcParams["figure.figsize"] = (6.4, 3.6)
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## Symmetric cycles: both answers are uniform
# In rock–paper–scissors and the dice (A ≻ B ≻ C ≻ A, each with probability 5/9) every action ties with the
# uniform policy, so the fitted Bradley–Terry reward is constant and RLHF returns μ — which here *is* the Nash
# equilibrium. A non-symmetric cycle breaks this coincidence.

# %%
tau = 0.05
for g in (rock_paper_scissors(), intransitive_dice(), near_cyclic()):
    r = fit_bradley_terry(g)
    nash, rl = solve(g, tau).policy, rlhf_policy(g, tau)
    print(
        f"{g.name:12s} BT reward {r}   Nash {nash}   RLHF {rl}   P(Nash ≻ RLHF) = {nash @ g.P @ rl:.3f}"
    )

# %% [markdown]
# **Exercise: predict, then check.** Now take preferences with **no** cycle: the Bradley–Terry game with
# rewards r = (0, ½, 1), `bradley_terry([0, 0.5, 1])`, at τ = 0.05 and τ = 1. RLHF's model is exactly right
# here. Predict: does RLHF return the Nash solution π*_τ? Then check with `rlhf_policy` and `solve`.

# %% tags=["solution"] jupyter={"source_hidden": true}
bt = bradley_terry([0.0, 0.5, 1.0])
for t in (0.05, 1.0):
    print(f"τ = {t}: Nash {solve(bt, t).policy}   RLHF {rlhf_policy(bt, t)}")
# No, not at τ > 0: RLHF tilts μ by the reward, μ exp(r/τ); the Nash solution by the win rate, μ exp(P(y ≻ π)/τ),
# which is bounded in [0, 1] and depends on π. Both put (almost) all mass on y3, the top reward, as τ → 0, where
# a transitive game's von Neumann winner is the top action. The two objectives differ; only cycles make RLHF
# *wrong* in kind (it cannot represent them), as the rest of this notebook shows.

# %% [markdown]
# ## Three rater types ([NLHF §3.2](https://arxiv.org/abs/2312.00886); [`docs/theory.md`](../docs/theory.md) §11)
# Type 1 (share 1/3 − ε) prefers y2 ≻ y1, type 2 prefers y1 ≻ y3, type 3 prefers y3 ≻ y2. The unregularised Nash
# equilibrium is (1/3 + ε/2, 1/3 + ε/2, 1/3 − ε): it moves smoothly with ε. RLHF with a small τ concentrates on
# the action with the highest fitted reward, which jumps from y1 to y2 as ε changes sign.

# %%
eps_grid = np.linspace(-0.3, 0.3, 61)
tau = 0.01
nash = np.array([solve(three_rater_types(e), tau).policy for e in eps_grid])
vnw = np.array([solve(three_rater_types(e), 0.0).policy for e in eps_grid])
rl = np.array([rlhf_policy(three_rater_types(e), tau) for e in eps_grid])
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
for k, name in enumerate(("y1", "y2", "y3")):
    axes[0].plot(eps_grid, nash[:, k], label=f"Nash τ={tau}: {name}")
    axes[0].plot(eps_grid, vnw[:, k], "k:", lw=1)
    axes[1].plot(eps_grid, rl[:, k], label=f"RLHF τ={tau}: {name}")
axes[0].set_title("Nash (dotted: τ = 0, (1/3+ε/2, 1/3+ε/2, 1/3−ε))")
axes[1].set_title("RLHF (Bradley–Terry)")
for ax in axes:
    ax.set_xlabel("ε")
    ax.legend(fontsize=8)
axes[0].set_ylabel("probability")
plt.show()

# %% [markdown]
# **Exercise: predict, then check.** At ε = 0 the three rater types have equal shares. Predict what RLHF
# (τ = 0.01) and the Nash solution return there, and what RLHF returns at ε = ±0.02. Then check.

# %% tags=["solution"] jupyter={"source_hidden": true}
for e in (-0.02, 0.0, 0.02):
    g3 = three_rater_types(e)
    print(f"ε = {e:+.2f}: Nash {solve(g3, 0.01).policy}   RLHF {rlhf_policy(g3, 0.01)}")
# ε = 0 is a symmetric cycle: both are uniform. A small ε moves the Nash solution by about ε/2 (y1, y2) and
# −ε (y3), but RLHF's fitted reward then has a strict maximum and at τ = 0.01 RLHF puts 87% of its mass on
# it — y1 for ε > 0, y2 for ε < 0: a jump, from a 2% change in who the raters are.

# %% [markdown]
# **Exploitability, then head to head.** The point of the Nash solution is that no policy exploits it. Left (the
# main panel): exploitability in the unregularised game (duality gap at τ = 0, 2·max_y P(y ≻ π) − 1) — small for
# the Nash solutions, large for RLHF, which plays a near-deterministic policy that some other action beats.
# Right: the head-to-head win rate P(π_Nash ≻ π_RLHF) is *not* the measure to look at. The unregularised Nash
# solution (von Neumann winner, black) beats or ties every policy (≥ ½, with equality when RLHF plays inside its
# support); the regularised ones sit near ½ and may lose by a little, because regularisation costs them
# exactness — against one fixed opponent a policy can do better by being exploitable elsewhere.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1.6, 1]})
for t in (0.01, 0.05, 0.2):
    wins, gap_n, gap_r = [], [], []
    for e in eps_grid:
        g = three_rater_types(e)
        a, b = solve(g, t).policy, rlhf_policy(g, t)
        wins.append(a @ g.P @ b)
        gap_n.append(duality_gap(g, a, 0.0))
        gap_r.append(duality_gap(g, b, 0.0))
    (line,) = axes[0].plot(eps_grid, gap_r, label=f"RLHF, τ = {t}")
    axes[0].plot(eps_grid, gap_n, ls="--", color=line.get_color(), label=f"Nash, τ = {t}")
    axes[1].plot(eps_grid, wins, color=line.get_color(), label=f"Nash vs RLHF, both τ = {t}")
vnw_wins = [
    solve(three_rater_types(e), 0.0).policy
    @ three_rater_types(e).P
    @ rlhf_policy(three_rater_types(e), 0.01)
    for e in eps_grid
]
axes[1].plot(eps_grid, vnw_wins, "k", lw=2, label="τ = 0 Nash vs RLHF τ = 0.01")
axes[1].axhline(0.5, color="k", lw=0.8, ls=":")
axes[1].set_title("head to head: P(π_Nash ≻ π_RLHF)")
axes[0].set_title("exploitability in the τ = 0 game (lower is better)")
axes[0].set_ylabel("duality gap at τ = 0")
for ax in axes:
    ax.set_xlabel("ε")
    ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## As τ varies
# Large τ keeps both near μ (uniform); as τ → 0 the Nash solution tends to the von Neumann winner while RLHF
# tends to a deterministic policy on the best-scoring action (here ε = 0.1).

# %%
taus = np.logspace(-3, 1, 41)
g = three_rater_types(0.1)
nash_t = np.array([solve(g, t).policy for t in taus])
rl_t = np.array([rlhf_policy(g, t) for t in taus])
for k, name in enumerate(("y1", "y2", "y3")):
    (line,) = plt.semilogx(taus, nash_t[:, k], label=f"Nash {name}")
    plt.semilogx(taus, rl_t[:, k], ls="--", color=line.get_color(), label=f"RLHF {name}")
plt.xlabel("τ")
plt.ylabel("probability")
plt.title("three rater types, ε = 0.1")
plt.legend(fontsize=8, ncol=2)
plt.show()
print("tau -> 0: Nash", nash_t[0], " von Neumann winner", solve(g, 0.0).policy, " RLHF", rl_t[0])

# %% [markdown]
# ## Takeaways
#
# * On symmetric cycles (rock–paper–scissors, the dice) RLHF and the Nash solution coincide, by symmetry
#   alone; any asymmetric cycle separates them.
# * RLHF's answer **jumps** with the sign of ε and, as τ → 0, concentrates on one action; the Nash solution
#   moves smoothly and tends to the von Neumann winner.
# * Judge a policy by its **exploitability** (the τ = 0 duality gap), not by a head-to-head win rate against
#   one opponent: RLHF's policy is exploitable, the Nash solutions are not (or barely, with τ > 0).
# * Even without cycles, RLHF and Nash differ at τ > 0 (a reward tilt vs a win-rate tilt of μ); they agree
#   on the top action as τ → 0.
