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
# # 07 · Test your own idea
#
# The researcher's path: your own preference matrix P → `solve` → your own loss or learner → `duality_gap`
# → the same comparison as the study's built-in learners → `prefgame study --matrix P.npy`. Symbols as in
# [`docs/notation.md`](../docs/notation.md) (τ is DPO's β; "β" alone is IPO-MD's mixture weight); the
# papers: online IPO [arXiv:2403.08635](https://arxiv.org/abs/2403.08635), NLHF
# [arXiv:2312.00886](https://arxiv.org/abs/2312.00886), IPO [arXiv:2310.12036](https://arxiv.org/abs/2310.12036).
#
# **The protocol for a custom loss.** A pairwise loss is an elementwise function `f(h, p, *, tau)` of the
# margin h = log π(y)/μ(y) − log π(y′)/μ(y′) and the soft label p = P(y ≻ y′).
# `preference_optimisation(game, tau, loss=f)` minimises E_{y, y′ ∼ sg(w)} f(h, p) with w the sampler
# (`"online"`: w = π; `"mixture"`: w ∝ π^{1−β}μ^β; `"offline"`: w = μ). It needs ∂f/∂h:
#
# * **numpy only** — pass it: `dloss=lambda h, p, tau: ...` (simple derivatives; no torch needed);
# * **torch autograd** — leave `dloss` out and write `f` with array-API operations (`+ − * /`, `**`, or
#   methods such as `.tanh()`), so the same function runs on torch tensors (needs the `llm` extra for torch).
#
# **Reading the result.** A learner's `converged` means *its update stopped*, not that it reached π*_τ.
# Where a custom loss's stationary point E_{y′∼w}[∂f/∂h(h(y, y′), P(y, y′))] = 0 (for every y) is not π*_τ,
# it stops at a positive duality gap — that gap *is* the answer to "does my loss find the Nash equilibrium?".
# A gap that is still shrinking when the step cap is hit means: not converged, give it more steps.

# %%
import matplotlib.pyplot as plt
import numpy as np

from prefgame.dynamics import nash_md, online_dpo, online_ipo, preference_optimisation, rlhf
from prefgame.equilibrium import duality_gap, solve
from prefgame.games import PreferenceGame, save_game
from prefgame.study import register_game, register_method, run_study

plt.rcParams["figure.figsize"] = (6.4, 3.8)

# %% [markdown]
# ## 1. Your own P
# Any n × n array with entries in [0, 1], P + Pᵀ = 1 and ½ on the diagonal; a file works too
# (`prefgame.games.load_game("P.npy")`, `.csv` or `.json`). A wrong entry is named in the error. Here: a
# 4-action game with a cycle a ≻ b ≻ c ≻ a and a fourth response d that beats a but loses to b and c,
# with a non-uniform reference policy μ.

# %%
P = np.array(
    [[0.5, 0.8, 0.3, 0.4], [0.2, 0.5, 0.7, 0.65], [0.7, 0.3, 0.5, 0.6], [0.6, 0.35, 0.4, 0.5]]
)
game = PreferenceGame(P, mu=[0.4, 0.3, 0.2, 0.1], name="mine", actions=("a", "b", "c", "d"))
bad = P.copy()
bad[1, 0] = 0.3
try:
    PreferenceGame(bad)
except ValueError as err:
    print("a wrong matrix is refused:", err)

# %% [markdown]
# ## 2. `solve`: the target π*_τ and its certificate

# %%
tau = 0.1
eq = solve(game, tau)
star = eq.policy
print("pi*_tau =", np.round(star, 6), " gap", eq.duality_gap, " converged", eq.converged)
print("von Neumann winner (tau = 0):", np.round(solve(game, 0).policy, 4))

# %% [markdown]
# ## 3. Your own loss
# Three examples.
#
# * **Squared win-probability** f = (σ(τh) − p)²: fits the preference probabilities as DPO does, with a
#   square. Its derivative is simple, so it comes with a numpy `dloss`.
# * **Cubed IPO** f = |h − (p − ½)/τ|³: the same per-pair minimiser as IPO, differentiated by torch autograd
#   (no `dloss`) where torch is installed (the `llm` extra); without torch it gets its numpy `dloss`
#   3 e|e|, e = h − (p − ½)/τ, so this notebook runs on the tabular core alone.
# * **Huber IPO** f = huber_δ(h − (p − ½)/τ): IPO's square near the target, linear beyond δ (robust to
#   outlying labels), with a numpy `dloss` = 2 clip(h − (p − ½)/τ, −δ, δ).


# %%
def sq_winprob(h, p, *, tau):
    s = 0.5 * (1.0 + np.tanh(0.5 * tau * h))
    return (s - p) ** 2


def sq_winprob_dh(h, p, tau):
    s = 0.5 * (1.0 + np.tanh(0.5 * tau * h))
    return 2.0 * (s - p) * tau * s * (1.0 - s)  # d/dh (σ(τh) − p)² = 2(σ − p) τ σ(1 − σ)


def cubed_ipo(h, p, *, tau):
    return abs(h - (p - 0.5) / tau) ** 3  # abs() and ** work on numpy and torch alike


