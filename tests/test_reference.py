"""Reference scores: the random and scripted policies' returns that normalise every score."""

import numpy as np
import pandas as pd
import pytest

from distral_repro import reference


def test_ci_halfwidth_by_hand():
    # mean 2, sample sd 1 over 4 values (1, 2, 2, 3: sd = sqrt(2/3)); t(0.975, 3) = 3.182446
    values = np.array([1.0, 2.0, 2.0, 3.0])
    assert reference.ci_halfwidth(values) == pytest.approx(3.182446 * np.sqrt(2 / 3) / 2, rel=1e-6)
    assert reference.ci_halfwidth(np.array([5.0])) == np.inf  # one episode: no interval


def test_precise_enough_compares_both_intervals_with_the_gap():
    lower = np.zeros(100)
    upper = np.full(100, 10.0)
    assert reference.precise_enough(lower, upper)  # no spread at all
    noisy = np.tile([0.0, 20.0], 50)  # mean 10, half-width about 2: more than 2% of the gap
    assert not reference.precise_enough(lower, noisy)
    assert not reference.precise_enough(lower, lower)  # no gap: never precise


def test_measure_family_smoke_preset():
    table = reference.measure_family("maze", preset="smoke", workers=16)
    assert list(table.columns) == list(reference.COLUMNS)
    assert list(table["task"]) == list(range(8)) and set(table["upper_source"]) == {"scripted"}
    gap = table["upper_return"] - table["random_return"]
    assert (gap > 0).all()
    assert (table[["random_ci", "upper_ci"]].max(axis=1) <= reference.TOLERANCE * gap).all()
    again = reference.measure_family("maze", preset="smoke", workers=16)
    pd.testing.assert_frame_equal(table, again)  # seeded: the same numbers every time


def test_cli_refuses_an_unknown_family_before_measuring(tmp_path, capsys):
    out = tmp_path / "reference_scores.csv"
    assert reference.main(["--preset", "smoke", "--out", str(out), "maze", "doom"]) == 2
    err = capsys.readouterr().err
    assert "doom" in err and len(err.strip().splitlines()) == 1 and not out.exists()
