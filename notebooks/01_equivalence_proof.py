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
# # Online IPO is Nash mirror descent — the equivalence proof, step by step
#
# Calandriello et al. (ICML 2024) show that online IPO and Nash-MD solve the same regularised
# preference game. This notebook reproduces each step numerically with `prefgame`; the proofs
# themselves are in [`paper_proofs/`](../paper_proofs/README.md), where every step has a test. It continues
# [00](00_preference_games.ipynb), which defines every term used here (P, μ, τ, BR, π*_τ, gap, sg(π), h, p,
# Nash-MD) on the near-cycle; section 0 checks the claims there again, then the proof runs on a 5-action
# game with a non-uniform μ so that nothing is symmetric.
#
# Theory: [`docs/theory.md`](../docs/theory.md) §2–§7 (step (1) is §2–§3, (2) §5, (3)–(4) §6, (5)–(6) §7, (7) §4).
# Notation: [`docs/notation.md`](../docs/notation.md) (τ is DPO's β; β alone is IPO-MD's mixture weight).
# Papers: online IPO / IPO-MD, Calandriello et al. [arXiv:2403.08635](https://arxiv.org/abs/2403.08635);
# NLHF / Nash-MD, Munos et al. [arXiv:2312.00886](https://arxiv.org/abs/2312.00886); IPO, Azar et al.
# [arXiv:2310.12036](https://arxiv.org/abs/2310.12036).
#
# Steps: (1) the regularised game and its unique equilibrium π*_τ; (2) the soft-label IPO loss is a
# shifted square; (3) Prop. 4.1 — online IPO stops only at π*_τ; (4) Prop. 4.2 — its expected gradient
# is −(4/τ) × the self-play gradient; (5) Prop. 5.1 — with β > 0 that proportionality breaks (corrected
# statement); (6) Prop. 5.2 — the IPO-MD mixture is π* at τ/(1−β); (7) Nash-MD converges in last iterate.
# Two exercises ask you to predict a number before a solution cell (collapsed in Jupyter) computes it; the
# takeaways close the notebook.

# %%
import matplotlib.pyplot as plt
import numpy as np

from prefgame import losses
from prefgame.dynamics import (
    expected_gradient,
    ipo_md,
    nash_md,
    nash_md_bound,
    nash_md_pg_gradient,
    online_ipo,
)
from prefgame.equilibrium import best_response, duality_gap, kl, solve
from prefgame.games import near_cyclic, random_intransitive, rock_paper_scissors

plt.rcParams["figure.figsize"] = (6.4, 3.6)
rng = np.random.default_rng(0)
game = random_intransitive(5, seed=3).with_mu(rng.dirichlet(np.ones(5)))
tau = 0.2
P, mu = game.P, game.mu

# %% [markdown]
# ## 0. Where notebook 00 stopped: the near-cycle at τ = 0.1
# π*_τ from `solve`, then online IPO and Nash-MD (η_t = 2/(τ(t+2))) from the same start: both end at π*_τ.

# %%
nc = near_cyclic()
star_nc = solve(nc, 0.1).policy
ipo_nc = online_ipo(nc, 0.1, steps=5000, tol=1e-12, init=[0.1, 0.8, 0.1])
md_nc = nash_md(nc, 0.1, steps=20000, init=[0.1, 0.8, 0.1])
print("pi*_tau =", np.round(star_nc, 6))
print(
    "online IPO: max|pi_T - pi*| =",
    np.abs(ipo_nc.policy - star_nc).max(),
    " after",
    ipo_nc.iterations,
    "steps",
)
print(
    "Nash-MD:    max|pi_T - pi*| =",
    np.abs(md_nc.policy - star_nc).max(),
    " after",
    md_nc.iterations,
    "steps",
)

# %% [markdown]
# ## 1. The regularised game has a unique equilibrium ([NLHF Prop. 1](https://arxiv.org/abs/2312.00886))
# π*_τ is the fixed point π = BR(π) = softmax(log μ + Pπ/τ); its duality gap 2τ KL(π‖BR(π)) is 0 there and
# positive everywhere else. Below: the gap along the segment from μ through π* (in logit space).

