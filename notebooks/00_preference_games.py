# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · Preference games, from rock–paper–scissors to online IPO
#
# The first notebook of the learning path 00 → 01 → 02 → 03. It assumes basic game theory (a mixed
# strategy, a zero-sum game, a Nash equilibrium) and defines everything else before using it. Every
# symbol is also in the notation table, [`docs/notation.md`](../docs/notation.md), with links to the
# papers: NLHF (Munos et al., [arXiv:2312.00886](https://arxiv.org/abs/2312.00886)), IPO (Azar et al.,
# [arXiv:2310.12036](https://arxiv.org/abs/2310.12036)) and online IPO / IPO-MD (Calandriello et al.,
# [arXiv:2403.08635](https://arxiv.org/abs/2403.08635)).
#
# Steps: (1) a preference matrix P, on rock–paper–scissors; (2) why no Bradley–Terry reward can express a
# cycle; (3) the von Neumann winner (τ = 0), by linear programming; (4) adding a KL penalty gives a unique
# equilibrium π*_τ, a fixed point; (5) one Nash-MD step drawn on the simplex; (6) the online-IPO gradient,
# which vanishes exactly at π*_τ. From step 2 on, everything happens on **one 3-action game**, the
# near-cycle, which notebooks 01 and 03 continue with. Every number below comes from `prefgame`.
#
# **Exercises.** Each asks you to *predict* something before you run anything. Write your prediction
# down, then run the solution cell under it (in Jupyter it is collapsed: click it to reveal the code).
# The notebook ends with its takeaways.

# %%
import matplotlib.pyplot as plt
import numpy as np

from prefgame.dynamics import (
    expected_gradient,
    fit_bradley_terry,
    nash_md,
    nash_md_step,
    online_ipo,
    rlhf_policy,
)
from prefgame.equilibrium import best_response, duality_gap, kl, solve
from prefgame.figures import simplex_axes, simplex_zoom, to_simplex
from prefgame.games import bradley_terry, near_cyclic, rock_paper_scissors
from prefgame.losses import ipo_soft_loss, ipo_soft_target
from prefgame.policies import geometric_mixture, softmax

plt.rcParams["figure.figsize"] = (5.0, 4.4)
# The figures draw policies on 3 actions as points of a triangle: to_simplex(π) is the point,
# simplex_axes(ax, labels) the triangle with its corners y1, y2, y3 (both from prefgame.figures).


# %% [markdown]
# ## 1. A preference matrix
# There are n responses (actions) y. A **policy** π is a probability vector over them — a point of the
# simplex, drawn below as a triangle for n = 3. The **preference matrix** P holds P[y, y'] = P(y ≻ y'), the
# probability that a rater prefers y to y'. It satisfies P + Pᵀ = 1 (one of the two wins) and diag P = ½.
# Two policies compare by P(π ≻ π') = Σ π(y) P(y ≻ y') π'(y') = πᵀPπ'; in particular P(π ≻ π) = ½.
#
# Rock–paper–scissors as a preference matrix (rows: y, columns: y'):

# %%
rps = rock_paper_scissors()
print(rps.actions)
print(rps.P)
uniform = np.full(3, 1 / 3)
print("P(uniform ≻ uniform) =", uniform @ rps.P @ uniform)

# %% [markdown]
# ## 2. No Bradley–Terry reward expresses a cycle
# RLHF assumes a **Bradley–Terry** model: a reward r(y) with P(y ≻ y') = σ(r(y) − r(y')), σ the logistic
# function. Then the log-odds log P/(1 − P) of y ≻ y' is r(y) − r(y'), and around any cycle a ≻ b ≻ c ≻ a
# these differences sum to **zero**. So a Bradley–Terry P is transitive: it ranks the actions by r.
#
# Rock–paper–scissors has log-odds +∞ on every edge of its cycle: no finite reward fits it, and the
# maximum-likelihood reward (`fit_bradley_terry`) is flat — RLHF sees three ties.
#
# From here on we use the **near-cycle** (`near_cyclic`): y1 ≻ y2 w.p. 0.9, y2 ≻ y3 w.p. 0.8,
# y3 ≻ y1 w.p. 0.7. Its cycle log-odds sum to 4.43, not 0, so no reward reproduces it either; the best
# Bradley–Terry fit gets every pairwise probability wrong.

