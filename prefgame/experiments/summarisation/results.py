"""Win-rate tables, frontiers and the gate figures from the finished runs (``summary.json``).

Everything here reads the work folder's artefacts (``run.json`` of every alignment run,
``sft_samples.json``, ``pairs.json``, ``pm.json``, ``rm.json``) and the gold judge; nothing is
trained.  The layout of ``summary.json``::

    {"eval_prompts": N, "seeds": S, "logp_reduction": "sum",
     "pm": GATE, "rm": GATE, "sft": {"covered", "invented", "data_covered", "data_invented"},
     "arms": {"oracle": ARM, "learned": ARM, "oracle_no_cycle": ARM}}

    ARM = {"methods": [...], "mean": 6×6, "ci_low": 6×6, "ci_high": 6×6,       (rule τ)
           "vs_sft": {m: {"mean", "ci": [lo, hi], "kl", "tau"}},                (rule τ)
           "paper_tau": {"mean", "ci_low", "ci_high", "vs_sft"},   (paper τ, if run)
           "frontier": {m: [{"tau", "kl", "kl_train", "vs_sft", "ci": [lo, hi]}, ...]},
           "matched_kl": MATCHED, "controls": {"sharpened_sft": {TARGET: POLICY}},
           "comparisons": {TARGET: {m: {...}}}, "margin": m}           (matched arms only)

    MATCHED = {"targets": [1.0, 2.0], "tolerance", "seeds", m: {TARGET: POLICY}}
    POLICY  = {"tau" (or "temperature"), "kl" (mean over seeds, training prompts), "kl_eval",
               "kl_seeds", "matched", "seeds", "vs_sft": {"mean", "ci"},
               "exploitability": {"mean", "ci"}, "style_excess": {"mean", "ci"},
               "best_response_style", "styles", "q", "vs_sharpened_sft": {"mean", "ci"}}

Every CI is a 95 % percentile interval of a bootstrap over prompts *and* seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prefgame.experiments.summarisation import data as D
from prefgame.experiments.summarisation import evaluate as E
from prefgame.experiments.summarisation import exploit as X
from prefgame.experiments.summarisation import matched as MK
from prefgame.experiments.summarisation import pipeline as P
from prefgame.experiments.summarisation import stats as S
from prefgame.experiments.summarisation.config import ExperimentConfig
from prefgame.llm.evaluate import WinRateMatrix
from prefgame.llm.methods import METHODS

#: methods whose declared target (``Method.target``) is a Nash equilibrium: of the regularised
#: game (online IPO) or of its mixture (IPO-MD, Nash-MD-PG, Prop. 5.2)
NASH_TARGETS = ("nash", "mixture_nash")
#: families of methods by their declared target: Nash-targeting, contrastive Bradley–Terry
#: (online DPO, online SLiC) and reward maximisation (RL)
FAMILIES = {
    "nash": NASH_TARGETS,
    "contrastive": ("dpo_stationary", "slic_stationary"),
    "reward": ("rlhf",),
}

__all__ = ["arm_results", "gate_results", "matched_results", "summarise", "verdict"]


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


def arm_results(
    cfg: ExperimentConfig, work: Path, arm: str, rule: dict, searched: dict | None = None
) -> dict:
    """The ARM block of ``summary.json`` for one arm (``searched``: the τ search of a matched
    arm, whose seed-0 runs join the frontier)."""
    gold = P.eval_judge(cfg, arm)
    xs = D.prompts(cfg, "eval")
    scores = _Scores(gold, xs)
    sft = [(("sft", s), t) for s, t in enumerate(P.sft_samples(cfg, work)["texts"])]
    rng = np.random.default_rng(P.stream_seed("bootstrap", arm))
    ms = list(cfg.methods)
    out: dict = {"judge": gold.describe()}
    tables = [("rule", rule[arm])] + ([("paper_tau", cfg.paper_tau)] if cfg.paper_tau_table else [])
    for name, taus in tables:
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
        taus = {float(t) for t in cfg.tau_grid[m]}
        for rec in (searched or {}).get(m, {}).values():
            taus |= {float(t) for t, _ in rec["search"]}
        for t in sorted(taus, reverse=True):
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


def verdict(mean: float, ci: list[float] | tuple[float, float], margin: float) -> str:
    """The verdict on a difference d (of exploitabilities, or a win rate minus ½):

    * "lower" / "higher": the 95 % CI excludes 0 and the estimate is beyond ∓margin;
    * "equivalent": the CI lies inside [−margin, +margin];
    * "inconclusive": anything else (a CI too wide for either statement).
    """
    lo, hi = ci
    if hi < 0 and mean <= -margin:
        return "lower"
    if lo > 0 and mean >= margin:
        return "higher"
    if -margin <= lo and hi <= margin:
        return "equivalent"
    return "inconclusive"


def _ci(reps: np.ndarray, point: float) -> dict:
    lo, hi = S.percentile_ci(reps)
    return {"mean": round(float(point), 5), "ci": [round(lo, 5), round(hi, 5)]}


def _policy_block(
    gold, q_star: np.ndarray, scores: _Scores, name: str, sets: list, res, rivals: dict
) -> tuple[dict, np.ndarray]:
    """POLICY block (module docstring) of one policy's seed sets, with its exploitability
    replicates; ``rivals`` {label: (name, sets)} are the opponents of the win rates."""
    tables = np.stack(
        [X.best_response_table(gold, q_star, *scores(k, t)) for k, t in sets]
    )  # [S, 4, N]
    reps = X.replicates(tables, res.counts, res.seeds[name])
    point = float(np.mean([X.exploitability(t)[0] for t in tables]))
    pooled = tables.mean(axis=(0, 2))
    # the style part: the same replicates with the style-neutral ("none") response subtracted
    none = X.BR_STYLES.index("none")
    neutral = np.stack([t[none] for t in tables])[:, None, :].repeat(len(X.BR_STYLES), axis=1)
    style_reps = reps - X.replicates(neutral, res.counts, res.seeds[name])
    styles = [s for k, t in sets for s in scores(k, t)[1]]
    block = {
        "seeds": len(sets),
        "exploitability": _ci(reps, point),
        "style_excess": _ci(style_reps, float(np.mean([X.style_excess(t) for t in tables]))),
        "best_response_style": X.BR_STYLES[int(np.argmax(pooled))],
        "styles": {st: round(styles.count(i) / len(styles), 4) for i, st in enumerate(X.BR_STYLES)},
        "q": round(float(np.mean([scores(k, t)[0].mean() for k, t in sets])), 4),
    }
    win_reps = {}
    for label, (rival, rsets) in rivals.items():
        w = scores.wins(sets, rsets)
        win_reps[label] = S.bootstrap_win_rate(w, res, name, rival)
        block[label] = _ci(win_reps[label], float(w.mean()))
    return block, reps, style_reps, win_reps


def matched_results(
    cfg: ExperimentConfig, work: Path, arm: str, searched: dict, sharpened: dict
) -> dict:
    """``matched_kl``, ``controls``, ``comparisons`` and ``margin`` of a matched arm.

    Per KL target: every method at its matched τ (``matched_seeds`` seeds) and the sharpened
    SFT at its matched temperature, each scored by the arm's gold judge: exploitability, its
    style part, win rates against SFT and against the sharpened SFT; then the differences of
    exploitability against RL and against the sharpened SFT, and the head-to-head win rate
    against RL, each with a CI from one shared bootstrap (prompts and seeds) and a verdict
    (:func:`verdict`, margin ``cfg.margin``).
    """
    gold = P.eval_judge(cfg, arm)
    xs = D.prompts(cfg, "eval")
    scores = _Scores(gold, xs)
    q_star = X.best_quality(gold, xs)
    sft = [(("sft", s), t) for s, t in enumerate(P.sft_samples(cfg, work)["texts"])]
    rng = np.random.default_rng(P.stream_seed("bootstrap-matched", arm))
    ms = list(cfg.methods)
    matched: dict = {
        "targets": [float(t) for t in cfg.kl_targets],
        "tolerance": cfg.kl_tolerance,
        "seeds": cfg.matched_seeds,
    }
    controls: dict = {"sharpened_sft": {}}
    comparisons: dict = {}
    nash_family: dict = {}
    family_reps: dict = {}
    families: dict = {}
    for m in ms:
        matched[m] = {}
    for target in cfg.kl_targets:
        key = str(float(target))
        sets = {}
        for m in ms:
            tau = float(searched[m][key]["tau"])
            sets[m] = [
                (
                    (arm, m, tau, s),
                    P.read_json(P.run_dir(work, arm, m, tau, s) / "run.json")["texts"],
                )
                for s in range(cfg.matched_seeds)
            ]
        sh = sharpened[key]
        sets["sharpened_sft"] = [(("sharpened", key, s), t) for s, t in enumerate(sh["texts"])]
        res = S.draw_resamples(
            len(xs),
            {**{name: len(v) for name, v in sets.items()}, "sft": len(sft)},
            size=cfg.bootstrap,
            rng=rng,
        )
        reps, style_reps, win_reps = {}, {}, {}
        for name, v in sets.items():
            rivals = {"vs_sft": ("sft", sft)}
            if name != "sharpened_sft":
                rivals["vs_sharpened_sft"] = ("sharpened_sft", sets["sharpened_sft"])
            else:  # the control against itself: independent streams of one policy
                rivals["vs_sharpened_sft"] = ("sharpened_sft", v)
            block, reps[name], style_reps[name], win_reps[name] = _policy_block(
                gold, q_star, scores, name, v, res, rivals
            )
            if name == "sharpened_sft":
                kls = np.array(sh["kl_eval"])
                block = {
                    "tau": None,  # no judge, no τ: the temperature is the knob
                    "temperature": sh["temperature"],
                    "kl": round(sh["kl_train"], 4),
                    "kl_eval": round(float(kls.mean()), 4),
                    "kl_seeds": [round(float(k), 4) for k in kls],
                    "matched": MK.within(sh["kl_train"], target, cfg.kl_tolerance),
                    **block,
                }
                controls["sharpened_sft"][key] = block
            else:
                tau = float(searched[name][key]["tau"])
                kls = MK.seed_kls(cfg, work, arm, name, tau)
                mean_kl = float(kls[:, 0].mean())
                matched[name][key] = {
                    "tau": tau,
                    "kl": round(mean_kl, 4),
                    "kl_eval": round(float(kls[:, 1].mean()), 4),
                    "kl_seeds": [round(float(k), 4) for k in kls[:, 0]],
                    "kl_search": round(float(searched[name][key]["kl_train"]), 4),
                    "matched": MK.within(mean_kl, target, cfg.kl_tolerance),
                    **block,
                }
        comp = {}
        for m in ms:
            c = {}
            for rival in ("rl", "sharpened_sft"):
                if rival == m or rival not in reps:
                    continue
                other = (
                    controls["sharpened_sft"][key]
                    if rival == "sharpened_sft"
                    else matched[rival][key]
                )
                for stat, r in (("exploitability", reps), ("style_excess", style_reps)):
                    d = r[m] - r[rival]
                    blk = _ci(d, matched[m][key][stat]["mean"] - other[stat]["mean"])
                    blk["verdict"] = verdict(blk["mean"], blk["ci"], cfg.margin)
                    c[f"{stat}_minus_{rival}"] = blk
            if "rl" in sets and m != "rl":
                w = scores.wins(sets[m], sets["rl"])
                blk = _ci(S.bootstrap_win_rate(w, res, m, "rl"), float(w.mean()))
                blk["verdict"] = verdict(
                    blk["mean"] - 0.5, [x - 0.5 for x in blk["ci"]], cfg.margin
                )
                c["vs_rl"] = blk
            comp[m] = c
        comparisons[key] = comp
        # the Nash-targeting methods together: their mean exploitability against the rivals'
        nash = [m for m in ms if METHODS[m].target in NASH_TARGETS]
        if nash:
            fam = np.mean([reps[m] for m in nash], axis=0)
            point = float(np.mean([matched[m][key]["exploitability"]["mean"] for m in nash]))
            blk = {"methods": nash, "exploitability": _ci(fam, point)}
            # rivals: RL, the judge-free control, and the contrastive methods together
            contrastive = [m for m in ms if METHODS[m].target in FAMILIES["contrastive"]]
            rivals = {
                r: (reps[r], e)
                for r, e in (
                    ("rl", "rl" in matched and matched["rl"].get(key)),
                    ("sharpened_sft", controls["sharpened_sft"][key]),
                )
                if r in reps and e
            }
            if contrastive:
                rivals["contrastive"] = (
                    np.mean([reps[m] for m in contrastive], axis=0),
                    {
                        "exploitability": {
                            "mean": float(
                                np.mean(
                                    [matched[m][key]["exploitability"]["mean"] for m in contrastive]
                                )
                            )
                        }
                    },
                )
            for rival, (r, other) in rivals.items():
                d = _ci(fam - r, point - other["exploitability"]["mean"])
                d["verdict"] = verdict(d["mean"], d["ci"], cfg.margin)
                blk[f"minus_{rival}"] = d
                family_reps[(key, rival)] = fam - r
            nash_family[key] = blk
        # each family of methods (by the registry's declared target): its members' mean win
        # rate against the sharpened SFT at this KL, the effect that a judge-free policy lacks
        fam_blk = {}
        for fam, targets in FAMILIES.items():
            members = [m for m in ms if METHODS[m].target in targets]
            if members:
                r = np.mean([win_reps[m]["vs_sharpened_sft"] for m in members], axis=0)
                point = float(
                    np.mean([matched[m][key]["vs_sharpened_sft"]["mean"] for m in members])
                )
                fam_blk[fam] = {"methods": members, "vs_sharpened_sft": _ci(r, point)}
        families[key] = fam_blk
    return {
        "matched_kl": matched,
        "controls": controls,
        "comparisons": comparisons,
        "nash_family": nash_family,
        "families": families,
        "margin": cfg.margin,
        "_family_reps": family_reps,
    }


def nash_gap_interaction(cfg: ExperimentConfig, blocks: dict) -> dict:
    """The Nash claim's contrast: the Nash-targeting methods' exploitability gap to a rival
    (RL, the sharpened SFT) with the cycle minus the same gap without it (λ = 0), per KL
    target.  The two arms' bootstraps are independent (a conservative CI: both arms share
    the evaluation prompts, so the true covariance is positive)."""
    out: dict = {}
    a, b = blocks["oracle"], blocks["oracle_no_cycle"]
    for (key, rival), reps in a["_family_reps"].items():
        other = b["_family_reps"].get((key, rival))
        if other is None:
            continue
        point = (
            a["nash_family"][key][f"minus_{rival}"]["mean"]
            - b["nash_family"][key][f"minus_{rival}"]["mean"]
        )
        blk = _ci(reps - other, point)
        blk["verdict"] = verdict(blk["mean"], blk["ci"], cfg.margin)
        out.setdefault(key, {})[f"minus_{rival}"] = blk
    return out


def cycle_response(cfg: ExperimentConfig, work: Path, searched: dict, sharpened: dict) -> dict:
    """How much each method plays the style cycle: its *style* win rate against SFT,

        c(π) = mean_{s,t,n} C[style(y_{s,n}), style(y^SFT_{t,n})] − ½,

    in the oracle arm minus the same in the λ = 0 arm, per method and KL target (one shared
    bootstrap over prompts and seeds).  Only the judge differs between the two arms, so this
    is the part of the policy's style that answers the preference cycle; a judge-free policy
    (the sharpened SFT) is the same in both arms and scores exactly 0.
    """
    arms = ("oracle", "oracle_no_cycle")
    xs = D.prompts(cfg, "eval")
    gold = P.eval_judge(cfg, "oracle")
    sft = [gold.scores(xs, t)[1] for t in P.sft_samples(cfg, work)["texts"]]
    rng = np.random.default_rng(P.stream_seed("bootstrap-cycle"))
    styles_only = D.FS.GoldJudge(cycle_weight=1.0)  # P = C[s, s']: the cycle alone

    def cycle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return styles_only.prob_from_scores(0.0, a, 0.0, b)

    out: dict = {}
    for target in cfg.kl_targets:
        key = str(float(target))
        styles: dict = {}
        for arm in arms:
            for m in cfg.methods:
                tau = float(searched[arm][m][key]["tau"])
                styles[(arm, m)] = [
                    gold.scores(
                        xs, P.read_json(P.run_dir(work, arm, m, tau, s) / "run.json")["texts"]
                    )[1]
                    for s in range(cfg.matched_seeds)
                ]
        sh = [gold.scores(xs, t)[1] for t in sharpened[key]["texts"]]
        for arm in arms:
            styles[(arm, "sharpened_sft")] = sh
        # the control is one policy in both arms: one name, one seed draw, a difference of 0
        names = {
            k: "sharpened_sft" if k[1] == "sharpened_sft" else f"{k[0]}:{k[1]}" for k in styles
        }
        res = S.draw_resamples(
            len(xs),
            {**{names[k]: len(v) for k, v in styles.items()}, "sft": len(sft)},
            size=cfg.bootstrap,
            rng=rng,
        )
        out[key] = {}
        for m in [*cfg.methods, "sharpened_sft"]:
            reps, point = [], []
            for arm in arms:
                w = np.stack([np.stack([cycle(a, b) for b in sft]) for a in styles[(arm, m)]])
                reps.append(S.bootstrap_win_rate(w, res, names[(arm, m)], "sft"))
                point.append(float(w.mean()))
            blk = _ci(reps[0] - reps[1], point[0] - point[1])
            blk["oracle"] = round(point[0] - 0.5, 5)
            blk["oracle_no_cycle"] = round(point[1] - 0.5, 5)
            out[key][m] = blk
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


def summarise(
    cfg: ExperimentConfig,
    work: Path,
    rule: dict,
    searched: dict | None = None,
    sharpened: dict | None = None,
) -> dict:
    """``summary.json`` (layout in the module docstring) plus provenance; ``searched``: the
    τ search per matched arm and method, ``sharpened``: the sharpened-SFT control."""
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
    searched = searched or {}
    out["arms"] = {}
    blocks = {}
    for arm in cfg.arms:
        out["arms"][arm] = arm_results(cfg, work, arm, rule, searched.get(arm))
        if arm in searched:
            blocks[arm] = matched_results(cfg, work, arm, searched[arm], sharpened)
            out["arms"][arm].update({k: v for k, v in blocks[arm].items() if k[0] != "_"})
    if set(searched) >= {"oracle", "oracle_no_cycle"}:
        out["cycle_response"] = cycle_response(cfg, work, searched, sharpened)
        out["nash_gap_interaction"] = nash_gap_interaction(cfg, blocks)
    if searched:
        out["kl_targets"] = [float(t) for t in cfg.kl_targets]
        out["matched_seeds"] = cfg.matched_seeds
        out["margin"] = cfg.margin
    return out
