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
# # The algorithms that followed the paper, on exact games
#
# Magnetic mirror descent (MMD), optimistic MWU (OMWU), extragradient (EGPO), INPO, SPPO, DNO and SPO, each run
# in its exact-expectation tabular form (`prefgame.dynamics`, derivations in `docs/algorithms.md`) on games whose
# equilibria are known to machine precision. Three questions: which equilibrium does each one reach, in the last
# or the average iterate, and how fast? The same measurements, on every built-in game, are in the report of
# `prefgame study`; the theory checks are in `paper_proofs/check_{mmd,omwu,extragradient,inpo,sppo_dno,spo}.py`.
#
# Notation: [`docs/notation.md`](../docs/notation.md) (τ is DPO's β; β alone is IPO-MD's mixture weight); papers
# with arXiv links there and in [`docs/algorithms.md`](../docs/algorithms.md).

# %%
import matplotlib.pyplot as plt
import numpy as np

from prefgame.dynamics import LEARNERS, dno, inpo, mmd, sppo
from prefgame.equilibrium import duality_gap, kl, solve
from prefgame.equivalence import learner_entry
from prefgame.figures import plot_learner_curves
from prefgame.games import random_intransitive, rock_paper_scissors

game = random_intransitive(8, seed=3).with_mu(np.arange(1, 9) / 36)  # intransitive, non-uniform μ
init = np.full(8, 1 / 8)
for name, spec in LEARNERS.items():
    print(
        f"{name:14s} target {'pi*_tau' if spec.regularised else 'tau=0 LP':9s} {spec.guarantee:8s} iterate  "
        f"{spec.rate}"
    )

# %% [markdown]
# ## Distance to the target against steps
# `learner_entry` runs one learner until the iterate its theory promises is within 1e-8 of its target (π*_τ for
# the four regularised learners; the τ = 0 LP solution for SPPO, DNO and SPO, which have no KL to μ), and records
# the max-abs distance of both the last and the average iterate. Solid lines: last iterate; dashed: average.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
rows = []
for ax, tau in zip(axes, (0.1, 1.0)):
    star = solve(game, tau).policy
    entries = {
        m: learner_entry(
            game,
            tau,
            m,
            star=star,
            init=init,
            max_steps=10_000,
            curve=True,
            check_every=1 if LEARNERS[m].guarantee == "last" else 10,
        )
        for m in LEARNERS
    }
    plot_learner_curves(ax, entries, f"random 8-action game, non-uniform μ, τ = {tau:g}")
    for m, e in entries.items():
        rows.append(
            (
                tau,
                m,
                e["steps_to_target"]["last"],
                e["target_max_abs_diff"],
                e["average_max_abs_diff"],
                e["fitted_rate"],
                e.get("claimed_kl_factor"),
            )
        )
axes[0].legend(fontsize=7)
fig.tight_layout()
print(
    f"{'tau':>4s} {'learner':14s} {'steps(last)':>11s} {'last dist':>10s} {'avg dist':>10s} {'fit':>8s} {'claim':>7s}"
)
for tau, m, s, dl, da, r, c in rows:
    fit = "-" if r is None else (f"{r * r:.4f}" if c is not None else f"{r:.3f}")
    print(
        f"{tau:4g} {m:14s} {s if s is not None else '-':>11} {dl:10.2e} {da:10.2e} {fit:>8s} "
        f"{'-' if c is None else f'{c:.4f}':>7s}"
    )

# %% [markdown]
# The four regularised learners reach π*_τ in the last iterate at a linear rate; `fit` is ρ², the squared fitted
# contraction factor of the distance, which is the factor on KL(π*‖π_t) and sits below each theorem's `claim`.
# Their *average* iterates lag (a geometric sequence's mean converges only like 1/T). SPPO, DNO and SPO do the
# opposite: their last iterates stay far from the unregularised winner while the average closes in like T^{−1/2}
# (`fit` here is the power-law exponent).
#
# ## Same maps under different names
# INPO's update is MMD's with the step η′ = η/(1 + ητ); DNO's is SPPO's with η ↔ 1/η (`docs/algorithms.md` §4–§5).

# %%
tau = 0.3
a = mmd(game, tau, eta=2.0, steps=50, init=init, record_every=1)
b = inpo(game, tau, eta=2.0 / (1 + 2.0 * tau), steps=50, init=init, record_every=1)
c, d = (
    sppo(game, eta=0.25, steps=50, init=init, record_every=1),
    dno(game, eta=4.0, steps=50, init=init, record_every=1),
)
print("max |MMD(2) − INPO(2/(1+2τ))| over 50 iterates:", np.abs(a.history - b.history).max())
print("max |SPPO(0.25) − DNO(4)|      over 50 iterates:", np.abs(c.history - d.history).max())

# %% [markdown]
# ## Where the guarantees stop
# Rock–paper–scissors, uniform winner. Hedge self-play (SPPO/DNO) drifts *away* from it — KL(π*‖π_t) grows at every
# step — while its average converges. MMD beyond its step condition η ≤ τ/L² (here η = 10⁴, essentially best-response
# iteration) cycles at τ = 0.1 instead of converging.

# %%
rps = rock_paper_scissors()
start = np.array([0.5, 0.3, 0.2])
u = np.full(3, 1 / 3)
h = sppo(rps, eta=0.1, steps=3000, init=start, record_every=1)
big = mmd(rps, 0.1, eta=1e4, steps=300, init=start, record_every=1)
good = mmd(rps, 0.1, steps=300, init=start, record_every=1)
fig, (l, r) = plt.subplots(1, 2, figsize=(11, 3.8))
l.semilogy(h.steps, kl(u, h.history), label="SPPO/DNO last iterate: KL(π*‖π_t)")
avg = np.cumsum(h.history[:-1], axis=0) / np.arange(1, len(h.history))[:, None]
l.semilogy(h.steps[1:], [duality_gap(rps, p, 0.0) for p in avg], label="its average: τ = 0 gap")
l.set_xlabel("step")
l.legend(fontsize=8)
l.set_title("Hedge self-play on rock–paper–scissors", fontsize=9)
r.semilogy(
    big.steps,
    np.maximum(np.abs(big.history - u).max(-1), 1e-17),
    label="MMD, η = 10⁴ (beyond τ/L²)",
)
r.semilogy(good.steps, np.maximum(np.abs(good.history - u).max(-1), 1e-17), label="MMD, η = τ/L²")
r.set_xlabel("step")
r.set_ylabel("max |π_t − π*_τ|")
r.legend(fontsize=8)
r.set_title("MMD at τ = 0.1: the step condition matters", fontsize=9)
fig.tight_layout()