def cubed_ipo_dh(h, p, tau):
    e = h - (p - 0.5) / tau
    return 3.0 * e * np.abs(e)


try:  # torch (the `llm` extra) differentiates a loss given without its dloss
    import torch  # noqa: F401

    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False


DELTA = 10.0


def huber_ipo(h, p, *, tau):
    e = np.abs(h - (p - 0.5) / tau)
    return np.where(e <= DELTA, e**2, 2 * DELTA * e - DELTA**2)


def huber_ipo_dh(h, p, tau):
    return 2.0 * np.clip(h - (p - 0.5) / tau, -DELTA, DELTA)


init = np.array([0.1, 0.2, 0.3, 0.4])
mine = {
    "sq_winprob (numpy dloss)": preference_optimisation(
        game,
        tau,
        loss=sq_winprob,
        dloss=sq_winprob_dh,
        init=init,
        steps=20_000,
        tol=1e-10,
        record_every=10,
    ),
    f"cubed_ipo ({'torch autograd' if HAVE_TORCH else 'numpy dloss'})": preference_optimisation(
        game,
        tau,
        loss=cubed_ipo,
        dloss=None if HAVE_TORCH else cubed_ipo_dh,
        lr=0.02,
        init=init,
        steps=3000,
        tol=1e-10,
        record_every=10,
    ),
    "huber_ipo (numpy dloss)": preference_optimisation(
        game,
        tau,
        loss=huber_ipo,
        dloss=huber_ipo_dh,
        init=init,
        steps=20_000,
        tol=1e-12,
        record_every=10,
    ),
}
u_star = np.log(star) - np.log(game.mu)
e_star = u_star[:, None] - u_star[None, :] - (P - 0.5) / tau
print(
    f"at π*_τ the largest |h − (p − ½)/τ| is {np.abs(e_star).max():.2f} < δ = {DELTA}: Huber IPO is IPO there"
)

# %% [markdown]
# ## 4. `duality_gap`, against the built-in learners, all at the same τ and from the same start

# %%
builtin = {
    "online IPO": online_ipo(game, tau, init=init, steps=20_000, tol=1e-12, record_every=10),
    "Nash-MD": nash_md(game, tau, init=init, steps=20_000, record_every=10),
    "online DPO": online_dpo(game, tau, init=init, steps=20_000, tol=1e-11, record_every=10),
    "RLHF (Bradley–Terry)": rlhf(game, tau, init=init, steps=20_000, tol=1e-12, record_every=10),
}
fig, ax = plt.subplots()
print(f"{'learner':28s} {'steps':>6s} {'stopped':>8s} {'gap':>10s} {'max|π−π*|':>10s}")
for label, run in {**builtin, **mine}.items():
    gaps = [duality_gap(game, pi, tau) for pi in run.history]
    ax.semilogy(run.steps, np.maximum(gaps, 1e-30), "--" if label in mine else "-", label=label)
    print(
        f"{label:28s} {run.iterations:6d} {run.converged!s:>8s} {run.duality_gap(game):10.2e} "
        f"{np.abs(run.policy - star).max():10.2e}"
    )
ax.set_xlabel("step")
ax.set_ylabel(f"duality gap at τ = {tau}")
ax.set_xlim(0, 3000)
ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
ax.set_title("only losses whose stationary point is π*_τ reach gap 0")
plt.show()

# %% [markdown]
# Read the table: "stopped" is each learner's own stopping test. Two custom losses (like online DPO and RLHF) stop at a positive gap — their
# stationary point is not π*_τ. For the squared win-probability loss that is no surprise (it is DPO-like).
# For **cubed IPO** it is the lesson: having IPO's minimiser *pair by pair* is not enough. At π*_τ the pairs'
# residuals h − (p − ½)/τ are not zero (n² pairs, n − 1 free logits); only their π-weighted *average* is, and
# that average condition is what a loss with ∂f/∂h linear in h (IPO) keeps. **Huber IPO** is exactly linear
# wherever the residuals stay below δ, so it reaches π*_τ to machine precision.

# %% [markdown]
# ## 5. Into the study: one call each, then `prefgame study`
# `register_method(name, learner)` adds a learner `learner(game, tau, init, steps) -> Trajectory` to every
# part of the study; `register_game(name, game)` adds a game. `run_study` then compares it with every
# built-in learner in `report.md`. From the shell, `prefgame study --matrix P.npy --tau 0.1` studies your
# matrix with the built-in learners (the file's stem names it).

# %%
import tempfile
from pathlib import Path

register_game("mine", game, replace=True)
register_method(
    "sq_winprob",
    lambda g, t, i, s: preference_optimisation(
        g, t, loss=sq_winprob, dloss=sq_winprob_dh, init=i, steps=s, tol=1e-10
    ),
    replace=True,
)
with tempfile.TemporaryDirectory() as tmp:
    report = run_study(tmp, taus=[tau], games=["mine"], figures=False, progress=False)
    text = Path(report).read_text()
    save_game(game, Path(tmp) / "mine.json")  # the same game as a file, for the CLI
print(
    "\n".join(
        line
        for line in text.splitlines()
        if line.startswith(("| sq_winprob", "| online_ipo", "| method"))
    )
)
