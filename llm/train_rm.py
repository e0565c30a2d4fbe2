"""Step 2b: Bradley–Terry reward model r(x, y) on the same pairs -> <work>/rm (used by RL)."""

import _cli
import common as C

if __name__ == "__main__":
    args, cfg, work = _cli.parse(__doc__)
    C.train_scorer(cfg, work, "rm")
