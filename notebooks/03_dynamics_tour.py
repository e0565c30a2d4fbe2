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
# # A tour of the dynamics on the simplex
#
# Three actions, near-cyclic preferences (y1 ≻ y2 w.p. 0.9, y2 ≻ y3 w.p. 0.8, y3 ≻ y1 w.p. 0.7 — a stand-in for
# Calandriello et al. App. E, whose exact matrix was not recovered), uniform μ, τ = 0.1. All learners are the
# exact-expectation tabular ones from `prefgame.dynamics`; every policy is drawn on the 2-simplex. This is the
# game of [00](00_preference_games.ipynb), which draws one Nash-MD step on it and defines the terms used here
# (last iterate, natural step, self-play). Two exercises ask for a prediction before a solution cell
# (collapsed in Jupyter) checks it; the takeaways close the notebook.
#
# Notation: [`docs/notation.md`](../docs/notation.md) (τ is DPO's β; β alone is IPO-MD's mixture weight).
# Papers: online IPO / IPO-MD, Calandriello et al. [arXiv:2403.08635](https://arxiv.org/abs/2403.08635);
# NLHF / Nash-MD, Munos et al. [arXiv:2312.00886](https://arxiv.org/abs/2312.00886); IPO, Azar et al.
# [arXiv:2310.12036](https://arxiv.org/abs/2310.12036).

# %%
import matplotlib.pyplot as plt
import numpy as np

from prefgame.dynamics import (
    ipo_md,
    nash_md,
    offline_ipo_optimum,
    online_dpo,
    online_ipo,
    online_mirror_descent,
    rlhf_policy,
    self_play_pg,
)
from prefgame.equilibrium import duality_gap, solve
from prefgame.figures import simplex_axes, simplex_zoom
from prefgame.figures import to_simplex as xy
from prefgame.games import near_cyclic, rock_paper_scissors

plt.rcParams["figure.figsize"] = (5.5, 5.0)
game, tau = near_cyclic(), 0.1
star = solve(game, tau).policy
init = np.array([0.1, 0.8, 0.1])


def simplex(ax, title):
    simplex_axes(ax, game.actions)
    ax.plot(*xy(star), "k*", ms=14, label="π*_τ")
    ax.set_title(title)


print("pi*_tau =", np.round(star, 4))

# %% [markdown]
# ## Nash-MD and online IPO reach π*_τ; online DPO does not
# Nash-MD (η_t = 2/(τ(t+2))) and online IPO both converge to the regularised equilibrium (Prop. 4.1); online DPO
# spirals into a different point ([Calandriello et al. App. F](https://arxiv.org/abs/2403.08635); its stationarity condition is in
# `paper_proofs/online_dpo.md`). Offline IPO's answer μ exp(Pμ/τ)/Z and the RLHF policy are marked too.

# %%
runs = {
    "Nash-MD": nash_md(game, tau, steps=300, init=init, record_every=1),
    "online IPO": online_ipo(game, tau, steps=300, init=init, record_every=1),
    "online DPO": online_dpo(game, tau, steps=1500, init=init, record_every=1),
}
fig, ax = plt.subplots()
simplex(ax, "near-cyclic game, τ = 0.1")
for name, run in runs.items():
    ax.plot(*xy(run.history).T, ".-", ms=2, lw=1, label=name)
ax.plot(*xy(offline_ipo_optimum(game, tau)), "s", label="offline IPO optimum")
ax.plot(*xy(rlhf_policy(game, tau)), "D", label="RLHF")
ax.legend(fontsize=8, loc="upper right")
plt.show()
for name, run in runs.items():
    print(
        f"{name:11s} final π = {np.round(run.policy, 4)}   gap = {duality_gap(game, run.policy, tau):.2e}"
    )

# %% [markdown]
# **Exercise: predict, then check.** Online DPO misses π*_τ at τ = 0.1. With a ten times stronger KL penalty,
# τ = 1, everything sits nearer μ. Predict: is online DPO's duality gap at τ = 1 smaller or larger than at
# τ = 0.1 (4.1e-3)? Then check with `online_dpo` and `duality_gap`.

# %% tags=["solution"] jupyter={"source_hidden": true}
for t in (0.1, 1.0):
    dpo = online_dpo(game, t, steps=20_000, init=init)
    print(
        f"τ = {t}: online DPO ends at {np.round(dpo.policy, 4)}, π*_τ = {np.round(solve(game, t).policy, 4)},"
        f"  gap {duality_gap(game, dpo.policy, t):.1e}"
    )
