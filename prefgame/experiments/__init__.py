"""Experiments built from the package's pieces.

:mod:`prefgame.experiments.summarisation` -- the summarisation experiment of Calandriello et
al. (2024, §6, Table 2) on the offline FactSum task: SFT, preference
and reward models, six online methods in three arms (learned PM/RM, oracle gold judge, oracle
without the preference cycle), τ frontiers, and paired-bootstrap statistics.
"""
