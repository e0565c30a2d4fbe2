"""Pieces of the summarisation experiment, each checked against a value computed another way."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from prefgame.experiments.summarisation import config as C
from prefgame.experiments.summarisation import evaluate as E
from prefgame.experiments.summarisation import models as M
from prefgame.experiments.summarisation import pipeline as P
from prefgame.experiments.summarisation import report as R
from prefgame.experiments.summarisation import stats as S
from prefgame.tasks import factsum as FS

ROOT = Path(__file__).resolve().parents[1]


def _writer_pairs(n: int, seed: int = 0) -> dict:
    docs = FS.make_documents(n, seed=seed)
    rng = np.random.default_rng(seed)
    return {
        "x": [FS.format_prompt(d) for d in docs],
        "y": [FS.noisy_summary(d, rng) for d in docs],
        "y2": [FS.noisy_summary(d, rng) for d in docs],
    }


# --- the gold judge, vectorised -------------------------------------------------------------


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
def test_vectorised_gold_judge_equals_the_pairwise_formula(lam):
    pairs = _writer_pairs(300, seed=4)
    pairs["y2"][:5] = ["", "on monday", "in paris", "alice", "the the"]  # styles incl. none
    g = FS.GoldJudge(cycle_weight=lam)
    fast = g(pairs["x"], pairs["y"], pairs["y2"])
    slow = [g.prob(x, y, y2) for x, y, y2 in zip(pairs["x"], pairs["y"], pairs["y2"])]
    np.testing.assert_allclose(fast, slow, atol=1e-15)
    np.testing.assert_allclose(fast + g(pairs["x"], pairs["y2"], pairs["y"]), 1.0, atol=1e-15)


# --- the oracle reward ------------------------------------------------------------------------


def test_bradley_terry_fit_recovers_q_over_T_without_the_cycle():
    """With λ = 0 the gold judge is exactly Bradley–Terry with reward q/T: the fit must find it."""
    pairs = _writer_pairs(1500, seed=1)
    gold = FS.GoldJudge(cycle_weight=0.0, temperature=0.5)
    w = M.fit_gold_reward(gold, pairs["x"], pairs["y"], pairs["y2"])
    np.testing.assert_allclose(w, [2.0, 0.0, 0.0, 0.0], atol=2e-3)


def test_bradley_terry_fit_with_the_cycle_beats_the_quality_only_reward():
    pairs = _writer_pairs(1500, seed=2)
    gold = FS.GoldJudge(cycle_weight=0.3)
    w = M.fit_gold_reward(gold, pairs["x"], pairs["y"], pairs["y2"])
    p = gold(pairs["x"], pairs["y"], pairs["y2"])
    d = M.gold_reward_features(gold, pairs["x"], pairs["y"]) - M.gold_reward_features(
        gold, pairs["x"], pairs["y2"]
    )

    def nll(v):
        z = d @ v
        return float(np.mean(np.logaddexp(0, z) - p * z))

    # the fit is the minimum: better than q/T alone and than small perturbations of itself
    assert nll(w) < nll(np.array([2.0, 0, 0, 0])) - 1e-4
    for k in range(4):
        for eps in (1e-2, -1e-2):
            assert nll(w) <= nll(w + eps * np.eye(4)[k]) + 1e-12
    # and the reward model's preference is σ(r − r')
    rm = M.GoldReward(gold, w)
    z = (rm.reward(pairs["x"], pairs["y"]) - rm.reward(pairs["x"], pairs["y2"])).numpy()
    np.testing.assert_allclose(
        rm(pairs["x"], pairs["y"], pairs["y2"]).numpy(), 1 / (1 + np.exp(-z)), atol=1e-6
    )


# --- statistics -------------------------------------------------------------------------------


def test_bootstrap_equals_explicit_resampling():
    """The vectorised replicate equals resampling prompts and seeds by hand."""
    rng = np.random.default_rng(0)
    w = rng.random((3, 2, 40))
    res = S.draw_resamples(40, {"a": 3, "b": 2}, size=25, rng=np.random.default_rng(1))
    reps = S.bootstrap_win_rate(w, res, "a", "b")
    for r in range(25):
        idx = np.repeat(np.arange(40), res.counts[r].astype(int))  # the resampled prompts
        sa, sb = res.seeds["a"][r], res.seeds["b"][r]
        by_hand = np.mean([w[s, t, idx].mean() for s in sa for t in sb])
        assert reps[r] == pytest.approx(by_hand, abs=1e-12)


def test_bootstrap_ci_covers_the_truth_at_its_nominal_rate():
    """Prompts with true win rate 0.6: the 95 % CI covers 0.6 in about 95 % of experiments."""
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(200):
        w = (rng.random((1, 1, 300)) < 0.6).astype(float)
        res = S.draw_resamples(300, {"a": 1, "b": 1}, size=300, rng=rng)
        lo, hi = S.percentile_ci(S.bootstrap_win_rate(w, res, "a", "b"))
        hits += lo <= 0.6 <= hi
    assert 0.90 <= hits / 200 <= 0.99


# --- PM / RM figures --------------------------------------------------------------------------


def test_agreement_and_label_accuracy_by_hand():
    p_hat = np.array([0.9, 0.2, 0.5, 0.7, 0.6])
    p_gold = np.array([0.8, 0.4, 0.9, 0.5, 0.3])
    # decided: rows 0, 1, 2, 4 -> agree, agree, half (P̂ = ½), disagree
    assert E.sign_agreement(p_hat, p_gold) == pytest.approx((1 + 1 + 0.5 + 0) / 4)
    votes = np.array([1, 1, 0, 1, 0])
    assert E.label_accuracy(p_hat, votes) == pytest.approx((1 + 0 + 0.5 + 1 + 0) / 5)


def test_document_blind_model_is_antisymmetric_and_learns_what_needs_no_document():
    pairs = _writer_pairs(3000, seed=5)
    gold = FS.GoldJudge()
    p = gold(pairs["x"], pairs["y"], pairs["y2"])
    model = E.doc_blind_model({**pairs, "label": p.tolist()})
    held = _writer_pairs(500, seed=6)
    swapped = {"x": held["x"], "y": held["y2"], "y2": held["y"]}
    np.testing.assert_allclose(model(held) + model(swapped), 1.0, atol=1e-12)
    agree = E.sign_agreement(model(held), gold(held["x"], held["y"], held["y2"]))
    assert 0.6 < agree < 0.97  # better than chance, short of reading the document


def test_breakdown_names_the_deciding_term():
    x = FS.format_prompt(FS.make_documents(1, seed=9)[0])
    f = FS.parse_facts(x)
    good = FS.reference_summary(f, "who")
    fewer = good.replace(f" for {f['why']}", "")
    longer = good + " really really really"
    pairs = {"x": [x, x], "y": [good, good], "y2": [fewer, longer]}
    g = FS.GoldJudge()
    pairs["p_gold"] = g(pairs["x"], pairs["y"], pairs["y2"]).tolist()
    b = E.breakdown(pairs, np.array([0.9, 0.1]), g)
    assert b["by_term"]["covered"] == {"share": 0.5, "agreement": 1.0}
    assert b["by_term"]["excess_len"] == {"share": 0.5, "agreement": 0.0}


# --- the rule, the plan, the claims -----------------------------------------------------------


def test_rule_tau_picks_the_grid_kl_closest_to_the_target_on_a_log_scale(tmp_path):
    cfg = C.load(
        None,
        arms=["oracle"],
        methods=["online_ipo"],
        tau_grid={"online_ipo": [1.0, 0.1, 0.01]},
        kl_target=1.0,
    )
    for tau, kl in ((1.0, 0.05), (0.1, 3.0), (0.01, 12.0)):  # |log| distances 3.0, 1.1, 2.5
        rec = {"arm": "oracle", "method": "online_ipo", "tau": tau, "seed": 0, "kl_train": kl}
        rec |= {"kl_eval": kl, "texts": [], "time_s": 0.0}  # a run.json holds all of these
        P.save_json(P.run_dir(tmp_path, "oracle", "online_ipo", tau, 0) / "run.json", rec)
    assert P.rule_tau(cfg, tmp_path) == {"oracle": {"online_ipo": 0.1}}


def test_planned_runs_cover_grid_and_headline_seeds_once():
    cfg = C.load(
        None,
        arms=["oracle", "learned"],
        methods=["online_ipo", "rl"],
        seeds=3,
        tau_grid={"online_ipo": [0.1, 0.01], "rl": [0.1, 0.05]},
        paper_tau_table=True,
    )
    grid = P.planned_runs(cfg)
    assert len(grid) == 2 * 4
    rule = {a: {"online_ipo": 0.1, "rl": 0.1} for a in cfg.arms}
    runs = P.planned_runs(cfg, rule)
    assert len(runs) == len(set(runs))
    assert grid == runs[: len(grid)]
    for arm in cfg.arms:
        for m, taus in (("online_ipo", (1.0, 0.1)), ("rl", (0.05, 0.1))):  # paper τ, rule τ
            for t in taus:
                assert {s for a, mm, tt, s in runs if (a, mm, tt) == (arm, m, t)} == {0, 1, 2}


def _tab(mean_ij, ci_ij, vs):
    ms = ["online_ipo", "ipo_md"]
    return {
        "methods": ms,
        "mean": [[0.5, mean_ij], [1 - mean_ij, 0.5]],
        "ci_low": [[0.5, ci_ij[0]], [1 - ci_ij[1], 0.5]],
        "ci_high": [[0.5, ci_ij[1]], [1 - ci_ij[0], 0.5]],
        "vs_sft": {m: {"ci": c, "kl": 1.0} for m, c in zip(ms, vs)},
    }


def test_a_tie_between_policies_that_did_not_move_is_not_evidence():
    _, count = R.claims_markdown(_tab(0.5, (0.47, 0.53), [(0.46, 0.54), (0.45, 0.55)]))
    assert count == {"confirmed": 0, "refuted": 0, "not tested": 1}
    _, count = R.claims_markdown(_tab(0.5, (0.47, 0.53), [(0.6, 0.7), (0.45, 0.55)]))
    assert count == {"confirmed": 1, "refuted": 0, "not tested": 0}
    _, count = R.claims_markdown(_tab(0.58, (0.55, 0.61), [(0.6, 0.7), (0.6, 0.7)]))
    assert count == {"confirmed": 0, "refuted": 1, "not tested": 0}


# --- SFT ----------------------------------------------------------------------------------------


@pytest.mark.slow  # loads and runs the task model
def test_sft_loss_equals_the_models_own_cross_entropy():
    """Our NLL (via token_logprobs) = T5's built-in label cross-entropy, computed independently."""
    from prefgame.llm import Policy

    tok = M.factsum_tokenizer()
    model = M.policy_model(tok, layers=1, embd=32, heads=2, seed=0)
    policy = Policy(model, tok)
    xs = [FS.format_prompt(d) for d in FS.make_documents(4, seed=0)]
    ys = ["alice painted in paris", "on monday , bob", "carol", "in oslo , dave sold on noon"]
    from prefgame.llm.sft import sft_loss

    with torch.no_grad():
        ours = float(sft_loss(policy, xs, ys))
    enc = tok(xs, return_tensors="pt", padding=True, add_special_tokens=False)
    labels = [tok(y, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for y in ys]
    width = max(map(len, labels))
    lab = torch.tensor([seq + [-100] * (width - len(seq)) for seq in labels])
    with torch.no_grad():
        theirs = float(
            model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=lab).loss
        )
    assert ours == pytest.approx(theirs, rel=1e-5)