# Larger (1.4e-2): a stronger penalty does not pull online DPO onto π*_τ. Its stationary point solves its own
# equation (a sigmoid of the margins matched to P(y ≻ π), `paper_proofs/online_dpo.md`), a different point at
# every τ; the gap measures that difference, and here it grows with τ.

# %% [markdown]
# ## IPO-MD: the β sweep
# β interpolates between online IPO (β = 0) and offline IPO (β = 1). The fixed point moves along a curve from π*_τ
# to μ exp(Pμ/τ)/Z; its *mixture* π^{1−β} μ^β is exactly the equilibrium at the stronger regularisation τ/(1−β)
# (Prop. 5.2). Left: the runs from π_0. Right, zoomed (the inset shows where): **o** where each β's run ends (the
# policy π_T); **×** in the same colour, π* at τ/(1−β), which the run's mixture π_T^{1−β} μ^β hits exactly (the
# mixture itself is not drawn). At β = 0 all three marks coincide with π*_τ: there the mixture is π itself.

# %%
fig, (ax, axz) = plt.subplots(1, 2, figsize=(11, 5.4))
simplex(ax, "IPO-MD, β sweep: the runs")
simplex(axz, "the ends (o) and the mixtures' targets (×)")
betas = np.linspace(0, 0.99, 60)
curve = np.array([ipo_md(game, tau, b, steps=400, tol=1e-10).policy for b in betas])
for beta in (0.0, 0.25, 0.5, 0.75, 0.95):
    run = ipo_md(game, tau, beta, steps=300, init=init, record_every=1)
    (line,) = ax.plot(*xy(run.history).T, "-", lw=1, label=f"β = {beta}")
    for a in (ax, axz):
        a.plot(*xy(run.policy), "o", color=line.get_color(), ms=9, mfc="none", mew=1.6)
        a.plot(*xy(solve(game, tau / (1 - beta)).policy), "x", color=line.get_color(), ms=8)
for a in (ax, axz):
    a.plot(*xy(curve).T, "k:", lw=1, label="fixed points, β ∈ [0, 1)")
    a.plot(*xy(offline_ipo_optimum(game, tau)), "ks", label="offline IPO (β = 1)")
inset = simplex_zoom(axz, (0.27, 0.57), (0.1, 0.4), game.actions, bounds=(0.72, 0.0, 0.28, 0.32))
inset.plot(*xy(curve).T, "k", lw=1)
ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=3)
plt.show()

# %% [markdown]
# ## Last iterate vs average iterate vs self-play, on rock–paper–scissors
# Left, without regularisation (τ = 0): self-play policy gradient and online mirror descent against the current
# policy (Hedge) both circle the equilibrium instead of converging (with discrete steps they drift slowly
# outwards); only Hedge's *average* iterate converges. Nash-MD needs τ > 0, so it is not in this panel.
#
# Right, every method at the **same** τ = 0.05: regularisation alone makes self-play PG and OMD converge in last
# iterate too, to the same π*_τ. What Nash-MD's mixture adds is not convergence on this small game but a
# *guarantee*: with the theorem's step sizes η_t = 2/(τ(t+2)), KL(π*_τ‖π_T) ≤ 8/(τ²(T+1)) for any number of
# actions, with no step size to tune. (The printout: after 600 steps self-play PG and OMD are within 2e-3 and
# 2e-2 of π*_τ and still closing in; Nash-MD lands on π*_τ at once here only because its first step, with
# η_0τ = 1, replaces π_0 by μ, which on rock–paper–scissors with a uniform μ is already π*_τ.)

