"""Tasks shipped with prefgame: data that is generated locally, never downloaded.

* :mod:`prefgame.tasks.factsum` -- FactSum, an offline summarisation task (documents built from
  five facts plus distractors, noisy "human" summaries for SFT, reference summaries) and its
  programmatic **gold judge** (fact coverage, faithfulness, brevity, plus an optional cycle of
  three summary styles).  It stands in for TL;DR and for the large LLM judge of Calandriello et
  al. (2024), §6.
"""

from prefgame.tasks.factsum import (  # noqa: F401
    Document,
    FactSumConfig,
    GoldJudge,
    make_documents,
    parse_facts,
    reference_summary,
    vocabulary,
)
