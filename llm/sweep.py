"""τ sweep: for each method, one seed, ``sweep_steps`` steps at every τ in ``sweep_tau``; each
run scored by its gold-judge win rate against SFT on validation prompts (disjoint from the
evaluation prompts).  Writes ``<out>/sweep.json`` and ``<out>/sweep.md``.

    python llm/sweep.py --config llm/configs/factsum_full.json --out llm/results
"""

import json
from pathlib import Path

import _cli
import common as C
from reproduce import parallel_map


def _extra(ap):
    ap.add_argument("--out", default=str(_cli.HERE / "results"), help="results folder")
    ap.add_argument("--methods", nargs="*", default=None, help="subset of methods")


if __name__ == "__main__":
    args, cfg, work = _cli.parse(__doc__, _extra)
    methods = args.methods or cfg.methods
    jobs = [(cfg, work, m, t) for m in methods for t in cfg.sweep_tau[m]]
    recs = parallel_map(C.sweep_one, jobs, cfg.jobs)
    rows = [{"method": r["method"], "tau": r["config"]["tau"], "beta": r["config"]["beta"],
             "steps": r["config"]["max_steps"], **{k: v for k, v in r["val"].items()}} for r in recs]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(rows, indent=1))
    lines = ["| method | τ | β | win rate vs SFT (val, gold) | KL(π‖μ) | gold q | length |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['tau']:g} | {r['beta']:g} | "
                     f"{r['winrate_vs_sft']:.3f} | {r['kl']:.2f} | {r.get('gold_q', 0):.2f} | "
                     f"{r['length']:.1f} |")
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
