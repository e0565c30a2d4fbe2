"""A small mutation check of the losses, the trainer's loss / sampling / checkpoint code and
the sampler: each mutant is one plausible bug, applied to a copy of the repository; the tests
that should notice it run there; a mutant is *killed* when they fail.

    python tools/mutants.py              # all mutants (make mutants)
    python tools/mutants.py -k kl        # only those whose name contains "kl"
    python tools/mutants.py --list

Prints one line per mutant (killed / SURVIVED / not applied) and a summary; the exit status is
1 when a mutant survives that is not listed as equivalent.

By default every mutant's tests run in this one process (``pytest.main``): torch, transformers
and accelerate are imported once and only ``prefgame`` and the test modules are re-imported
from the mutated copy, so a mutant costs its tests, not the imports.  ``--fresh-process`` runs
each mutant in its own ``pytest`` process instead (with a timeout).  Run it niced on a shared
machine: ``nice -n 19 python tools/mutants.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

LOSS_TESTS = [
    "tests/test_losses.py",
    "tests/llm/test_trainer.py::test_pairwise_loss_equals_the_formula_by_hand",
    "tests/llm/test_trainer.py::test_swapping_y_and_y2_changes_the_loss_unless_p_flips_too",
    "tests/llm/test_trainer.py::test_nash_md_pg_loss_equals_the_token_sums_by_hand",
    "tests/llm/test_trainer.py::test_rl_loss_is_regularised_reward_to_go_with_a_leave_one_out_baseline",
]
TRAINER = "tests/llm/test_trainer.py"
VERIFY = "tests/llm/test_verify.py"
ITER = "tests/llm/test_iterated_methods.py"
VERIFY_EXACT = (
    "test_sequence_probs_is_a_distribution_equal_to_the_trainers_logprobs",
    "test_sequence_probs_match_the_samplers_frequencies",
    "test_token_mixture_from_logits_equals_the_prefix_tree",
)


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    equivalent: str = ""  # why it cannot change any result (then surviving is expected)


def _t(*names: str) -> tuple[str, ...]:
    return tuple(n if "/" in n else f"{TRAINER}::{n}" for n in names)


MUTANTS = [
    # --- prefgame/losses.py ---------------------------------------------------------------
    Mutant(
        "ipo target sign",
        "prefgame/losses.py",
        "(h - 1.0 / (2.0 * tau)) ** 2",
        "(h + 1.0 / (2.0 * tau)) ** 2",
        tuple(LOSS_TESTS),
    ),
    Mutant(
        "soft label p <-> 1-p",
        "prefgame/losses.py",
        "p * loss(h, tau=tau) + (1.0 - p) * loss(-h, tau=tau)",
        "(1.0 - p) * loss(h, tau=tau) + p * loss(-h, tau=tau)",
        tuple(LOSS_TESTS),
    ),
    Mutant(
        "soft label second term uses +h",
        "prefgame/losses.py",
        "(1.0 - p) * loss(-h, tau=tau)",
        "(1.0 - p) * loss(h, tau=tau)",
        tuple(LOSS_TESTS),
    ),
    Mutant(
        "dpo sign of h",
        "prefgame/losses.py",
        "xp.logaddexp(xp.zeros_like(h), -tau * h)",
        "xp.logaddexp(xp.zeros_like(h), tau * h)",
        tuple(LOSS_TESTS),
    ),
    Mutant(
        "slic sign of h",
        "prefgame/losses.py",
        "xp.clip(1.0 - tau * h, min=0.0)",
        "xp.clip(1.0 + tau * h, min=0.0)",
        tuple(LOSS_TESTS),
    ),
    Mutant(
        "margin: references swapped",
        "prefgame/losses.py",
        "(logp_y - ref_y) - (logp_y2 - ref_y2)",
        "(logp_y - ref_y2) - (logp_y2 - ref_y)",
        tuple(LOSS_TESTS),
    ),
    Mutant(
        "margin: kl sign (+ log mu)",
        "prefgame/losses.py",
        "(logp_y - ref_y) - (logp_y2 - ref_y2)",
        "(logp_y + ref_y) - (logp_y2 + ref_y2)",
        tuple(LOSS_TESTS),
    ),
    Mutant(
        "pg: kl sign flipped",
        "prefgame/losses.py",
        "adv = advantage[..., None] - tau * to_go",
        "adv = advantage[..., None] + tau * to_go",
        tuple(LOSS_TESTS),
    ),
    Mutant(
        "pg: kl summed from the start, not to go",
        "prefgame/losses.py",
        "to_go = xp.flip(xp.cumulative_sum(xp.flip(u, axis=-1), axis=-1), axis=-1)",
        "to_go = xp.cumulative_sum(u, axis=-1)",
        tuple(LOSS_TESTS),
    ),
    Mutant(
        "pg: padded tokens not masked",
        "prefgame/losses.py",
        "xp.sum(-stop_gradient(adv) * token_logp * mask, axis=-1)",
        "xp.sum(-stop_gradient(adv) * token_logp, axis=-1)",
        tuple(LOSS_TESTS),
    ),
    Mutant(
        "pg: no stop-gradient on the advantage",
        "prefgame/losses.py",
        "xp.sum(-stop_gradient(adv) * token_logp * mask, axis=-1)",
        "xp.sum(-adv * token_logp * mask, axis=-1)",
        tuple(LOSS_TESTS),
        equivalent="adv = A − τ·to_go is built from sg(u) and a label/reward without "
        "gradient, so sg(adv) = adv for the gradient too",
    ),
    Mutant(
        "nash-md-pg: 1/2 - p",
        "prefgame/losses.py",
        "return regularised_pg_token_loss(token_logp, token_u, p - 0.5, mask, tau=tau)",
        "return regularised_pg_token_loss(token_logp, token_u, 0.5 - p, mask, tau=tau)",
        tuple(LOSS_TESTS),
    ),
    Mutant(
        "ipo soft target sign",
        "prefgame/losses.py",
        "return (p - 0.5) / tau",
        "return (0.5 - p) / tau",
        tuple(LOSS_TESTS),
    ),
    # --- prefgame/llm/trainer.py: the loss ---------------------------------------------------
    Mutant(
        "trainer: mu replaced by the current policy",
        "prefgame/llm/trainer.py",
        "batch.ref_logp = self.frozen_logprobs(self.ref, batch, group)",
        "batch.ref_logp = self.frozen_logprobs(self.policy, batch, group)",
        _t(
            "test_pairwise_loss_equals_the_formula_by_hand",
            "test_nash_md_pg_loss_equals_the_token_sums_by_hand",
        ),
    ),
    Mutant(
        "trainer: y and y' swapped in the margin",
        "prefgame/llm/methods.py",
        "h = L.log_ratio_margin(logp[0::2], logp[1::2], ref[0::2], ref[1::2])",
        "h = L.log_ratio_margin(logp[1::2], logp[0::2], ref[1::2], ref[0::2])",
        _t("test_pairwise_loss_equals_the_formula_by_hand"),
    ),
    Mutant(
        "trainer: kl log-ratio sign (nash-md-pg, rl)",
        "prefgame/llm/methods.py",
        "u_tok = x.logp.detach() - x.ref_logp",
        "u_tok = x.ref_logp - x.logp.detach()",
        _t(
            "test_nash_md_pg_loss_equals_the_token_sums_by_hand",
            "test_rl_loss_is_regularised_reward_to_go_with_a_leave_one_out_baseline",
        ),
    ),
    Mutant(
        "trainer: rl baseline = batch mean",
        "prefgame/llm/trainer.py",
        "advantage = (r - rl_baseline(r, c.rl_baseline))[rows]",
        "advantage = (r - r.mean())[rows]",
        _t("test_rl_loss_is_regularised_reward_to_go_with_a_leave_one_out_baseline"),
    ),
    Mutant(
        "trainer: loo divides by B",
        "prefgame/llm/methods.py",
        "return (reward.sum() - reward) / (n - 1)",
        "return (reward.sum() - reward) / n",
        _t(
            "test_rl_loss_is_regularised_reward_to_go_with_a_leave_one_out_baseline",
            "test_leave_one_out_baseline_is_unbiased_by_exact_enumeration",
        ),
    ),
    Mutant(
        "trainer: rl baseline within the micro-batch",
        "prefgame/llm/trainer.py",
        "advantage = (r - rl_baseline(r, c.rl_baseline))[rows]",
        "advantage = r[rows] - rl_baseline(r[rows], c.rl_baseline)",
        _t("test_gradient_accumulation_in_train_on_is_exact"),
    ),
    Mutant(
        "trainer: accumulation weight not normalised",
        "prefgame/llm/trainer.py",
        "weight = (sl.stop - sl.start) / n",
        "weight = (sl.stop - sl.start)",
        _t("test_gradient_accumulation_in_train_on_is_exact"),
    ),
    Mutant(
        "trainer: dropout on in the training forward",
        "prefgame/llm/trainer.py",
        "self.model.train(not self.cfg.disable_dropout)",
        "self.model.train()",
        _t("test_no_dropout_in_the_training_forward"),
    ),
    Mutant(
        "trainer: loss ignores the temperature",
        "prefgame/llm/trainer.py",
        "self.train_policy, batch, self.prompt_group, temperature=c.temperature",
        "self.train_policy, batch, self.prompt_group",
        _t(
            "test_nash_md_pg_loss_equals_the_token_sums_by_hand",
            "test_tempered_sampling_is_on_policy_for_the_loss",
        ),
    ),
    Mutant(
        "trainer: ipo-md log mu from the sampler",
        "prefgame/llm/methods.py",
        "        both.ref_logp = None  # recomputed",
        "        pass  # recomputed",
        _t("test_ipo_md_margin_is_exactly_zero_at_pi_equal_mu_in_bf16"),
    ),
    Mutant(
        "trainer: ref=policy accepted",
        "prefgame/llm/trainer.py",
        "if self.ref.same_weights_as(policy):",
        "if False:",
        _t("test_ref_equal_to_the_policy_is_refused_for_every_method"),
    ),
    # --- prefgame/llm/trainer.py: checkpoints ------------------------------------------------
    Mutant(
        "resume forgets the global torch RNG",
        "prefgame/llm/trainer.py",
        "        self.accelerator.load_state(str(path))",
        "        _rng = torch.get_rng_state()\n"
        "        self.accelerator.load_state(str(path))\n"
        "        torch.set_rng_state(_rng)",
        _t("test_resume_after_kill_gives_identical_weights"),
    ),
    Mutant(
        "resume forgets the sampling generator",
        "prefgame/llm/trainer.py",
        '        t.sample_gen.set_state(mine["sample_gen"])\n',
        "",
        _t("test_resume_after_kill_gives_identical_weights"),
    ),
    Mutant(
        "resume forgets the data position",
        "prefgame/llm/trainer.py",
        'state["step"], state["epoch"], state["data_pos"]',
        'state["step"], state["epoch"], 0',
        _t("test_resume_after_kill_gives_identical_weights"),
    ),
    # --- prefgame/llm/sampling.py -----------------------------------------------------------
    Mutant(
        "sampler: mixture weights swapped",
        "prefgame/llm/sampling.py",
        "return (1.0 - beta) * logits_pi + beta * logits_mu",
        "return beta * logits_pi + (1.0 - beta) * logits_mu",
        ("tests/llm/test_sampling.py",),
    ),
    Mutant(
        "sampler: temperature multiplies",
        "prefgame/llm/sampling.py",
        "logits = logits / temperature",
        "logits = logits * temperature",
        ("tests/llm/test_sampling.py",),
    ),
    Mutant(
        "sampler: -inf x 0 at finished rows",
        "prefgame/llm/sampling.py",
        "lp_s.append(_alive(logp_sample.gather(-1, nxt[:, None]).squeeze(-1), alive))",
        "lp_s.append(logp_sample.gather(-1, nxt[:, None]).squeeze(-1) * alive)",
        ("tests/llm/test_sampling.py",),
    ),
    Mutant(
        "sampler: top-p keeps one token too few",
        "prefgame/llm/sampling.py",
        "drop_sorted = probs.cumsum(-1) - probs >= top_p",
        "drop_sorted = probs.cumsum(-1) >= top_p",
        ("tests/llm/test_sampling.py",),
    ),
    Mutant(
        "sampler: per-row beta read as the first row's",
        "prefgame/llm/sampling.py",
        "uniform = bool((betas == betas[0]).all())",
        "uniform = True",
        ("tests/llm/test_sampling.py",),
    ),
    Mutant(
        "sampler: mu's rows mapped as if it decoded the first rows",
        "prefgame/llm/sampling.py",
        "steppers.append([mu, mu_rows])",
        "steppers.append([mu, torch.arange(len(mu_rows), device=device)])",
        ("tests/llm/test_sampling.py",),
    ),
    Mutant(
        "sampler: a model with no rows left is still fed",
        "prefgame/llm/sampling.py",
        "            if rows.shape[0] == 0:  # every row of this model has finished\n"
        "                continue\n",
        "",
        ("tests/llm/test_sampling.py",),
    ),
    Mutant(
        "trainer: nash-md-pg y and y' swapped in the fused draw",
        "prefgame/llm/methods.py",
        "both.select(slice(0, None, 2)).trimmed(), both.select(slice(1, None, 2)).trimmed()",
        "both.select(slice(1, None, 2)).trimmed(), both.select(slice(0, None, 2)).trimmed()",
        _t("test_nash_md_pg_draws_y_from_pi_and_y2_from_the_mixture_in_one_batch"),
    ),
    Mutant(
        "trainer: nash-md-pg halves not trimmed",
        "prefgame/llm/methods.py",
        "both.select(slice(0, None, 2)).trimmed(), both.select(slice(1, None, 2)).trimmed()",
        "both.select(slice(0, None, 2)), both.select(slice(1, None, 2))",
        _t("test_nash_md_pg_draws_y_from_pi_and_y2_from_the_mixture_in_one_batch"),
    ),
    Mutant(
        "trainer: sampler's log mu reused under bf16",
        "prefgame/llm/trainer.py",
        "return not self.cfg.bf16 and self.cfg.temperature == 1.0",
        "return self.cfg.temperature == 1.0",
        _t("test_ipo_md_margin_is_exactly_zero_at_pi_equal_mu_in_bf16"),
    ),
    Mutant(
        "trainer: sampler's (untempered) log mu reused at temperature != 1",
        "prefgame/llm/trainer.py",
        "return not self.cfg.bf16 and self.cfg.temperature == 1.0",
        "return not self.cfg.bf16",
        _t("test_ipo_md_log_mu_from_the_sampler_equals_the_training_path_in_fp32"),
    ),
    # --- the exact sequence-level verification (prefgame verify-llm) ------------------------
    Mutant(
        "exact: sequence log-prob counts the padding after EOS",
        "prefgame/llm/exact.py",
        "return (logp * batch.completion_mask).sum(-1)",
        "return logp.sum(-1)",
        tuple(f"{VERIFY}::{t}" for t in VERIFY_EXACT),
    ),
    Mutant(
        "sequence game: conditionals not divided by the prefix mass",
        "prefgame/tasks/sequence_game.py",
        'return log_ext[tree["child"]] - log_node[:, None]',
        'return log_ext[tree["child"]]',
        ("tests/test_sequence_game.py",),
    ),
    Mutant(
        "sequence game: token mixture with beta on pi",
        "prefgame/tasks/sequence_game.py",
        "mix = (1.0 - beta) * self.conditionals(pi) + beta * self.conditionals(mu)",
        "mix = beta * self.conditionals(pi) + (1.0 - beta) * self.conditionals(mu)",
        ("tests/test_sequence_game.py",),
    ),
    Mutant(
        "verify: token-mixture fixed point uses the sequence-level mixture",
        "prefgame/llm/verify.py",
        "best_response(P, game.token_mixture(np.exp(z), mu, beta), tau, mu, log=True)",
        "best_response(P, game.sequence_mixture(np.exp(z), mu, beta), tau, mu, log=True)",
        (f"{VERIFY}::test_each_target_is_stationary_for_its_loss_and_pi_star_is_not",),
    ),
    Mutant(
        "verify: averaged-log-prob target ignores the lengths in c",
        "prefgame/llm/verify.py",
        "return a + n_tok * c",
        "return a + c",
        (f"{VERIFY}::test_each_target_is_stationary_for_its_loss_and_pi_star_is_not",),
    ),
    Mutant(
        "verify: Prop. 5.2 target at tau/(1+beta)",
        "prefgame/llm/verify.py",
        "solve(g, tau / (1.0 - beta)).policy if beta < 1 else mu",
        "solve(g, tau / (1.0 + beta)).policy if beta < 1 else mu",
        (f"{VERIFY}::test_each_target_is_stationary_for_its_loss_and_pi_star_is_not",),
    ),
    Mutant(
        "methods: IPO-MD declares pi*_tau as its target",
        "prefgame/llm/methods.py",
        'target="mixture_nash",\n    ),\n    Method(\n        "online_dpo"',
        'target="nash",\n    ),\n    Method(\n        "online_dpo"',
        (f"{VERIFY}::test_cli_json_schema",),
    ),
    # --- policy snapshots and the iterated methods (INPO, SPPO, MPO) ---------------------------
    Mutant(
        "inpo: anchor weight 1 - eta*tau on mu",
        "prefgame/llm/methods.py",
        "anchor_weight=lambda tau, eta: eta * tau",
        "anchor_weight=lambda tau, eta: 1 - eta * tau",
        (f"{ITER}::test_inpo_loss_is_the_square_loss_on_the_margin_against_mu_and_pi_t",),
    ),
    Mutant(
        "inpo: pairs drawn from pi, not from the snapshot pi_t",
        "prefgame/llm/methods.py",
        'SnapshotPairSampler("snapshot")',
        'SnapshotPairSampler("policy")',
        (f"{ITER}::test_inpo_loss_is_the_square_loss_on_the_margin_against_mu_and_pi_t",),
    ),
    Mutant(
        "mpo: margin against mu, not the magnet",
        "prefgame/llm/methods.py",
        "anchor_weight=lambda tau, eta: 0.0",
        "anchor_weight=lambda tau, eta: 1.0",
        (f"{ITER}::test_mpo_loss_is_ipo_against_the_magnet_not_mu",),
    ),
    Mutant(
        "sppo: u against mu, not pi_t",
        "prefgame/llm/methods.py",
        "u = ((x.logp - x.anchor_logp) * x.mask).sum(-1)",
        "u = ((x.logp - x.ref_logp) * x.mask).sum(-1)",
        (f"{ITER}::test_sppo_win_rates_and_loss_against_a_hand_computation",),
    ),
    Mutant(
        "sppo: win rates not symmetrised",
        "prefgame/llm/trainer.py",
        "pij = 0.5 * (fwd + 1.0 - bwd)",
        "pij = fwd",
        (f"{ITER}::test_sppo_win_rates_and_loss_against_a_hand_computation",),
    ),
    Mutant(
        "sppo: win rate averaged over k, not the k - 1 others",
        "prefgame/llm/trainer.py",
        "return wins / (k - 1)",
        "return wins / k",
        (f"{ITER}::test_sppo_win_rates_and_loss_against_a_hand_computation",),
    ),
    Mutant(
        "loss input: win rates sliced by prompt, not by sample",
        "prefgame/llm/trainer.py",
        'p = rollout.p[per_sample if loss.feedback == "win_rate" else rows].to(dev)',
        "p = rollout.p[rows].to(dev)",
        (f"{ITER}::test_sppo_win_rates_and_loss_against_a_hand_computation",),
    ),
    Mutant(
        "snapshot: sample(policy=) ignored",
        "prefgame/llm/trainer.py",
        "source = self.policy if policy is None else policy",
        "source = self.policy",
        (f"{ITER}::test_sampling_from_a_snapshot_draws_from_its_weights",),
    ),
    Mutant(
        "snapshot: refreshed one step late",
        "prefgame/llm/methods.py",
        "if trainer.step_count % every == 0:",
        "if trainer.step_count % every == 1:",
        (f"{ITER}::test_refresh_rule_copies_pi_at_steps_0_k_2k_and_the_snapshot_stays_frozen",),
    ),
    Mutant(
        "snapshot: not checkpointed",
        "prefgame/llm/trainer.py",
        "if self._snapshots:\n            self.accelerator.register_for_checkpointing",
        "if False:\n            self.accelerator.register_for_checkpointing",
        (f"{ITER}::test_a_run_resumed_from_a_checkpoint_keeps_its_snapshot",),
    ),
    Mutant(
        "sppo map: target without log pi_t",
        "prefgame/dynamics/self_play_hedge.py",
        "b = np.log(pi_t) + eta * (P @ pi_t - 0.5)",
        "b = eta * (P @ pi_t - 0.5)",
        (f"{ITER}::test_sppo_regression_step_solves_its_stationarity_condition_and_is_near_hedge",),
    ),
    # --- control: nothing changes, so the tests must pass (no false kills from re-imports) ----
    Mutant(
        "control: no change (must survive)",
        "prefgame/losses.py",
        "def ipo_loss(",
        "def ipo_loss(",
        (
            *LOSS_TESTS,
            *_t(
                "test_gradient_accumulation_in_train_on_is_exact",
                "test_resume_after_kill_gives_identical_weights",
            ),
        ),
        equivalent="the control: the code is unchanged",
    ),
]


def _copy_repo(dst: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for f in files:
        src = REPO / f
        if src.is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f)


def run(mutant: Mutant, work: Path, timeout: int) -> str:
    path = work / mutant.path
    original = path.read_text()
    if original.count(mutant.old) != 1:
        return "not applied"
    path.write_text(original.replace(mutant.old, mutant.new))
    try:
        env = {**os.environ, "PYTHONPATH": str(work), "OMP_NUM_THREADS": "1"}
        cmd = [
            "nice",
            "-n",
            "19",
            sys.executable,
            "-m",
            "pytest",
            "-x",
            "-q",
            "-p",
            "no:cacheprovider",
            *mutant.tests,
        ]
        proc = subprocess.run(
            cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        return (
            "killed"
            if proc.returncode == 1
            else ("SURVIVED" if proc.returncode == 0 else f"error (pytest exit {proc.returncode})")
        )
    except subprocess.TimeoutExpired:
        return "killed (timeout)"
    finally:
        path.write_text(original)


def run_in_process(mutant: Mutant, work: Path) -> str:
    """Apply ``mutant`` in ``work``, re-import prefgame and the tests from there, run them."""
    import contextlib
    import io

    import pytest

    path = work / mutant.path
    original = path.read_text()
    if original.count(mutant.old) != 1:
        return "not applied"
    path.write_text(original.replace(mutant.old, mutant.new))
    try:
        for name in list(sys.modules):
            if name == "prefgame" or name.startswith(
                ("prefgame.", "test_", "conftest", "tests.", "ddp_worker")
            ):
                del sys.modules[name]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", *mutant.tests])
        return "killed" if code == 1 else "SURVIVED" if code == 0 else f"error (pytest exit {code})"
    finally:
        path.write_text(original)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default="", help="only mutants whose name contains this")
    ap.add_argument("--list", action="store_true")
    ap.add_argument(
        "--timeout", type=int, default=900, help="seconds per mutant (--fresh-process only)"
    )
    ap.add_argument(
        "--fresh-process",
        action="store_true",
        help="one pytest process per mutant (slower: imports torch every time)",
    )
    args = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if args.k.lower() in m.name.lower()]
    if args.list:
        for m in chosen:
            print(f"{m.name:50s} {m.path}")
        return 0
    counts: dict[str, int] = {}
    unexpected = []
    with tempfile.TemporaryDirectory(prefix="prefgame-mutants-") as tmp:
        work = Path(tmp)
        _copy_repo(work)
        if not args.fresh_process:
            import torch

            torch.set_num_threads(1)
            os.chdir(work)
            sys.path.insert(0, str(work))
        for m in chosen:
            t0 = time.perf_counter()
            status = run(m, work, args.timeout) if args.fresh_process else run_in_process(m, work)
            note = (
                f"  (equivalent: {m.equivalent})" if m.equivalent and status == "SURVIVED" else ""
            )
            print(f"{status:18s} {m.name:50s} {time.perf_counter() - t0:6.0f} s{note}", flush=True)
            key = status.split(" ")[0]
            counts[key] = counts.get(key, 0) + 1
            if status != "killed" and not status.startswith("killed") and not m.equivalent:
                unexpected.append(m.name)
        os.chdir(REPO)
    print(
        "summary: "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        + f" of {len(chosen)}"
    )
    if unexpected:
        print("unexplained: " + "; ".join(unexpected))
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