# %%
eq = solve(game, tau)
print("pi*      =", np.round(eq.policy, 4))
print("gap      =", eq.duality_gap, " residual =", eq.residual)
z_mu, z_star = np.log(mu), np.log(eq.policy)
ts = np.linspace(-0.5, 1.5, 81)
path = [np.exp(z_mu + t * (z_star - z_mu)) for t in ts]
path = [p / p.sum() for p in path]
gaps = [duality_gap(game, p, tau) for p in path]
plt.semilogy(ts, np.maximum(gaps, 1e-18))
plt.axvline(1, color="k", ls=":", label="π*")
plt.xlabel("t  (logits z_μ + t (z* − z_μ))")
plt.ylabel("duality gap")
plt.legend()
plt.title("gap vanishes only at π*")
plt.show()

# %% [markdown]
# ## 2. The soft-label IPO loss is a shifted square
# p (h − 1/2τ)² + (1 − p)(−h − 1/2τ)² = (h − (p − ½)/τ)² + const, so its minimiser is the margin (p − ½)/τ
# (`losses.ipo_soft_target`). Symbolic proof: `paper_proofs/ipo_optimum.md`.

# %%
h = np.linspace(-4, 4, 401)
for p in (0.5, 0.7, 0.9, 1.0):
    (line,) = plt.plot(h, losses.ipo_soft_loss(h, p, tau=0.5), label=f"p = {p}")
    plt.axvline(losses.ipo_soft_target(p, tau=0.5), color=line.get_color(), ls=":")
plt.xlabel("margin h")
plt.ylabel("soft IPO loss (τ = 0.5)")
plt.legend()
plt.title("minimiser at (p − ½)/τ")
plt.show()

# %% [markdown]
# ## 3. [Prop. 4.1](https://arxiv.org/abs/2403.08635) — online IPO's self-consistent minimiser is π*_τ
# With both samples from sg(π), the expected online-IPO gradient vanishes exactly at π*. Along the same
# segment as above it is zero only at t = 1.

# %%
gnorm = [
    np.abs(expected_gradient(np.log(p), P, np.log(mu), tau, loss="ipo", sampler="online")).max()
    for p in path
]
plt.semilogy(ts, np.maximum(gnorm, 1e-18))
plt.axvline(1, color="k", ls=":")
plt.xlabel("t")
plt.ylabel("‖∇L_online-IPO‖∞")
plt.title("expected online-IPO gradient")
plt.show()

# %% [markdown]
# Solving online IPO *exactly* each round is best-response iteration π ← BR(π). Its Jacobian at π* has
# spectral radius √3/(6τ) on rock–paper–scissors, so it cycles for τ < √3/6 ≈ 0.289 — small steps are needed.

# %%
rps = rock_paper_scissors()
for t_ in (0.2, 0.4):
    pi = np.array([0.36, 0.32, 0.32])
    dist = []
    for _ in range(40):
        pi = best_response(rps.P, pi, t_)
        dist.append(np.abs(pi - 1 / 3).max())
    plt.semilogy(dist, label=f"τ = {t_}")
plt.xlabel("round")
plt.ylabel("max |π − uniform|")
plt.legend()
plt.title("best-response iteration on RPS")
plt.show()

# %% [markdown]
# **Exercise: predict, then check.** The threshold is τ = √3/6 ≈ 0.289. Predict what 200 rounds of
# best-response iteration on RPS do at τ = 0.28 and at τ = 0.30: converge to uniform, or keep away from
# it — and for τ = 0.30, how close do they get (1e-2? 1e-5?)? Then check with `best_response`, and compare
# with the spectral radius √3/(6τ).

