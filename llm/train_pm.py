"""Step 2a: pairwise preference model P(y ≻ y' | x) on gold-labelled pairs -> <work>/pm.

Pairs are two SFT samples per prompt with a label drawn from the gold judge (FactSum) or the
human TL;DR comparisons.  Reports held-out accuracy, as the paper does for its PM.
"""

import _cli
import common as C

if __name__ == "__main__":
    args, cfg, work = _cli.parse(__doc__)
    C.train_scorer(cfg, work, "pm")
