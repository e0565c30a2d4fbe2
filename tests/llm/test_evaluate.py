"""Win-rate matrix: hand-checked values, values recounted directly from the samples, files."""

import json

import numpy as np
import pytest

from prefgame.llm import CallableJudge, Policy, tiny_gpt2, win_rate_matrix
from prefgame.llm.evaluate import evaluate_checkpoints, sample_completions
from prefgame.llm.trainer import load_policy_checkpoint


def test_matrix_from_given_completions(tmp_path):
    judge = CallableJudge(lambda x, y, y2: float(len(y) < len(y2)) if len(y) != len(y2) else 0.5)
    prompts = ["p1", "p2", "p3"]
    completions = {
        "short": [["a", "b", "c"], ["a", "bb", "c"]],  # two seeds
        "long": [["aaa", "bbb", "c"]],
    }
    r = win_rate_matrix({}, prompts, judge, completions=completions)
    # seed 0 vs long: wins, wins, tie -> 5/6; seed 1: wins, wins, tie -> 5/6
    assert r.mean[0, 1] == pytest.approx(5 / 6) and r.mean[1, 0] == pytest.approx(1 / 6)
    assert r.mean[0, 0] == 0.5 and r.std[0, 1] == 0.0 and r.n[0, 1] == 6
    # the lower triangle against the judge run the other way round: long vs short
    back = [judge(prompts, ["aaa", "bbb", "c"], ys) for ys in completions["short"]]
    assert r.mean[1, 0] == pytest.approx(float(np.mean([b.numpy() for b in back])))
    # interval by hand: per-prompt wins averaged over the two pairings are (1, 1, ½);
    # their sample std is √(1/12), so se = √(1/12)/√3 = 1/6 and the 95 % interval is
    # 5/6 ± 1.959964/6, cut at 1
    assert r.ci_low[0, 1] == pytest.approx(5 / 6 - 1.959964 / 6, abs=1e-6)
    assert r.ci_high[0, 1] == 1.0
    assert (r.ci_low[1, 0], r.ci_high[1, 0]) == pytest.approx((0.0, 1 / 6 + 1.959964 / 6))
    md = r.to_markdown()
    assert "| short | 0.500 | 0.833 (0.000)" in md
    r.to_json(tmp_path / "w.json")
    assert json.loads((tmp_path / "w.json").read_text())["names"] == ["short", "long"]


def test_matrix_over_checkpoints_writes_all_outputs(tok, prompts, good_judge, tmp_path):
    from prefgame.llm import OnlineConfig, OnlineTrainer

    ckpts = {}
    for seed in (0, 1):
        cfg = OnlineConfig(
            method="online_ipo",
            batch_size=4,
            max_steps=1,
            max_new_tokens=4,
            seed=seed,
            output_dir=str(tmp_path / f"s{seed}"),
            progress_bar=False,
            log_tensorboard=False,
            win_rate_every=0,
        )
        OnlineTrainer(cfg, Policy(tiny_gpt2(tok), tok), good_judge, prompts).train()
        ckpts.setdefault("ipo", []).append(tmp_path / f"s{seed}" / "checkpoint-1")
    ckpts["sft"] = ["init"]
    r = evaluate_checkpoints(
        Policy(tiny_gpt2(tok), tok),
        ckpts,
        prompts,
        good_judge,
        out_dir=tmp_path / "eval",
        max_new_tokens=8,
    )
    assert r.names == ["ipo", "sft"]
    # recount directly: the same seeded samples, judged pair by pair with the judge's rule
    # (more "good" wins, ties ½), averaged over the 2 × 1 seed pairings and the prompts
    policies = {
        "ipo": [load_policy_checkpoint(Policy(tiny_gpt2(tok), tok), c) for c in ckpts["ipo"]],
        "sft": [Policy(tiny_gpt2(tok), tok)],
    }
    texts = sample_completions(policies, prompts, max_new_tokens=8)
    wins = [
        0.5 + 0.5 * np.sign(a.split().count("good") - b.split().count("good"))
        for ya in texts["ipo"]
        for yb in texts["sft"]
        for a, b in zip(ya, yb)
    ]
    assert len(wins) == 16 and r.n[0, 1] == 16
    assert r.mean[0, 1] == pytest.approx(np.mean(wins))
    assert r.mean[1, 0] == pytest.approx(np.mean([1 - w for w in wins]))
    per_seed = [np.mean(wins[:8]), np.mean(wins[8:])]  # the two (ipo seed, sft) pairings
    assert r.std[0, 1] == pytest.approx(np.std(per_seed, ddof=1))
    for f in ("win_rates.md", "win_rates.json", "win_rates.png"):
        assert (tmp_path / "eval" / f).stat().st_size > 0


def test_matrix_needs_two_methods(tok, good_judge):
    with pytest.raises(ValueError, match="two methods"):
        win_rate_matrix({"a": Policy(tiny_gpt2(tok), tok)}, ["x"], good_judge)