# %% tags=["solution"] jupyter={"source_hidden": true}
for t_ in (0.28, 0.30):
    pi = np.array([0.36, 0.32, 0.32])
    for _ in range(200):
        pi = best_response(rps.P, pi, t_)
    print(
        f"τ = {t_}: radius √3/(6τ) = {np.sqrt(3) / (6 * t_):.3f},"
        f"  max|π_200 − uniform| = {np.abs(pi - 1 / 3).max():.1e}"
    )
# τ = 0.28: radius 1.03 > 1, the iteration is pushed away and circles (still ~0.1 away after 200 rounds).
# τ = 0.30: radius 0.96 < 1, it converges, but slowly: 0.96²⁰⁰ ≈ 4e-4 of the start's error, ~1e-5.

# %% [markdown]
# ## 4. Prop. 4.2 — expected online-IPO gradient = −(4/τ) × self-play (Nash-MD-PG, β = 0) gradient
# At 200 random logits, every coordinate of ∇L_online-IPO against −(4/τ)·G₀ lies on the diagonal.

# %%
Z = rng.normal(scale=1.5, size=(200, 5))
g_ipo = expected_gradient(
    Z,
    np.broadcast_to(P, (200, 5, 5)),
    np.broadcast_to(np.log(mu), (200, 5)),
    tau,
    loss="ipo",
    sampler="online",
)
g_pg = nash_md_pg_gradient(
    Z, np.broadcast_to(P, (200, 5, 5)), np.broadcast_to(np.log(mu), (200, 5)), tau, 0.0
)
plt.figure(figsize=(4, 4))
plt.scatter((-4 / tau * g_pg).ravel(), g_ipo.ravel(), s=4)
lim = np.abs(g_ipo).max()
plt.plot([-lim, lim], [-lim, lim], "k:")
plt.xlabel("−(4/τ) · Nash-MD-PG(0) gradient")
plt.ylabel("online-IPO gradient")
plt.title("β = 0: identical")
plt.show()
print("max deviation:", np.abs(g_ipo + 4 / tau * g_pg).max())


# %% [markdown]
# ## 5. Prop. 5.1 (corrected) — with β > 0 the two gradients are *not* proportional
# IPO-MD samples from the mixture m ∝ π^{1−β} μ^β. For softmax policies E_{y∼m}[∇log π(y)] = m − π ≠ 0, so
# the constants that vanish at β = 0 survive. Exactly: ∇L_IPO-MD = 4 m ⊙ w and G_β = −τ(diag π − ππᵀ) w with the
# same residual w = u − E_m u − (P m − ½)/τ — same zero, different preconditioners. The cosine between
# −∇L_IPO-MD and G_β is below 1, and sometimes negative:


# %%
def cosines(beta):
    Pb, lmb = np.broadcast_to(P, (200, 5, 5)), np.broadcast_to(np.log(mu), (200, 5))
    a = -expected_gradient(Z, Pb, lmb, tau, loss="ipo", sampler="mixture", beta=beta)
    b = nash_md_pg_gradient(Z, Pb, lmb, tau, beta)
    return np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


for beta in (0.0, 0.125, 0.5, 0.9):
    c = cosines(beta)
    plt.hist(c, bins=40, range=(-1, 1), histtype="step", label=f"β = {beta}: min {c.min():.2f}")
plt.xlabel("cos(−∇L_IPO-MD, G_β)")
plt.ylabel("count")
plt.legend()
plt.title("IPO-MD vs Nash-MD-PG(β)")
plt.show()

# %% [markdown]
# ## 6. Prop. 5.2 — the IPO-MD mixture is the equilibrium at τ/(1−β)
# Run IPO-MD to convergence for several β; its sampling mixture matches `solve(game, τ/(1−β))`, while the
# policy itself is one best response away from it.

# %%
betas = [0.0, 0.125, 0.25, 0.5, 0.75, 0.9]
err_mix, err_pi, dist_tau = [], [], []
for beta in betas:
    run = ipo_md(game, tau, beta, steps=3000, tol=1e-12)
    m_star = solve(game, tau / (1 - beta)).policy
    err_mix.append(np.abs(run.extra["sampler_policy"] - m_star).max())
    err_pi.append(np.abs(run.policy - best_response(P, m_star, tau, mu)).max())
    dist_tau.append(np.abs(run.extra["sampler_policy"] - eq.policy).max())
