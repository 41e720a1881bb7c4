"""The tabular grid-world experiment (SPEC.md §2, §5; the paper's Figure 3).

    softq.py       the maths: soft value and policy (eq. 2-3), soft Bellman backup (eq. 4),
                   n-step soft targets with regularisation terms, distillation (eq. 5)
    experiment.py  the learner: soft-Q of the 4 tasks alternated with distillation (Distral)
                   or with a fixed uniform prior (separate)
    figure.py      Figure 3: `python -m distral_repro.tabular.figure`

The run command is `python -m distral_repro.gridworld`; the map is distral_repro/envs/gridworld.py.
"""