@pytest.mark.slow  # SFT training run
def test_train_sft_learns_to_copy():
    from prefgame.llm import Policy, generate_text
    from prefgame.llm.sft import train_sft

    tok = M.factsum_tokenizer()
    policy = Policy(M.policy_model(tok, layers=1, embd=32, heads=2, seed=0), tok)
    names = list(FS.WHO)

    def batches(rng, n):  # target: the prompt's second word
        xs = [f"{names[i]} {names[j]} summary :" for i, j in rng.integers(len(names), size=(n, 2))]
        return xs, [x.split()[1] for x in xs]

    info = train_sft(policy, batches, steps=150, batch_size=32, lr=3e-3, warmup_steps=10, seed=0)
    assert info["final_nll_per_token"] < 0.1 < info["curve"][0]
    xs, ys = batches(np.random.default_rng(99), 50)
    out = generate_text(policy, xs, max_new_tokens=3, generator=torch.Generator().manual_seed(0))
    assert np.mean([o.split()[:1] == [y] for o, y in zip(out, ys)]) > 0.9


# --- config and command line ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"sft_steps": -5}, "sft_steps = -5, must be >= 1"),
        ({"align_batch": True}, "align_batch = True (bool), must be of type int"),
        ({"align_steps": 2.5}, "align_steps = 2.5 (float), must be of type int"),
        ({"align_lr": "fast"}, "align_lr = 'fast' (str), must be of type float"),
        ({"methods": ["ipo"]}, "methods = ['ipo']"),
        ({"arms": []}, "arms = []"),
        ({"tau_grid": {"rl": [0.1, -1]}}, "tau_grid"),
        ({"cycle_weight": 1.5}, "cycle_weight = 1.5, must lie in [0, 1]"),
        ({"beta": {"online_ipo": 0.1}}, "'online_ipo' samples from π, β has no effect"),
        ({"paper_tau": {"rl": float("inf")}}, "τ = inf, must be a finite number > 0"),
        ({"align_lr": float("inf")}, "align_lr = inf, must be a finite number > 0"),
        ({"sft_lr": 1e999}, "sft_lr = inf, must be a finite number > 0"),
        ({"policy_embd": 30, "policy_heads": 4}, "policy_embd = 30 is not a multiple of"),
        ({"align_batch": 1}, "align_batch = 1: RL's leave-one-out baseline needs >= 2"),
    ],
)
def test_bad_config_values_are_named(override, message):
    with pytest.raises(ValueError) as e:
        C.load(None, **override)
    assert message in str(e.value)