plt.semilogy(betas, np.maximum(err_mix, 1e-17), "o-", label="|mixture − π*_{τ/(1−β)}|")
plt.semilogy(betas, np.maximum(err_pi, 1e-17), "s-", label="|π − BR_τ(π*_{τ/(1−β)})|")
plt.semilogy(betas, np.maximum(dist_tau, 1e-17), "^-", label="|mixture − π*_τ| (for contrast)")
plt.xlabel("β")
plt.legend(fontsize=8)
plt.title("IPO-MD fixed point")
plt.show()

# %% [markdown]
# **Exercise: predict, then check.** Run IPO-MD with β = 0.5 at τ = 0.2 on this game. Its sampling mixture
# ends at π*_τ′ for which τ′? Predict τ′, then check with `ipo_md` and `solve` (and check that the mixture is
# *not* π*_τ itself).

# %% tags=["solution"] jupyter={"source_hidden": true}
run_half = ipo_md(game, tau, 0.5, steps=3000, tol=1e-12)
m_half = run_half.extra["sampler_policy"]
print("τ′ = τ/(1 − β) =", tau / (1 - 0.5))
print("max|mixture − π*_{τ′}| =", np.abs(m_half - solve(game, tau / 0.5).policy).max())
print("max|mixture − π*_τ|    =", np.abs(m_half - eq.policy).max())
print(
    f"distance to μ: mixture {np.abs(m_half - mu).max():.3f}, π*_τ {np.abs(eq.policy - mu).max():.3f}"
)
# τ′ = 0.4, twice τ: mixing μ into the opponent with weight β acts as a *stronger* KL penalty,
# τ/(1 − β) > τ (Prop. 5.2), so the mixture sits nearer μ than π*_τ does.

# %% [markdown]
# ## 7. Nash-MD converges in last iterate
# With η_t = 2/(τ(t+2)), NLHF's theorem bounds KL(π*‖π_T) by 8/(τ²(T+1)); the proof in `paper_proofs/nash_md.md`
# sharpens the one-step constant from 2 to 1/8, i.e. a bound of 1/(2τ²(T+1)). Measured: ≈ 1/T².

# %%
run = nash_md(game, tau, steps=2000, record_every=1)
T = run.steps[1:]
K = kl(eq.policy, run.history[1:])
plt.loglog(T, K, label="KL(π*‖π_T)")
plt.loglog(T, nash_md_bound(tau, T), "--", label="NLHF bound 8/(τ²(T+1))")
plt.loglog(T, 1 / (2 * tau**2 * (T + 1)), ":", label="sharpened 1/(2τ²(T+1))")
plt.xlabel("T")
plt.legend()
plt.title("Nash-MD, η_t = 2/(τ(t+2))")
plt.show()
print("fitted slope:", np.polyfit(np.log(T[100:]), np.log(K[100:]), 1)[0])

# %% [markdown]
# ## Takeaways
#
# * π*_τ is the only policy with duality gap 0, and the only point where online IPO's expected gradient
#   vanishes (Prop. 4.1).
# * Solving the online-IPO loss *exactly* each round is best-response iteration, which cycles for small τ
#   (on RPS for τ < √3/6): online IPO works because it takes small steps.
# * With β = 0 the expected online-IPO gradient **is** −(4/τ) × the Nash-MD-PG self-play gradient
#   (Prop. 4.2): online IPO is a policy-gradient form of Nash mirror descent. With β > 0 the two share a zero
#   but not a direction (Prop. 5.1, corrected).
# * IPO-MD's mixture converges to π* at τ/(1 − β) (Prop. 5.2): β changes the target's temperature.
# * Nash-MD converges in last iterate, measured ≈ 1/T² in KL — faster than NLHF's 1/T bound.
