"""Reproduce Calandriello et al. (2024), Table 2, on the offline FactSum task.

    python llm/reproduce.py                 # full CPU run (llm/configs/factsum_full.json)
    python llm/reproduce.py --quick         # tiny end-to-end run for the tests
    python llm/reproduce.py --step pm       # one step (sft | pairs | pm | rm)

The pipeline lives in :mod:`prefgame.experiments.summarisation`; finished steps in the work
folder are reused, so a rerun after an interruption continues.
"""

import sys

from prefgame.experiments.summarisation.cli import main

if __name__ == "__main__":
    sys.exit(main())