# %%
rps = rock_paper_scissors()
start = np.array([0.6, 0.25, 0.15])
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 5.2))
simplex_axes(ax0, rps.actions)
sp = self_play_pg(rps, 0.0, steps=600, lr=0.2, init=start, record_every=1)
omd = online_mirror_descent(rps, 0.0, eta=0.1, steps=600, init=start, record_every=1)
ax0.plot(*xy(sp.history).T, lw=1, label="self-play PG")
ax0.plot(*xy(omd.history).T, lw=1, label="OMD/Hedge (last iterate)")
ax0.plot(*xy(omd.extra["average"]), "o", label="OMD average iterate")
ax0.set_title("τ = 0 (no regularisation)", pad=18)
t_ = 0.05
simplex_axes(ax1, rps.actions)
runs_rps = {
    "self-play PG": self_play_pg(rps, t_, steps=600, lr=0.2, init=start, record_every=1),
    "OMD/Hedge (last iterate)": online_mirror_descent(
        rps, t_, eta=0.1, steps=600, init=start, record_every=1
    ),
    "Nash-MD, η_t = 2/(τ(t+2))": nash_md(rps, t_, steps=600, init=start, record_every=1),
}
for name, run in runs_rps.items():
    ax1.plot(*xy(run.history).T, lw=1.2, label=name)
    print(
        f"τ = {t_}: {name:26s} max|π_600 − π*_τ| = {np.abs(run.policy - solve(rps, t_).policy).max():.1e}"
    )
ax1.plot(*xy(solve(rps, t_).policy), "k*", ms=12, label="π*_τ")
ax1.set_title(f"every method at τ = {t_}", pad=18)
for ax in (ax0, ax1):
    ax.set_aspect("equal")
    ax.axis("off")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2)
plt.show()

# %% [markdown]
# **Exercise: predict, then check.** Self-play PG at τ = 0 circles the equilibrium with lr = 0.2. Predict: with
# a four times smaller step, lr = 0.05, does its last iterate converge to uniform in 600 steps? And Hedge's
# average iterate? Then check with `self_play_pg` and `online_mirror_descent`.

# %% tags=["solution"] jupyter={"source_hidden": true}
for lr in (0.2, 0.05):
    sp_lr = self_play_pg(rps, 0.0, steps=600, lr=lr, init=start, record_every=1)
    d = np.abs(sp_lr.history - 1 / 3).max(-1)
    print(
        f"self-play PG, lr = {lr}: max|π_t − uniform| at t = 0, 300, 600: {d[[0, 300, 600]].round(3)}"
    )
print(
    "Hedge average iterate after 600 steps: max|π̄ − uniform| =",
    np.abs(omd.extra["average"] - 1 / 3).max(),
)
# No: a smaller step only slows the circling (the distance still grows, 0.267 → 0.278); the last iterate of
# unregularised self-play never settles. Hedge's *average* is already ten times closer (0.03) and keeps closing
# in — a guarantee about the average, not about the policy you keep. τ > 0 (right panel above) is what makes
# the last iterate converge.

# %% [markdown]
# ## Convergence in duality gap
# The gap 2τ KL(π‖BR(π)) of the near-cyclic game along each run (log scale).

# %%
plt.figure(figsize=(6.4, 3.6))
for name, run in runs.items():
    plt.semilogy(
        run.steps, [max(duality_gap(game, p, tau), 1e-17) for p in run.history], label=name
    )
run = ipo_md(game, tau, 0.5, steps=300, init=init, record_every=1)
plt.semilogy(
    run.steps, [max(duality_gap(game, p, tau), 1e-17) for p in run.history], label="IPO-MD β = 0.5"
)
plt.xlabel("step")
plt.ylabel("duality gap at τ")
plt.legend(fontsize=8)
plt.show()

# %% [markdown]
# Online IPO (with the library's Jacobian-based step) converges linearly to π*_τ; Nash-MD with the theorem's
# schedule η_t = 2/(τ(t+2)) converges in last iterate at ≈ 1/T² in KL; IPO-MD with β > 0 and online DPO converge to
# other points — IPO-MD's to the policy whose mixture is π* at τ/(1−β), online DPO's to the root of its own
# stationarity condition — so their gap at τ stays positive.
#
# ## Takeaways
#
# * Online IPO and Nash-MD reach π*_τ in the last iterate; online DPO and IPO-MD with β > 0 stop elsewhere,
#   each at the root of its own stationarity condition (a positive gap at τ).
# * IPO-MD's β moves its target along a curve from π*_τ (β = 0) to offline IPO's μ exp(Pμ/τ)/Z (β = 1); its
#   mixture is exactly π* at the stronger regularisation τ/(1 − β).
# * Without regularisation (τ = 0) self-play PG and Hedge circle; only Hedge's average converges. Any τ > 0
#   makes the last iterate converge; Nash-MD's schedule adds a guarantee for any number of actions.