# %%
print("RPS: fitted Bradley–Terry reward r =", fit_bradley_terry(rps))

game = near_cyclic()
P = game.P
cycle = [(0, 1), (1, 2), (2, 0)]
print(
    "near-cycle: sum of log-odds around the cycle =",
    sum(np.log(P[i, j] / P[j, i]) for i, j in cycle),
)

r = fit_bradley_terry(game)
P_bt = bradley_terry(r).P
print("fitted reward r =", np.round(r, 4))
print("true P(y1≻y2), P(y2≻y3), P(y3≻y1):   ", [float(P[i, j]) for i, j in cycle])
print("Bradley–Terry's P on the same pairs: ", [round(float(P_bt[i, j]), 3) for i, j in cycle])
# A Bradley–Terry matrix has zero cycle log-odds, whatever r is:
print("Bradley–Terry cycle log-odds:", sum(np.log(P_bt[i, j] / P_bt[j, i]) for i, j in cycle))

# %% [markdown]
# ## 3. The von Neumann winner (τ = 0)
# With preferences and no reward, the natural target is a policy that no other policy beats: the
# **von Neumann winner**, π with P(π ≻ y') ≥ ½ for every y'. It is a Nash equilibrium of the symmetric
# zero-sum game with payoff P(π ≻ π') − ½. How exploitable a policy is measures how far it is from one —
# the **duality gap** at τ = 0:
#
#     gap₀(π) = 2 max_y P(y ≻ π) − 1  ≥ 0,   zero exactly at a von Neumann winner.
#
# It is a linear program (maximise v subject to Pᵀπ ≥ v, π in the simplex), which `solve(game, 0)` hands
# to HiGHS. For RPS it is the uniform policy; for the near-cycle it is (1/3, 2/9, 4/9).

# %%
print(
    "RPS:        winner",
    np.round(solve(rps, 0).policy, 4),
    " gap of 'always rock':",
    duality_gap(rps, [1, 0, 0], 0),
)
vn = solve(game, 0)
print("near-cycle: winner", np.round(vn.policy, 4), " gap", vn.duality_gap)
print("near-cycle: P(winner ≻ y') for each y' =", vn.policy @ P)
print("near-cycle: gap of the uniform policy =", duality_gap(game, uniform, 0))

# %% [markdown]
# **Exercise: predict, then check.** Take the Bradley–Terry game with rewards r = (0, 1, 2),
# `bradley_terry([0, 1, 2])`. Predict (a) the sum of its log-odds around the cycle y1 → y2 → y3 → y1 and
# (b) its von Neumann winner. Then check with `bradley_terry` and `solve(·, 0)` in the solution cell.

# %% tags=["solution"] jupyter={"source_hidden": true}
bt = bradley_terry([0.0, 1.0, 2.0])
print("(a) cycle log-odds:", sum(np.log(bt.P[i, j] / bt.P[j, i]) for i, j in cycle))
print("(b) von Neumann winner:", np.round(solve(bt, 0).policy, 6), " gap", solve(bt, 0).duality_gap)
# (a) 0, as for every Bradley–Terry matrix: (1 − 0) + (2 − 1) + (0 − 2). (b) all mass on y3, the
# largest reward: with a transitive P the winner is the top-ranked action, a pure policy.

