"""Step 3: align a copy of the SFT policy with one method -> <work>/align/<method>_s<seed>.

Methods: online_ipo, ipo_md, online_dpo, online_slic, nash_md_pg (use the PM), rl (uses the RM).
τ, β and learning rates come from the config.
    python llm/align.py --config llm/configs/factsum_full.json --method ipo_md --seed 0
"""

import _cli
import common as C


def _extra(ap):
    ap.add_argument("--method", required=True, help="online_ipo | ipo_md | online_dpo | "
                    "online_slic | nash_md_pg | rl")
    ap.add_argument("--seed", type=int, default=0)


if __name__ == "__main__":
    args, cfg, work = _cli.parse(__doc__, _extra)
    C.run_align(cfg, work, args.method, args.seed)
