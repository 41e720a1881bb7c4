"""Aggregation, confidence intervals, claim verdicts and figures, from run files only.

Modules: `runs` (read and validate run directories), `stats` (bootstrap intervals and
comparison rules as pure functions), `tables` (per run / per setting / best setting /
curves), `claims` (C1..C7), and the two command lines `aggregate` and `figures`.
"""
