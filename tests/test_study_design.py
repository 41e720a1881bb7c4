"""The study's design: best-known references, the selection rule's replay, horizons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from distral_repro.analysis import best_known
from distral_repro.analysis.scores import References
from distral_repro.reference import BEST_KNOWN, apply_best_known


def _refs(uppers, sources, env="maze"):
    return pd.DataFrame({"env": env, "preset": "default", "task": range(len(uppers)), "random_return": 0.0,
                         "upper_return": uppers, "upper_source": sources, "upper_ci": 0.1, "upper_episodes": 64})


def test_best_known_keeps_only_tasks_beaten_by_more_than_the_margin():
    # scripted 10 on both tasks, random 0: the limit is 11; the best setting means are 10.5 and 12.
    finals = pd.DataFrame({
        "env": "maze", "preset": "default", "task": [0, 0, 1, 1, 1, 1], "study": "s", "beta": 1.0, "lr": 1e-3,
        "algo": ["A", "A", "A", "A", "B", "B"], "final": [10.0, 11.0, 8.0, 8.0, 11.0, 13.0],
    })
    best = best_known.best_setting_means(finals)
    assert list(best["best_known_return"]) == [10.5, 12.0] and list(best["algo"]) == ["A", "B"]
    out = best_known.exceeding(best, _refs([10.0, 10.0], "scripted"))
    assert list(out["task"]) == [1] and out["best_known_return"].iloc[0] == 12.0 and out["runs"].iloc[0] == 2


def test_apply_best_known_raises_only_scripted_references_that_are_lower():
    table = _refs([10.0, 10.0, 10.0], ["scripted", "scripted", "scripted"])
    known = pd.DataFrame({"env": "maze", "preset": "default", "task": [1, 2], "best_known_return": [12.0, 9.0]})
    out = apply_best_known(table, known)
    assert list(out["upper_return"]) == [10.0, 12.0, 10.0]
    assert list(out["upper_source"]) == ["scripted", "best_known", "scripted"]
    refs = References(out).check("maze", (0, 1, 2), "default")
    assert refs.source == "scripted; best_known on tasks 1"
    np.testing.assert_allclose(refs.normalise(np.array([12.0, 12.0, 5.0])), [1.2, 1.0, 0.5])


def test_the_documented_best_known_returns_name_their_provenance():
    table = pd.read_csv(BEST_KNOWN)
    assert set(best_known.COLUMNS) <= set(table.columns)
    assert (table["best_known_return"] > table["scripted_return"]).all() and (table["runs"] >= 2).all()