# %% [markdown]
# ## 4. Adding a KL penalty: the regularised equilibrium π*_τ
# In practice the policy must stay near a **reference policy** μ (the supervised model; here uniform).
# NLHF's **regularised game** with strength **τ > 0** scores π against π' by
#
#     P_τ(π ≻ π') = πᵀPπ' − τ KL(π‖μ) + τ KL(π'‖μ).
#
# (τ is DPO's β and NLHF's τ — see the notation table.) Against a fixed opponent π, the best reply is
# the **best response** BR(π) = softmax(log μ + Pπ/τ) (the maximiser of π'ᵀPπ − τ KL(π'‖μ)), and the game
# has a **unique** equilibrium π*_τ, the fixed point π*_τ = BR(π*_τ). The duality gap becomes
# gap(π) = 2τ KL(π ‖ BR(π)): zero only at π*_τ. `solve` finds π*_τ by Newton's method and certifies it.

# %%
tau = 0.1
mu = game.mu
eq = solve(game, tau)
star = eq.policy
print("pi*_tau     =", np.round(star, 6), " (tau = 0.1)")
print("BR(pi*_tau) =", np.round(best_response(P, star, tau, mu), 6))
print(
    "gap(pi*_tau) =",
    eq.duality_gap,
    "   gap(mu) =",
    duality_gap(game, mu, tau),
    "   gap(von Neumann winner) =",
    duality_gap(game, vn.policy, tau),
)

# %% [markdown]
# As τ grows, π*_τ moves to μ (the penalty dominates); as τ → 0 it moves to the von Neumann winner. Below
# is that **τ-path**, each point a certified `solve`.

# %%
taus = np.geomspace(1e-3, 10, 60)
path = np.array([solve(game, t).policy for t in taus])
fig, ax = plt.subplots()
simplex_axes(ax, game.actions, title="the τ-path of π*_τ (zoomed; the inset shows where)")
sc = ax.scatter(*to_simplex(path).T, c=np.log10(taus), cmap="viridis", s=14)
ax.plot(*to_simplex(mu), "s", color="tab:gray", ms=9, label="μ (τ → ∞)")
ax.plot(*to_simplex(vn.policy), "D", color="tab:red", ms=8, label="von Neumann winner (τ = 0)")
ax.plot(*to_simplex(star), "k*", ms=14, label="π*_τ, τ = 0.1")
fig.colorbar(sc, ax=ax, shrink=0.7, label="log₁₀ τ")
inset = simplex_zoom(ax, (0.3, 0.7), (0.15, 0.45), game.actions, bounds=(0.0, 0.0, 0.32, 0.36))
inset.plot(*to_simplex(path).T, color="tab:green", lw=1.5)
ax.legend(loc="upper center", fontsize=8, ncol=2, bbox_to_anchor=(0.5, 0.0))
plt.show()

# %% [markdown]
# **Exercise: predict, then check.** Predict π*_τ at τ = 100 and at τ = 0.001: which of μ and the von
# Neumann winner is each one close to, and how close (to 1e-1, 1e-2, …)? Then check with `solve`.

# %% tags=["solution"] jupyter={"source_hidden": true}
for t in (100.0, 1e-3):
    p_t = solve(game, t).policy
    print(
        f"τ = {t:g}: π*_τ = {np.round(p_t, 4)};  max|π*_τ − μ| = {np.abs(p_t - mu).max():.1e},"
        f"  max|π*_τ − winner| = {np.abs(p_t - vn.policy).max():.1e}"
    )
# τ = 100: 2e-4 from μ (the KL penalty dominates: π*_τ − μ shrinks like 1/τ).
# τ = 0.001: 8e-4 from the von Neumann winner (the τ → 0 end of the path).

# %% [markdown]
# Iterating the best response itself, π ← BR(π), is *not* a way to find π*_τ on a cycle: for small τ it
# overshoots and circles (notebook 01 computes exactly when). The learners below take small steps instead.

# %%
pi, dist = mu.copy(), []
for _ in range(30):
    pi = best_response(P, pi, tau, mu)
    dist.append(np.abs(pi - star).max())
