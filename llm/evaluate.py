"""Step 4: side-by-side win-rate matrix under the gold judge (never seen in training) ->
winrates.json, RESULTS.md (next to the paper's Table 2), kl.json, curves.png in --out.

Needs every <method>_s<seed> of the config under <work>/align.
"""

import json
from dataclasses import asdict
from pathlib import Path

import _cli
import common as C
import report


def _extra(ap):
    ap.add_argument("--out", default=str(_cli.HERE / "results"), help="results folder")


if __name__ == "__main__":
    args, cfg, work = _cli.parse(__doc__, _extra)
    ev = C.evaluate(cfg, work)
    infos = {k: json.loads((work / f"{k}_info.json").read_text()) for k in ("pm", "rm")}
    logs = {m: [json.loads((work / "align" / f"{m}_s{s}" / "log.json").read_text())["log"]
                for s in range(cfg.align_seeds)] for m in cfg.methods}
    report.write_results(Path(args.out), ev, asdict(cfg), infos, logs,
                         "python llm/evaluate.py --config " + args.config, 0.0)