def test_unknown_config_keys_are_refused(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"sft_stpes": 10}))
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['sft_stpes'\]"):
        C.load(path)


@pytest.mark.slow  # the experiment script in a subprocess
@pytest.mark.parametrize(
    "case", ["negative", "bool", "unknown", "bad_json", "missing", "out_is_file", "seeds"]
)
def test_reproduce_command_line_fails_cleanly_before_any_work(tmp_path, case):
    cfg = tmp_path / "c.json"
    cfg.write_text(
        {
            "negative": '{"sft_steps": -5}',
            "bool": '{"align_batch": true}',
            "unknown": '{"stpes": 1}',
            "bad_json": "{",
            "missing": "{}",
            "out_is_file": "{}",
            "seeds": "{}",
        }[case]
    )
    out = tmp_path / "out"
    if case == "out_is_file":
        out.write_text("keep me")
    args = [
        "--config",
        str(tmp_path / "nope.json") if case == "missing" else str(cfg),
        "--out",
        str(out),
        "--work",
        str(tmp_path / "work"),
    ]
    if case == "seeds":
        args += ["--seeds=-1"]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "llm" / "reproduce.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "work").exists()  # nothing was started
    if case == "out_is_file":
        assert out.read_text() == "keep me"


def test_a_work_folder_refuses_a_different_config(tmp_path):
    from prefgame.experiments.summarisation.run import _check_same_config

    _check_same_config(C.load(None), tmp_path)
    _check_same_config(C.load(None, jobs=1), tmp_path)  # execution-only fields may differ
    _check_same_config(C.load(None, search_steps=9), tmp_path)  # a longer search continues
    assert C.load(tmp_path / "config.json").search_steps == 9
    with pytest.raises(ValueError, match=r"another config \(fields \['align_steps'\]"):
        _check_same_config(C.load(None, align_steps=7), tmp_path)