print("best-response iteration, max|π − π*_τ| after 10, 20, 30 rounds:", np.round(dist[9::10], 3))

# %% [markdown]
# ## 5. One Nash-MD step, drawn on the simplex
# **Nash-MD** (NLHF §5; [`docs/theory.md`](../docs/theory.md) §4) is mirror descent with step size **η**. From π_t it does two things:
#
# 1. the **geometric mixture** π_t^μ ∝ π_t^{1−ητ} μ^{ητ} — the opponent, pulled toward μ (a point on the
#    curve from π_t to μ; ητ ∈ (0, 1] is how far);
# 2. the **softmax step** π_{t+1} ∝ π_t^μ exp(η P π_t^μ) — move every action's log-probability by η times
#    its win rate P(y ≻ π_t^μ) against that opponent.
#
# Below: one step with a large η (ητ = 0.5) so that it is visible; `nash_md_step` does both parts.

# %%
eta = 5.0
pi_t = np.array([0.1, 0.8, 0.1])
lam = np.linspace(0, 1, 50)[:, None]
curve = np.array([geometric_mixture(pi_t, mu, b) for b in lam[:, 0]])  # π_t^{1−b} μ^b, b ∈ [0, 1]
mix = geometric_mixture(pi_t, mu, eta * tau)  # step 1
pi_next = softmax(np.log(mix) + eta * P @ mix)  # step 2
lib = np.exp(nash_md_step(np.log(pi_t)[None], P[None], np.log(mu)[None], tau, eta)[0])
print(
    "mixture π_t^μ =",
    np.round(mix, 4),
    "  π_{t+1} =",
    np.round(pi_next, 4),
    "  max|by hand − nash_md_step| =",
    np.abs(pi_next - lib).max(),
)

fig, ax = plt.subplots()
simplex_axes(
    ax, game.actions, title=f"one Nash-MD step (τ = {tau}, η = {eta:g}, ητ = {eta * tau:g})"
)
ax.plot(*to_simplex(curve).T, ":", color="tab:gray", label="π_t^{1−b} μ^b, b from 0 to 1")
ax.annotate(
    "",
    to_simplex(mix),
    to_simplex(pi_t),
    arrowprops={"arrowstyle": "->", "color": "tab:purple", "lw": 2},
)
ax.annotate(
    "",
    to_simplex(pi_next),
    to_simplex(mix),
    arrowprops={"arrowstyle": "->", "color": "tab:orange", "lw": 2},
)
for p, m, col, lab in [
    (pi_t, "o", "tab:blue", "π_t"),
    (mu, "s", "tab:gray", "μ"),
    (mix, "^", "tab:purple", "π_t^μ, after 1. the mixture (purple)"),
    (pi_next, "v", "tab:orange", "π_{t+1}, after 2. the softmax step (orange)"),
]:
    ax.plot(*to_simplex(p), m, color=col, ms=9, label=lab)
ax.plot(*to_simplex(star), "k*", ms=14, label="π*_τ")
ax.legend(loc="upper center", fontsize=8, ncol=2, bbox_to_anchor=(0.5, 0.0))
plt.show()

# %% [markdown]
# Repeating the step gives iterates π_0, π_1, …, π_T. Two kinds of convergence matter in games. Many
# classical guarantees are about the **average iterate** (π_1 + … + π_T)/T. The **last iterate** is π_T
# itself — the policy you keep (a trained model *is* its last iterate). On a cycle the average can converge
# while the last iterate keeps circling (notebook 03 shows Hedge doing exactly that).
#
# With NLHF's schedule η_t = 2/(τ(t + 2)), Nash-MD converges to π*_τ in the **last iterate**: NLHF's
# theorem bounds KL(π*_τ‖π_T) by 8/(τ²(T + 1)), whatever the number of actions.

