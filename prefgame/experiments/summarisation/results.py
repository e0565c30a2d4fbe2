"""Win-rate tables, frontiers and the gate figures from the finished runs (``summary.json``).

Everything here reads the work folder's artefacts (``run.json`` of every alignment run,
``sft_samples.json``, ``pairs.json``, ``pm.json``, ``rm.json``) and the gold judge; nothing is
trained.  The layout of ``summary.json``::

    {"eval_prompts": N, "seeds": S, "logp_reduction": "sum",
     "pm": GATE, "rm": GATE, "sft": {"covered", "invented", "data_covered", "data_invented"},
     "arms": {"oracle": ARM, "learned": ARM, "oracle_no_cycle": ARM}}

    ARM = {"methods": [...], "mean": 6×6, "ci_low": 6×6, "ci_high": 6×6,       (rule τ)
           "vs_sft": {m: {"mean", "ci": [lo, hi], "kl", "tau"}},                (rule τ)
           "paper_tau": {"mean", "ci_low", "ci_high", "vs_sft"},                (paper τ)
           "frontier": {m: [{"tau", "kl", "kl_train", "vs_sft", "ci": [lo, hi]}, ...]}}
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prefgame.experiments.summarisation import data as D
from prefgame.experiments.summarisation import evaluate as E
from prefgame.experiments.summarisation import pipeline as P
from prefgame.experiments.summarisation import stats as S
from prefgame.experiments.summarisation.config import ExperimentConfig
from prefgame.llm.evaluate import WinRateMatrix

__all__ = ["arm_results", "gate_results", "summarise"]


class _Scores:
    """Gold scores (q, style) of every text set, computed once."""

    def __init__(self, gold, xs: list[str]):
        self.gold, self.xs, self.cache = gold, xs, {}

    def __call__(self, key, texts: list[str]):
        if key not in self.cache:
            self.cache[key] = self.gold.scores(self.xs, texts)
        return self.cache[key]

    def wins(self, a: tuple, b: tuple) -> np.ndarray:
        """W[s, t, n] for lists of (key, texts) per seed on each side."""
        sa = [self(k, t) for k, t in a]
        sb = [self(k, t) for k, t in b]
        return np.stack(
            [np.stack([self.gold.prob_from_scores(q, s, q2, s2) for q2, s2 in sb]) for q, s in sa]
        )


def _runs(work: Path, arm: str, method: str, tau: float, seeds: int) -> list[tuple]:
    out = []
    for s in range(seeds):
        rec = P.read_json(P.run_dir(work, arm, method, tau, s) / "run.json")
        out.append(((arm, method, tau, s), rec["texts"], rec["kl_eval"]))
    return out


def _table(cfg, scores: _Scores, runs: dict, sft: list, rng) -> dict:
    """Matrix, CIs and vs-SFT win rates for one choice of τ per method (all seeds)."""
    ms = list(runs)
    n = len(scores.xs)
    res = S.draw_resamples(
        n, {**{m: len(runs[m]) for m in ms}, "sft": len(sft)}, size=cfg.bootstrap, rng=rng
    )
    table = WinRateMatrix.from_wins(
        ms,
        lambda a, b: scores.wins([(r[0], r[1]) for r in runs[a]], [(r[0], r[1]) for r in runs[b]]),
        lambda a, b, w: S.percentile_ci(S.bootstrap_win_rate(w, res, a, b)),
        ddof=0,  # the spread over seed pairings as first reported (population std)
    )
    vs = {}
    for m in ms:
        w = scores.wins([(r[0], r[1]) for r in runs[m]], sft)
        reps = S.bootstrap_win_rate(w, res, m, "sft")
        lo_, hi_ = S.percentile_ci(reps)
        vs[m] = {
            "mean": float(w.mean()),
            "ci": [lo_, hi_],
            "kl": float(np.mean([r[2] for r in runs[m]])),
            "seeds": len(runs[m]),
        }
    r4 = lambda a: np.round(a, 4).tolist()
    return {
        "methods": ms,
        "mean": r4(table.mean),
        "ci_low": r4(table.ci_low),
        "ci_high": r4(table.ci_high),
        "std": r4(table.std),
        "vs_sft": vs,
    }


def arm_results(cfg: ExperimentConfig, work: Path, arm: str, rule: dict) -> dict:
    """The ARM block of ``summary.json`` for one arm."""
    gold = P.eval_judge(cfg, arm)
    xs = D.prompts(cfg, "eval")
    scores = _Scores(gold, xs)
    sft = [(("sft", s), t) for s, t in enumerate(P.sft_samples(cfg, work)["texts"])]
    rng = np.random.default_rng(P.stream_seed("bootstrap", arm))
    ms = list(cfg.methods)
    out: dict = {"judge": gold.describe()}
    for name, taus in (("rule", rule[arm]), ("paper_tau", cfg.paper_tau)):
        runs = {m: _runs(work, arm, m, float(taus[m]), cfg.seeds) for m in ms}
        tab = _table(cfg, scores, runs, sft, rng)
        for m in ms:
            tab["vs_sft"][m]["tau"] = float(taus[m])
        if name == "rule":
            out.update(tab)
        else:
            out["paper_tau"] = tab
    res = S.draw_resamples(len(xs), {"run": 1, "sft": 1}, size=cfg.bootstrap, rng=rng)
    out["frontier"] = {}
    for m in ms:
        pts = []
        for t in sorted(cfg.tau_grid[m], reverse=True):
            rec = P.read_json(P.run_dir(work, arm, m, float(t), 0) / "run.json")
            w = scores.wins([((arm, m, float(t), 0), rec["texts"])], sft[:1])
            lo_, hi_ = S.percentile_ci(S.bootstrap_win_rate(w, res, "run", "sft"))
            pts.append(
                {
                    "tau": float(t),
                    "kl": rec["kl_eval"],
                    "kl_train": rec["kl_train"],
                    "vs_sft": float(w.mean()),
                    "ci": [lo_, hi_],
                }
            )
        out["frontier"][m] = pts
    # gold-quality terms per method at the rule τ (seed 0): what the policies learned
    out["quality"] = {}
    for m in ["sft", *ms]:
        texts = (
            sft[0][1]
            if m == "sft"
            else P.read_json(P.run_dir(work, arm, m, float(rule[arm][m]), 0) / "run.json")["texts"]
        )
        parts = [gold.quality_parts(x, y) for x, y in zip(xs, texts)]
        q = {
            k: float(np.mean([p[k] for p in parts]))
            for k in ("q", "covered", "invented", "repeated", "excess_len")
        }
        styles = [D.FS.summary_style(y) for y in texts]
        q["styles"] = {s: styles.count(s) / len(styles) for s in (*D.FS.STYLES, "none")}
        out["quality"][m] = q
    return out


def gate_results(cfg: ExperimentConfig, work: Path) -> dict:
    """PM and RM figures (:func:`~prefgame.experiments.summarisation.evaluate.scorer_metrics`),
    the breakdowns, the Bradley–Terry oracle's agreement (the RM's best achievable) and the
    gate verdicts."""
    pairs = P.make_pairs(cfg, work)
    gold = D.gold_judge(cfg)
    train = {
        k: pairs["pairs_writer"][k] + pairs["pairs_policy"][k] for k in ("x", "y", "y2", "label")
    }
    blind = E.doc_blind_model(train)
    blind_p = (blind(pairs["heldout_writer"]), blind(pairs["heldout_policy"]))
    weights = P.fit_oracle_reward(cfg, work, cycle=True)
    bt = P.M.GoldReward(gold, weights)
    bt_p = [
        bt(h["x"], h["y"], h["y2"]).numpy()
        for h in (pairs["heldout_writer"], pairs["heldout_policy"])
    ]
    out = {}
    for kind in ("pm", "rm"):
        info = P.read_json(work / f"{kind}.json")
        pw, pp = np.asarray(info["p_heldout_writer"]), np.asarray(info["p_heldout_policy"])
        g = E.scorer_metrics(pairs, pw, pp, blind_p)
        g["breakdown"] = {
            "writer": E.breakdown(pairs["heldout_writer"], pw, gold),
            "policy": E.breakdown(pairs["heldout_policy"], pp, gold),
        }
        g.update(train_pairs=info["train_pairs"], params=info["params"], time_s=info["time_s"])
        if kind == "pm":
            need = (cfg.pm_gate, cfg.pm_gate_policy)
        else:  # the RM cannot express the cycle: its bar is the best a reward achieves
            g["bt_oracle_agreement"] = E.sign_agreement(bt_p[0], pairs["heldout_writer"]["p_gold"])
            g["bt_oracle_agreement_policy_pairs"] = E.sign_agreement(
                bt_p[1], pairs["heldout_policy"]["p_gold"]
            )
            need = (
                min(cfg.pm_gate, g["bt_oracle_agreement"]),
                min(cfg.pm_gate_policy, g["bt_oracle_agreement_policy_pairs"]),
            )
        g["gate"] = {
            "writer_pairs": need[0],
            "policy_pairs": need[1],
            "passed": bool(
                g["agreement_with_gold_majority"] >= need[0]
                and g["agreement_on_policy_pairs"] >= need[1]
            ),
        }
        out[kind] = g
    out["blind_breakdown"] = {
        "writer": E.breakdown(pairs["heldout_writer"], blind_p[0], gold),
        "policy": E.breakdown(pairs["heldout_policy"], blind_p[1], gold),
    }
    return out


def summarise(cfg: ExperimentConfig, work: Path, rule: dict) -> dict:
    """``summary.json`` (layout in the module docstring) plus provenance."""
    sft = P.read_json(work / "sft.json")
    out = {
        "eval_prompts": cfg.n_eval_prompts,
        "seeds": cfg.seeds,
        "logp_reduction": cfg.logp_reduction,
        "kl_target": cfg.kl_target,
        "rule_tau": rule,
        "sft": {
            k: sft[k]
            for k in (
                "covered",
                "invented",
                "data_covered",
                "data_invented",
                "q",
                "data_q",
                "repeated",
                "data_repeated",
            )
        },
    }
    runs = sorted((work / "align").glob("*/*/*/run.json"))
    out["timing"] = {
        "sft_min": round(sft["time_s"] / 60, 2),
        **{
            f"{k}_min": round(P.read_json(work / f"{k}.json")["time_s"] / 60, 2)
            for k in ("pm", "rm")
            if (work / f"{k}.json").exists()
        },
        "alignment_runs": len(runs),
        "alignment_process_min": round(sum(P.read_json(r)["time_s"] for r in runs) / 60, 1),
    }
    if "learned" in cfg.arms:
        out.update(gate_results(cfg, work))
    out["arms"] = {arm: arm_results(cfg, work, arm, rule) for arm in cfg.arms}
    return out
