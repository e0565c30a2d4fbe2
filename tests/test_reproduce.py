"""``llm/reproduce.py --quick`` end to end on CPU, asserting an effect, not only shapes.

SFT → pairs → PM, RM → 6 methods in the learned and oracle arms → τ matched to KL 2 nats,
2 seeds, the sharpened-SFT control → gold judge.  The assertions that fail if alignment is
broken, or if a judge-free policy were passed off as aligned (issue 21):

* every family of methods (Nash-targeting, contrastive, reward) beats the SFT policy sharpened
  to the *same* KL, with a 95 % CI above ½ — the judge-free control itself cannot pass that
  check (against itself it scores ½ exactly);
* the Nash-targeting methods are less exploitable than RL at that KL (CI below 0).
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
METHODS = ["online_ipo", "ipo_md", "online_dpo", "nash_md_pg", "online_slic", "rl"]
ARMS = ["learned", "oracle"]
FAMILIES = {"nash": 3, "contrastive": 2, "reward": 1}


def beats_the_control(block: dict) -> bool:
    """The effect a judge-free policy lacks: P(policy ≻ sharpened SFT at the same KL), 95 %
    CI above ½."""
    return block["vs_sharpened_sft"]["ci"][0] > 0.5


@pytest.mark.slow
@pytest.mark.long
def test_quick_reproduce_moves_the_policy_and_writes_every_result(tmp_path):
    out, work = tmp_path / "results", tmp_path / "work"
    cmd = [
        sys.executable,
        str(ROOT / "llm" / "reproduce.py"),
        "--quick",
        "--out",
        str(out),
        "--work",
        str(work),
    ]
    proc = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    s = json.loads((out / "summary.json").read_text())

    # the effects at matched KL (module docstring)
    a = s["arms"]["oracle"]
    key = "2.0"
    fams = a["families"][key]
    assert {f: len(b["methods"]) for f, b in fams.items()} == FAMILIES
    for fam, block in fams.items():
        assert beats_the_control(block), (fam, block)
    control = a["controls"]["sharpened_sft"][key]
    assert control["vs_sharpened_sft"] == {"mean": 0.5, "ci": [0.5, 0.5]}
    assert not beats_the_control(control)
    assert control["vs_sft"]["ci"][0] > 0.5  # it beats SFT, as every method does: no test
    gap = a["nash_family"][key]["minus_rl"]
    assert gap["ci"][1] < 0, gap
    for m in METHODS:
        assert a["matched_kl"][m][key]["matched"], (m, a["matched_kl"][m][key]["kl"])
    # oracle online IPO moved away from μ and beats SFT (the old check, kept)
    ipo = a["frontier"]["online_ipo"][0]
    assert ipo["ci"][0] > 0.5 and ipo["kl"] > 0.3, ipo
    # The gold quality terms are point estimates on 300 prompts after 15 steps: their
    # differences from SFT (±0.03 here) are within noise and change with the CPU's rounding
    # (measured on 2026-12-03, the code of 2026-11 included: q 1.40 vs SFT 1.42, covered
    # facts 2.59 vs 2.56), so they are reported, not asserted; the claim above (gold win rate
    # against SFT, CI above ½) is the one with a confidence interval.
    q = s["arms"]["oracle"]["quality"]
    for who in ("sft", "online_ipo"):
        assert {"q", "covered", "invented"} <= set(q[who])
        assert all(np.isfinite(q[who][k]) for k in ("q", "covered", "invented"))

    # layout of summary.json (issue: three arms, frontier points, gate figures)
    assert s["eval_prompts"] == 1000 and s["seeds"] == 1 and s["logp_reduction"] == "sum"
    assert set(s["arms"]) == set(ARMS)
    for kind in ("pm", "rm"):
        assert {
            "label_accuracy",
            "agreement_with_gold_majority",
            "agreement_on_policy_pairs",
            "one_vote_ceiling",
            "no_document_ceiling",
        } <= set(s[kind])
        assert 0.5 < s[kind]["one_vote_ceiling"] < 1
    assert set(s["sft"]) >= {"covered", "invented", "data_covered", "data_invented"}
    for arm in ARMS:
        a = s["arms"][arm]
        assert a["methods"] == METHODS
        for key in ("mean", "ci_low", "ci_high"):
            assert np.asarray(a[key]).shape == (6, 6)
        lo, mid, hi = (np.asarray(a[k]) for k in ("ci_low", "mean", "ci_high"))
        assert (lo <= mid + 1e-12).all() and (mid <= hi + 1e-12).all()
        for m in METHODS:
            v = a["vs_sft"][m]
            assert v["ci"][0] <= v["mean"] <= v["ci"][1] and v["tau"] > 0
            assert len(a["frontier"][m]) >= 1  # the grid, plus the τ search's runs
    # the table against a direct recount: oracle arm, online IPO vs RL at the rule τ, every
    # seed pairing judged prompt by prompt with GoldJudge.prob (the scalar formula, not the
    # vectorised scores the results are built from), each way round
    from prefgame.experiments.summarisation import config as C
    from prefgame.experiments.summarisation import data as D
    from prefgame.experiments.summarisation import pipeline as P

    cfg = C.load(work / "config.json")
    gold, xs, a = P.eval_judge(cfg, "oracle"), D.prompts(cfg, "eval"), s["arms"]["oracle"]
    texts = {
        m: [
            P.read_json(P.run_dir(work, "oracle", m, a["vs_sft"][m]["tau"], seed) / "run.json")[
                "texts"
            ]
            for seed in range(s["seeds"])
        ]
        for m in ("online_ipo", "rl")
    }

    def recount(m: str, m2: str) -> np.ndarray:  # [seeds of m, seeds of m2, prompts]
        return np.array(
            [
                [[gold.prob(x, y, y2) for x, y, y2 in zip(xs, ys, ys2)] for ys2 in texts[m2]]
                for ys in texts[m]
            ]
        )

    i, j = METHODS.index("online_ipo"), METHODS.index("rl")
    w, back = recount("online_ipo", "rl"), recount("rl", "online_ipo")
    assert a["mean"][i][j] == pytest.approx(w.mean(), abs=1e-4)
    assert a["mean"][j][i] == pytest.approx(back.mean(), abs=1e-4)
    assert a["std"][i][j] == pytest.approx(np.std(w.mean(axis=2)), abs=1e-4)
    assert a["ci_low"][i][j] < w.mean() < a["ci_high"][i][j]

    _check_matched_layer(s, work)

    win = json.loads((out / "winrates.json").read_text())
    assert set(win) == {"methods", "mean", "std", "seeds", "prompts", "judge"}
    assert (out / "frontier.png").stat().st_size > 10_000
    text = (out / "RESULTS.md").read_text()
    assert "Table 2" in text and "paired bootstrap" in text

    # finished steps are reused: a rerun does no training and gives the same summary
    again = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "sft step" not in again.stdout and "seed 0:" not in again.stdout
    s2 = json.loads((out / "summary.json").read_text())
    assert s2["arms"]["oracle"]["mean"] == s["arms"]["oracle"]["mean"]


def _check_matched_layer(s: dict, work: Path) -> None:
    """The matched-KL layer of summary.json (issue 21): its keys, that every KL it reports is
    the mean of its runs', and one exploitability recounted with the scalar judge."""
    from prefgame.experiments.summarisation import config as C
    from prefgame.experiments.summarisation import data as D
    from prefgame.experiments.summarisation import pipeline as P
    from prefgame.tasks import factsum as FS

    cfg = C.load(work / "config.json")
    assert s["margin"] == cfg.margin and s["kl_targets"] == cfg.kl_targets
    fields = {"tau", "kl", "kl_eval", "seeds", "vs_sft", "exploitability", "style_excess"}
    for arm in cfg.matched_arms:
        a = s["arms"][arm]
        assert a["margin"] == cfg.margin
        mk = a["matched_kl"]
        assert mk["targets"] == cfg.kl_targets
        for t in cfg.kl_targets:
            key = str(float(t))
            ctl = a["controls"]["sharpened_sft"][key]
            assert fields <= set(ctl) and 0 < ctl["temperature"] < 1
            for m in [*METHODS, "sharpened_sft"]:
                b = ctl if m == "sharpened_sft" else mk[m][key]
                assert fields <= set(b), (arm, m)
                assert b["seeds"] == cfg.matched_seeds
                for stat in ("vs_sft", "exploitability", "style_excess"):
                    lo, hi = b[stat]["ci"]
                    assert lo - 1e-9 <= b[stat]["mean"] <= hi + 1e-9, (arm, m, stat)
                assert 0.5 - 1e-9 <= b["exploitability"]["mean"] <= 1
                if arm == "oracle_no_cycle":  # no cycle, no style part
                    assert b["style_excess"]["mean"] == 0 and b["style_excess"]["ci"] == [0, 0]
                if m == "sharpened_sft":
                    continue
                kls = [
                    P.read_json(P.run_dir(work, arm, m, b["tau"], seed) / "run.json")["kl_train"]
                    for seed in range(cfg.matched_seeds)
                ]
                assert b["kl"] == pytest.approx(np.mean(kls), abs=1e-3)
    # one exploitability against a direct recount: oracle RL at the first target, the best
    # response written out as text in every style and judged by GoldJudge.prob, pair by pair
    gold, xs = P.eval_judge(cfg, "oracle"), D.prompts(cfg, "eval")
    key = str(float(cfg.kl_targets[0]))
    b = s["arms"]["oracle"]["matched_kl"]["rl"][key]
    per_seed = []
    for seed in range(cfg.matched_seeds):
        ys = P.read_json(P.run_dir(work, "oracle", "rl", b["tau"], seed) / "run.json")["texts"]
        best = []
        for style in (*FS.STYLES, "none"):
            wins = []
            for x, y in zip(xs, ys):
                f = FS.parse_facts(x)
                br = (
                    "{what} {who} in {where} on {when} for {why}".format(**f)
                    if style == "none"
                    else FS.reference_summary(f, style)
                )
                wins.append(gold.prob(x, br, y))
            best.append(np.mean(wins))
        per_seed.append(max(best))
    assert b["exploitability"]["mean"] == pytest.approx(np.mean(per_seed), abs=1e-4)