# %%
run_md = nash_md(game, tau, steps=2000, init=pi_t, record_every=1)
K = kl(star, run_md.history)
print("KL(π*_τ‖π_T) at T = 10, 100, 1000, 2000:", [f"{K[t]:.2e}" for t in (10, 100, 1000, 2000)])
print("bound 8/(τ²(T+1)) at T = 2000:", 8 / (tau**2 * 2001))

# %% [markdown]
# ## 6. The online-IPO gradient
# Online IPO (Calandriello et al. §4; [`docs/theory.md`](../docs/theory.md) §6) trains π by a pairwise loss on pairs sampled from the current policy.
# The pieces, each defined:
#
# * **sg(π)**, stop-gradient: the pairs y, y' are drawn from the current π, but the sampling distribution is
#   treated as a constant when differentiating;
# * the **log-ratio** u(y) = log π(y) − log μ(y) and the **margin** h(y, y') = u(y) − u(y');
# * the **soft label** p = P(y ≻ y') (the rater's probability, instead of a 0/1 winner);
# * the soft IPO loss p (h − 1/2τ)² + (1 − p)(−h − 1/2τ)² = (h − (p − ½)/τ)² + const, minimised at
#   h = (p − ½)/τ (`ipo_soft_target`).

# %%
h = np.linspace(-8, 8, 5)
print("soft IPO loss at p = 0.8, τ = 0.1, h =", h, ":", np.round(ipo_soft_loss(h, 0.8, tau=tau), 2))
print("its minimiser (p − ½)/τ =", ipo_soft_target(0.8, tau=tau))

# %% [markdown]
# The expected loss over y, y' ∼ sg(π) has gradient (in the logits z of π = softmax z) proportional, action
# by action, to π(y) · d(y) with
#
#     d(y) = 2 [u(y) − E_π u − (P(y ≻ π) − ½)/τ].
#
# d = 0 says log π = log μ + Pπ/τ + const, i.e. π = BR(π): **the only stationary point is π*_τ**
# (Calandriello et al. Prop. 4.1). Check: the gradient from `expected_gradient` against the formula, and its
# size at π*_τ, at μ and at π_t.


# %%
def ipo_grad(pi):
    return expected_gradient(
        np.log(pi)[None], P[None], np.log(mu)[None], tau, loss="ipo", sampler="online"
    )[0]


def d_formula(pi):
    u = np.log(pi) - np.log(mu)
    return 2 * (u - pi @ u - (P @ pi - 0.5) / tau)


for name, pi in [("π*_τ", star), ("μ", mu), ("π_t", pi_t)]:
    g = ipo_grad(pi)
    print(
        f"at {name:5s} ‖∇L‖∞ = {np.abs(g).max():.2e};  ∇L − 2π·d (π·d centred) = "
        f"{np.abs(g - 2 * (pi * d_formula(pi) - pi * (pi * d_formula(pi)).sum())).max():.1e}"
    )

# %% [markdown]
# **Exercise: predict, then check.** The von Neumann winner beats every action; is it a stationary point
# of online IPO at τ = 0.1 — is ‖∇L‖∞ there zero, tiny (1e-8) or of the order of the value at μ? Predict,
# then check with `ipo_grad` and `duality_gap`.

# %% tags=["solution"] jupyter={"source_hidden": true}
g_vn = ipo_grad(vn.policy)
print(f"at the von Neumann winner: ‖∇L‖∞ = {np.abs(g_vn).max():.2e}")
print(f"at μ:                      ‖∇L‖∞ = {np.abs(ipo_grad(mu)).max():.2e}")
print("gap at τ = 0.1 of the winner:", duality_gap(game, vn.policy, tau))
# Not stationary: the gradient there is of the same order as at μ. Online IPO's only stationary point
# is π*_τ, and at τ > 0 the winner is not π*_τ (it ignores the KL penalty to μ).

