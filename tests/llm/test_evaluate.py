"""Win-rate matrix: hand-checked values, antisymmetric fill, seeds, files."""

import json

import numpy as np
import pytest

from prefgame.llm import CallableJudge, Policy, tiny_gpt2, win_rate_matrix
from prefgame.llm.evaluate import evaluate_checkpoints


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
    assert r.ci_low[0, 1] <= r.mean[0, 1] <= r.ci_high[0, 1]
    assert r.ci_low[1, 0] == pytest.approx(1 - r.ci_high[0, 1])
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
        prompts[:4],
        good_judge,
        out_dir=tmp_path / "eval",
        max_new_tokens=4,
    )
    assert r.names == ["ipo", "sft"] and np.allclose(r.mean + r.mean.T, 1)
    for f in ("win_rates.md", "win_rates.json", "win_rates.png"):
        assert (tmp_path / "eval" / f).stat().st_size > 0


def test_matrix_needs_two_methods(tok, good_judge):
    with pytest.raises(ValueError, match="two methods"):
        win_rate_matrix({"a": Policy(tiny_gpt2(tok), tok)}, ["x"], good_judge)
