"""Step 1: supervised fine-tuning -> <work>/sft (the policy's start and the reference μ).

FactSum: a tiny GPT-2 trained from scratch on noisy human-like summaries.  TL;DR: fine-tunes the
hub model named by ``policy_model``.   python llm/sft.py --config llm/configs/factsum_full.json
"""

import _cli
import common as C

if __name__ == "__main__":
    args, cfg, work = _cli.parse(__doc__)
    info = C.run_sft(cfg, work)
    C.log(f"SFT done: nll/token {info['final_nll_per_token']:.3f}, {info['params']} parameters")
