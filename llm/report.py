"""Write the results folder: winrates.json, the matrix next to the paper's Table 2, KL per
method, training curves, and an automatic comparison with the paper's qualitative findings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

NAMES = {"online_ipo": "IPO", "ipo_md": "IPO-MD", "online_dpo": "DPO",
         "nash_md_pg": "Nash-MD-PG", "online_slic": "SLiC", "rl": "RL"}

#: Calandriello et al. (2024) Table 2, P(row ≻ column), keyed by (row, column); the lower
#: triangle is 1 − upper (the paper prints only the upper triangle's standard deviations).
_UPPER = {("online_ipo", "ipo_md"): (.515, .024), ("online_ipo", "online_dpo"): (.608, .038),
          ("online_ipo", "nash_md_pg"): (.621, .030), ("online_ipo", "online_slic"): (.608, .025),
          ("online_ipo", "rl"): (.791, .012), ("ipo_md", "online_dpo"): (.600, .028),
          ("ipo_md", "nash_md_pg"): (.608, .026), ("ipo_md", "online_slic"): (.594, .020),
          ("ipo_md", "rl"): (.778, .004), ("online_dpo", "nash_md_pg"): (.520, .041),
          ("online_dpo", "online_slic"): (.493, .040), ("online_dpo", "rl"): (.727, .020),
          ("nash_md_pg", "online_slic"): (.479, .029), ("nash_md_pg", "rl"): (.729, .020),
          ("online_slic", "rl"): (.728, .010)}
PAPER_TAU = {"rl": 0.05, "online_ipo": 1.0, "online_dpo": 5.0, "online_slic": 10.0,
             "ipo_md": 1.0, "nash_md_pg": 0.008}
PAPER_BETA = {"ipo_md": 0.125, "nash_md_pg": 0.125}


def paper(a: str, b: str) -> float | None:
    if a == b:
        return 0.5
    if (a, b) in _UPPER:
        return _UPPER[(a, b)][0]
    if (b, a) in _UPPER:
        return round(1.0 - _UPPER[(b, a)][0], 3)
    return None


def _f3(x: float) -> str:
    """0.608 -> ".608" (the paper's style)."""
    return f"{x:.3f}".replace("0.", ".", 1) if 0 <= x < 1 else f"{x:.3f}"


def matrix_markdown(win: dict) -> str:
    """Rows P(row ≻ col): "ours ± std (paper)"."""
    ms = win["methods"]
    head = "| row \\ col | " + " | ".join(NAMES.get(m, m) for m in ms) + " |"
    lines = [head, "|" + "---|" * (len(ms) + 1)]
    for i, a in enumerate(ms):
        cells = []
        for j, b in enumerate(ms):
            p = paper(a, b)
            ref = f" ({_f3(p)})" if p is not None else ""
            if i == j:
                cells.append(f".500{ref}")
            else:
                cells.append(f"**{_f3(win['mean'][i][j])}** ± {_f3(win['std'][i][j])}{ref}")
        lines.append(f"| {NAMES.get(a, a)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparison_lines(win: dict) -> list[str]:
    """The paper's qualitative claims about Table 2, checked one by one on our matrix.

    A pairing counts as a *win* when mean − ½ > 2 std over seed pairings (and mean > .52), as a
    *tie* when |mean − ½| ≤ max(2 std, .02), otherwise as unclear.
    """
    ms = win["methods"]
    M, S = np.asarray(win["mean"]), np.asarray(win["std"])

    def rel(a, b):
        if a not in ms or b not in ms:
            return "n/a"
        i, j = ms.index(a), ms.index(b)
        d, s = M[i, j] - 0.5, S[i, j]
        if d > max(2 * s, 0.02):
            return "win"
        if -d > max(2 * s, 0.02):
            return "loss"
        if abs(d) <= max(2 * s, 0.02):
            return "tie"
        return "unclear"

    def fmt(a, b):
        if a not in ms or b not in ms:
            return "n/a"
        i, j = ms.index(a), ms.index(b)
        return f"{M[i, j]:.3f} ± {S[i, j]:.3f}"

    claims = [
        ("IPO and IPO-MD tie", [("online_ipo", "ipo_md", "tie")]),
        ("IPO beats DPO, SLiC, Nash-MD-PG and RL",
         [("online_ipo", b, "win") for b in ("online_dpo", "online_slic", "nash_md_pg", "rl")]),
        ("IPO-MD beats DPO, SLiC, Nash-MD-PG and RL",
         [("ipo_md", b, "win") for b in ("online_dpo", "online_slic", "nash_md_pg", "rl")]),
        ("DPO, SLiC and Nash-MD-PG tie with each other",
         [("online_dpo", "online_slic", "tie"), ("online_dpo", "nash_md_pg", "tie"),
          ("nash_md_pg", "online_slic", "tie")]),
        ("every other method beats RL",
         [(a, "rl", "win") for a in ("online_ipo", "ipo_md", "online_dpo", "nash_md_pg",
                                      "online_slic")]),
    ]
    out = []
    for text, checks in claims:
        got = [(a, b, want, rel(a, b)) for a, b, want in checks]
        held = all(g == want for _, _, want, g in got)
        detail = "; ".join(f"{NAMES[a]} vs {NAMES[b]}: {fmt(a, b)} -> {g}" for a, b, _, g in got)
        out.append(f"- {'MATCHES' if held else 'DOES NOT MATCH'}: paper says {text}. "
                   f"Here: {detail}.")
    return out


def curves_figure(logs: dict, path: Path) -> None:
    """Training curves (mean over seeds): gold quality, KL(π‖μ), training loss, mean score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [("gold_q", "gold-judge quality q of π samples (eval only)"),
            ("kl", "KL(π‖μ) estimate (nats / summary)"),
            ("loss", "training loss"),
            ("score", "PM P(y ≻ y') / RM reward of sample y")]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    for ax, (k, title) in zip(axes.flat, keys):
        for m, runs in logs.items():
            steps = [e["step"] for e in runs[0] if e.get(k) is not None]
            vals = np.array([[e[k] for e in r if e.get(k) is not None] for r in runs])
            if vals.size == 0:
                continue
            mu, sd = vals.mean(0), vals.std(0)
            ax.plot(steps, mu, label=NAMES.get(m, m))
            ax.fill_between(steps, mu - sd, mu + sd, alpha=0.2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_results(out: Path, evaluation: dict, cfg: dict, infos: dict, logs: dict,
                  command: str, elapsed_s: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    win, extra = evaluation["winrates"], evaluation["extra"]
    (out / "winrates.json").write_text(json.dumps(win, indent=1))
    stats = extra["policy_stats"]
    kl = {}
    for m in win["methods"]:
        runs = [v for k, v in stats.items() if k.rsplit("_s", 1)[0] == m]
        kl[m] = {"kl_mean": float(np.mean([r["kl"] for r in runs])),
                 "kl_std": float(np.std([r["kl"] for r in runs])),
                 "gold_q_mean": float(np.mean([r.get("gold_q", np.nan) for r in runs])),
                 "length_mean": float(np.mean([r["length"] for r in runs])),
                 "styles_mean": {s: float(np.mean([r["styles"][s] for r in runs]))
                                 for s in runs[0].get("styles", {})},
                 "winrate_vs_sft": extra["vs_sft"][m]}
    (out / "kl.json").write_text(json.dumps(kl, indent=1))
    (out / "details.json").write_text(json.dumps(
        {"config": cfg, "scorers": {k: {kk: vv for kk, vv in v.items() if kk != "curve"}
                                    for k, v in infos.items()},
         "policy_stats": stats, "examples": extra["examples"],
         "eval_prompt_examples": extra["eval_prompts_examples"]}, indent=1))
    curves_figure(logs, out / "curves.png")

    sft = stats.get("sft_s0", {})
    rows = ["| method | τ (paper τ) | β | KL(π‖μ) | gold q | length | styles who/where/when/none "
            "| win rate vs SFT |", "|---|---|---|---|---|---|---|---|"]
    for m in win["methods"]:
        k = kl[m]
        st = "/".join(f"{k['styles_mean'].get(s, 0):.2f}" for s in ("who", "where", "when",
                                                                       "none"))
        rows.append(f"| {NAMES.get(m, m)} | {cfg['tau'][m]} ({PAPER_TAU[m]}) | "
                    f"{cfg['beta'].get(m, '-')} | {k['kl_mean']:.2f} ± {k['kl_std']:.2f} | "
                    f"{k['gold_q_mean']:.2f} | {k['length_mean']:.1f} | {st} | "
                    f"{k['winrate_vs_sft']['mean']:.3f} ± {k['winrate_vs_sft']['std']:.3f} |")
    if sft:
        st = "/".join(f"{sft['styles'].get(s, 0):.2f}" for s in ("who", "where", "when", "none"))
        rows.append(f"| SFT (= μ) | - | - | 0 | {sft.get('gold_q', float('nan')):.2f} | "
                    f"{sft['length']:.1f} | {st} | .500 |")
    pm, rm = infos.get("pm", {}), infos.get("rm", {})
    text = [
        f"# {cfg['name']}: win rates under the gold judge, next to Calandriello et al. Table 2",
        "",
        f"Made by `{command}` in {elapsed_s / 60:.1f} min.",
        f"Judge: {win['judge']}.",
        f"{win['seeds']} seeds per method, {win['prompts']} held-out prompts, all "
        f"{win['seeds']}×{win['seeds']} seed pairings; cell = P(row ≻ column) mean ± std over "
        "pairings, paper's Table 2 value in parentheses.",
        "",
        matrix_markdown(win),
        "",
        "## Checks against the paper's reading of Table 2",
        "",
        *comparison_lines(win),
        "",
        "## Per method: KL to the reference, gold quality, styles, win rate against SFT",
        "",
        *rows,
        "",
        "## Preference and reward models (held-out pairs labelled by the gold judge)",
        "",
        f"- PM (pairwise): accuracy {pm.get('accuracy', float('nan')):.3f} on sampled labels, "
        f"agreement with the judge's majority {pm.get('agreement_with_judge', float('nan')):.3f}.",
        f"- RM (Bradley–Terry): accuracy {rm.get('accuracy', float('nan')):.3f}, agreement "
        f"{rm.get('agreement_with_judge', float('nan')):.3f}.",
        f"- The gold judge's own accuracy on its sampled labels (label noise ceiling): "
        f"{pm.get('judge_label_accuracy', float('nan')):.3f}.",
        "",
        "Files: `winrates.json` (the matrix), `kl.json`, `details.json` (config, sample "
        "summaries), `curves.png` (training curves, mean ± std over seeds).",
    ]
    (out / "RESULTS.md").write_text("\n".join(text) + "\n")