def test_output_locations_are_checked(tmp_path):
    from prefgame.experiments.summarisation.run import check_locations

    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        check_locations(tmp_path / "file", tmp_path / "out")
    check_locations(tmp_path / "new" / "work", tmp_path / "new" / "out")  # creatable: fine


def test_a_partial_beta_table_keeps_the_other_methods_beta():
    """{"nash_md_pg": 0.125} used to replace the whole table: IPO-MD ran with β = 0."""
    cfg = C.load(None, beta={"nash_md_pg": 0.25})
    assert cfg.beta == {"ipo_md": 0.125, "nash_md_pg": 0.25}
    cfg = C.load(None, tau_grid={"rl": [0.5]})
    assert cfg.tau_grid["rl"] == [0.5] and cfg.tau_grid["online_ipo"] == [0.1, 0.05]


def test_cached_results_and_weights_are_verified(tmp_path):
    from prefgame.experiments.summarisation import pipeline as P

    (tmp_path / "run.json").write_text('{"arm": "oracle"}')
    with pytest.raises(ValueError, match=r"run.json' lacks \['method'"):
        P.read_json(tmp_path / "run.json")
    (tmp_path / "sft.json").write_text("{not json")
    with pytest.raises(ValueError, match="sft.json' is corrupt.*--force"):
        P.read_json(tmp_path / "sft.json")
    model = tmp_path / "pm"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")
    P.save_json(
        tmp_path / "pm.json",
        {
            "kind": "pm",
            "time_s": 1.0,
            "steps": 1,
            "p_heldout_writer": [],
            "p_heldout_policy": [],
            "hashes": P.folder_hashes(model),
        },
    )
    assert P.checked_folder(tmp_path, "pm") == str(model)
    (model / "model.safetensors").write_bytes(b"weigh")  # truncated
    with pytest.raises(ValueError, match="does not match the hash.*--force"):
        P.checked_folder(tmp_path, "pm")
    (model / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="model.safetensors' is missing"):
        P.checked_folder(tmp_path, "pm")


def test_reproduce_threads_device_and_force(tmp_path, monkeypatch):
    import torch

    from prefgame.experiments.summarisation import cli

    cfg = tmp_path / "c.json"
    cfg.write_text("{}")
    base = ["--config", str(cfg), "--out", str(tmp_path / "out"), "--work", str(tmp_path / "w")]
    assert cli.main([*base, "--threads", "100000"]) == 2
    if not torch.cuda.is_available():
        cfg.write_text('{"device": "cuda"}')
        assert cli.main(base) == 2
    assert not (tmp_path / "w").exists()
    # --force moves a used work folder aside (nothing deleted), then runs: stop it at once
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "sft.json").write_text("{}")
    cfg.write_text("{}")

    def stop(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("prefgame.experiments.summarisation.run.run_experiment", stop)
    assert cli.main([*base, "--force"]) == 130
    (aside,) = tmp_path.glob("w.replaced-*")
    assert (aside / "sft.json").read_text() == "{}"


def test_a_deeply_nested_config_is_named(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested too deeply"):
        C.load(path)