# %% [markdown]
# Two more terms before the last figure.
#
# * **Natural step.** A plain gradient step on the logits z moves action y by lr · π(y) d(y), so rare
#   actions barely move. The *natural* step divides the gradient by π(y) (preconditioning by the sampling
#   distribution — the Fisher metric of the softmax): z(y) ← z(y) − lr · d(y), every action's
#   log-probability moving by its own d(y). Same fixed points, much faster; `online_ipo` takes it by
#   default (`precondition=False` gives the plain gradient).
# * **Nash-MD-PG self-play gradient.** Nash-MD-PG (NLHF §7) does Nash-MD by policy gradient: it ascends
#   π ↦ P(π ≻ π′) − τ KL(π‖μ) with the opponent π′ held fixed (no gradient through it). With mixture
#   parameter β = 0 the opponent is the current policy itself — **self-play** — and the gradient at π_θ is
#   G(θ) = E_{y∼π_θ}[∇_θ log π_θ(y) (P(y ≻ π_θ) − ½ − τ u_θ(y))].
#
# Following −d with natural steps (`online_ipo`) and running Nash-MD from the same π_t: both end at π*_τ.
# That they share a fixed point is no accident — notebook 01 shows that online IPO's expected gradient *is*
# the Nash-MD-PG self-play gradient G up to the factor −4/τ (Prop. 4.2), the heart of "online IPO is Nash
# mirror descent".

# %%
run_ipo = online_ipo(game, tau, steps=5000, tol=1e-12, init=pi_t, record_every=1)
fig, ax = plt.subplots()
simplex_axes(ax, game.actions, title=f"from π_t to π*_τ (τ = {tau})")
ax.plot(*to_simplex(run_md.history).T, "-", color="tab:orange", label="Nash-MD, η_t = 2/(τ(t+2))")
ax.plot(*to_simplex(run_ipo.history).T, "--", color="tab:green", label="online IPO (natural step)")
ax.plot(*to_simplex(pi_t), "o", color="tab:blue", ms=9, label="start π_t")
ax.plot(*to_simplex(star), "k*", ms=14, label="π*_τ (solve)")
ax.legend(loc="upper center", fontsize=8, ncol=2, bbox_to_anchor=(0.5, 0.0))
plt.show()
print(
    "online IPO: steps",
    run_ipo.iterations,
    " max|π_T − π*_τ| =",
    np.abs(run_ipo.policy - star).max(),
    " gap",
    duality_gap(game, run_ipo.policy, tau),
)
print(
    "Nash-MD:    steps",
    run_md.iterations,
    " max|π_T − π*_τ| =",
    np.abs(run_md.policy - star).max(),
    " gap",
    duality_gap(game, run_md.policy, tau),
)
print(
    "RLHF with the fitted reward, μ exp(r/τ)/Z:",
    np.round(rlhf_policy(game, tau), 4),
    " gap",
    duality_gap(game, rlhf_policy(game, tau), tau),
)

# %% [markdown]
# ## Takeaways
#
# * A preference matrix P can hold a cycle that no Bradley–Terry reward expresses: fitting a reward (RLHF)
#   answers a different question from the game P poses.
# * Without a reward, the target is the **von Neumann winner** (τ = 0, a linear program); with a KL penalty
#   to μ, the unique **regularised equilibrium** π*_τ = BR(π*_τ), certified by a duality gap of 0.
# * τ moves π*_τ along a path from the winner (τ → 0) to μ (τ → ∞).
# * **Nash-MD** (a geometric mixture, then a softmax step) and **online IPO** (a square loss on pairs from
#   the current policy) both reach π*_τ in the last iterate; online IPO's only stationary point is π*_τ.
#
# **Where next.** [01](01_equivalence_proof.ipynb) proves the equivalence step by step (starting on this
# near-cycle, then on a 5-action game with a non-uniform μ); [02](02_intransitive_preferences.ipynb)
# compares RLHF with the Nash solution on cyclic games; [03](03_dynamics_tour.ipynb) tours every learner on
# this same near-cycle at τ = 0.1.
