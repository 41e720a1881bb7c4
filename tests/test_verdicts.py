"""The statistics behind the verdicts: run-level intervals, the tests, Holm, calibration and
power, the pre-registration file and its errors (docs/statistics.md).

Numbers are worked out by hand in the comments; the simulations are small and seeded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from distral_repro.analysis import aggregate, calibration, stats
from distral_repro.analysis.preregistration import PreregistrationError, load_preregistration
from distral_repro.analysis.stats import NOT_RESOLVED
from tests.test_analysis import claim_of, grid_of, ramp, study_of, write_references, write_run

# ---- intervals: the run is the resampling unit ------------------------------------------------------


def test_run_level_bootstrap_by_hand_is_wider_than_stratified_when_tasks_correlate():
    # Two runs, two perfectly correlated tasks: run 0 scores 0 on both, run 1 scores 1 on both.
    scores = np.array([[0.0, 0.0], [1.0, 1.0]])
    # Whole runs: a resample is {r0, r0}, {r0, r1} (twice as likely) or {r1, r1}: mean 0, 0.5, 1 with
    # probabilities 1/4, 1/2, 1/4, so the 10th percentile is 0 and the 90th is 1.
    run_level = stats.mean_score_ci(scores, confidence_level=0.8)
    assert run_level == (0.5, 0.0, 1.0)
    # Stratified: each task resampled on its own, mean of two task means in {0, .5, 1}: 0, .25, .5,
    # .75, 1 with probabilities 1, 4, 6, 4, 1 (/16): the 10th percentile is 0.25, the 90th 0.75.
    stratified = stats.mean_score_ci(scores, confidence_level=0.8, stratified=True)
    assert stratified == (0.5, 0.25, 0.75)
    # Random runs with within-run task correlation 0.8: the run-level interval is the wider one.
    rng = np.random.default_rng(1)
    runs = calibration.random_effects_runs(rng, (4,), np.sqrt(0.8), np.sqrt(0.2), 8)
    width = [np.subtract(*stats.mean_score_ci(runs, stratified=s)[:0:-1]) for s in (False, True)]
    assert width[0] > 1.5 * width[1]


# ---- tests on run scores --------------------------------------------------------------------------


def test_holm_on_hand_computed_p_values():
    # sorted 0.005, 0.01, 0.03, 0.04 x 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # an untested (NaN) test does not count in m: 0.01 x 2, 0.04 x 1
    adjusted = stats.holm([0.01, np.nan, 0.04])
    assert adjusted[0] == pytest.approx(0.02) and np.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)
    assert stats.holm([0.02, 0.021]) == pytest.approx([0.04, 0.04])  # 0.021 x 1 raised to 0.04: monotone
    assert stats.holm([0.6, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_tests_agree_with_scipy_and_hand_numbers():
    x, y = np.array([1.0, 2.0, 3.0, 4.0, 9.0]), np.array([2.0, 2.5, 3.0, 3.2])
    greater, less = stats.welch_one_sided(x, y)
    assert greater == pytest.approx(sps.ttest_ind(x, y, equal_var=False, alternative="greater").pvalue)
    assert greater + less == pytest.approx(1.0)
    assert stats.fisher_one_sided(5, 10, 1, 10) == pytest.approx(
        (sps.fisher_exact([[5, 5], [1, 9]], alternative="greater").pvalue,
         sps.fisher_exact([[5, 5], [1, 9]], alternative="less").pvalue))
    bf_greater, bf_less = stats.brown_forsythe_one_sided(x, y)
    assert 2 * min(bf_greater, bf_less) == pytest.approx(sps.levene(x, y, center="median").pvalue)
    # parts: for = the largest p for (every part must show it), against = 2 parts x the smallest p against
    assert stats.all_parts([0.01, 0.03], [0.9, 0.2]) == pytest.approx((0.03, 0.4))
    assert stats.two_sided(0.03, 0.4) == pytest.approx((0.06, 1))
    # P(run of X > run of Y): x = (1, 3), y = (2, 2): 2 of 4 pairs above -> 0.5; a tie counts 1/2
    assert stats.run_probability_of_improvement(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 0.5
    assert stats.run_probability_of_improvement(np.array([2.0]), np.array([2.0, 1.0])) == 0.75
    # one run: no variation to test against, no evidence either way
    assert stats.welch_one_sided(np.array([5.0]), y) == (1.0, 1.0)


# ---- calibration and power --------------------------------------------------------------------------


def test_aa_simulation_at_icc_0_8_gives_at_most_5_percent_decisive_verdicts():
    supported, contradicted = calibration.aa_rates(icc=0.8, runs=4, tasks=8, alpha=0.05)
    assert supported + contradicted <= 0.05
    assert supported <= 0.05 and contradicted <= 0.05
    # The former rule (stratified-bootstrap interval of P(X > Y) excluding 0.5) on the same kind of
    # runs: decisive far more often; the simulation can tell a miscalibrated rule.
    assert calibration.stratified_rule_decisive_rate(0.8, num_simulations=60, num_resamples=300) > 0.2


def test_noise_model_recovers_the_within_run_correlation():
    rng = np.random.default_rng(0)
    groups = [0.3 * t + calibration.random_effects_runs(rng, (50,), np.sqrt(0.8), np.sqrt(0.2), 8)
              for t in range(3)]
    noise = calibration.fit_noise(groups)
    assert noise.icc == pytest.approx(0.8, abs=0.06)
    assert noise.sigma_score == pytest.approx(np.sqrt(0.8 + 0.2 / 8), rel=0.1)
    assert noise.residual_rows.shape == (150, 8)
    assert calibration.fit_noise([np.ones((1, 8))]) is None  # one run: nothing to fit


def test_power_and_seeds_needed_for_one_comparison():
    noise = {"e": calibration.NoiseModel(np.sqrt(0.5), np.sqrt(0.5), 8, np.empty((0, 8)))}
    design = calibration.Design((("e", "X", "Y"),), {("e", "X"): 4, ("e", "Y"): 4})
    # Normal theory: P = 0.7 is a shift of sqrt(2) * 0.524 = 0.74 sd; at two-sided 0.05 and 80% power
    # n = 2 (1.96 + 0.84)^2 / 0.74^2 = 28.5 per group, a little more for the t distribution.
    needed = calibration.seeds_needed(lambda n: calibration.location_power(design, noise, 0.7, 0.05, runs=n))
    assert 27 <= needed <= 33
    at_4 = calibration.smallest_detectable(lambda p: calibration.location_power(design, noise, p, 0.05))
    assert 0.9 < at_4 < 1.0  # 4 seeds see only very large effects
    assert calibration.location_power(design, noise, 0.5, 0.05) <= 0.05  # no effect: the false rate only


def test_calibration_cli_prints_rates_and_power(capsys):
    assert calibration.main(["--icc", "0.8", "--tests", "1"]) == 0
    out = capsys.readouterr().out
    assert "icc 0.80: run-level rule false supported" in out and "seeds for P(X > Y) = 0.7" in out
    assert calibration.main(["--runs", "1"]) == 2


# ---- claims: one seed, the pre-registration, the A/A check ------------------------------------------


def test_one_seed_is_not_resolved_with_the_reason(tmp_path):
    dirs = []
    for algo, final in (("KL_1col", 1.0), ("KL_2col", 9.0), ("KL+ent_1col", 1.0), ("KL+ent_2col", 9.0)):
        dirs += grid_of(tmp_path, "maze", algo, final, seeds=1)
    claim = claim_of(study_of(dirs), "C2")
    assert claim.verdict == NOT_RESOLVED
    assert "one run: no run-to-run variation to test against" in claim.tests[0].reason


def write_claims(tmp_path, text: str):
    path = tmp_path / "claims.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("edit, named", [
    (("[KL_2col, KL_1col]", "[KL_2col, KL_3col]"), "algorithm 'KL_3col'"),
    (("score: early_auc", "score: median"), "score 'median'"),
    (("stage: gridworld", "stage: confirmation"), "score gridworld_auc goes with stage gridworld"),
])
def test_a_claims_file_naming_what_the_study_lacks_stops_with_one_line(tmp_path, capsys, edit, named):
    text = aggregate.DEFAULT_CLAIMS.read_text().replace(*edit)
    dirs = grid_of(tmp_path, "maze", "A3C", 5.0, seeds=2)
    refs = write_references(tmp_path / "refs.csv")
    out = tmp_path / "results"
    args = ["--results-dir", str(out), "--references", str(refs), "--claims", str(write_claims(tmp_path, text))]
    assert aggregate.main([*args, *map(str, dirs)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: claims file") and named in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_stage_the_study_lacks_stops_the_aggregation(tmp_path, capsys):
    text = aggregate.DEFAULT_CLAIMS.read_text().replace("stage: late", "stage: confirmation", 1)
    dirs = grid_of(tmp_path, "maze", "A3C", 5.0, seeds=2)
    refs = write_references(tmp_path / "refs.csv")
    args = ["--results-dir", str(tmp_path / "r"), "--references", str(refs), "--claims", str(write_claims(tmp_path, text))]
    assert aggregate.main([*args, *map(str, dirs)]) == 1
    assert "stage 'confirmation' is not in the study" in capsys.readouterr().err


def test_the_repository_preregistration_names_distral_in_advance():
    prereg = load_preregistration(aggregate.DEFAULT_CLAIMS)
    assert prereg.distral == "KL+ent_2col" and prereg.alpha == 0.05
    assert all(1 <= len(prereg.claim_tests(f"C{i}")) <= 2 for i in range(1, 8))
    assert ("KL+ent_2col", "A3C") in prereg.claim_tests("C1")[0].compare
    with pytest.raises(PreregistrationError, match="must hold one or more of C1, .*C7 and no other .has .*C8"):
        load_preregistration(write_claims_text(aggregate.DEFAULT_CLAIMS.read_text().replace("  C7:", "  C8:")))


def write_claims_text(text: str):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "claims.yaml"
    path.write_text(text)
    return path


def test_aa_check_through_the_aggregation_is_not_resolved(tmp_path):
    # grid seeds 0-3, confirmation seeds 4-7 and A/A seeds 8-11 of A3C: one distribution (a seed effect
    # of +-0.1 in an order unrelated to the seed sets)
    offsets = {4: 0.1, 5: -0.2, 6: 0.0, 7: 0.2, 8: 0.15, 9: -0.1, 10: 0.05, 11: -0.15}
    grid = grid_of(tmp_path / "grid", "maze", "A3C", 5.0)
    confirmation = [write_run(tmp_path / "c", "maze", "A3C", 1e3, 2e-4, s, ramp(5.0 + offsets[s])) for s in range(4, 8)]
    aa = [write_run(tmp_path / "aa", "maze", "A3C", 1e3, 2e-4, s, ramp(5.0 + offsets[s])) for s in range(8, 12)]
    refs = write_references(tmp_path / "refs.csv")
    out = tmp_path / "results"
    args = ["--results-dir", str(out), "--references", str(refs)]
    args += [a for d in confirmation for a in ("--confirmation", str(d))] + [a for d in aa for a in ("--aa", str(d))]
    assert aggregate.main([*args, *map(str, grid)]) == 0
    row = pd.read_csv(out / "tables" / "primary_tests.csv").set_index("claim").loc["A/A"]
    assert row["verdict"] == NOT_RESOLVED and row["p"] > 0.05
    assert "A3C seeds 4-7 > A3C seeds 8-11" in row["binding_comparison"]
    assert row["false_supported"] <= 0.05 and row["false_contradicted"] <= 0.05
    assert "## A/A check" in (out / "claims.md").read_text()


def test_power_of_the_count_and_spread_tests():
    counts = [(8, 108, 4, 108), (5, 108, 4, 108)]  # C4 (a): Distral fails 4 of 108
    # no difference (X at Y's 3.7%): the power is the false rate, at most the level's half
    assert calibration.failed_fraction_power(counts, 4 / 108, 0.05) <= 0.05
    assert calibration.failed_fraction_power(counts, 0.3, 0.05 / 11) > 0.95  # 30% failures: seen
    assert calibration.spread_power([(36, 36)], 1.0, 0.05) <= 0.05
    assert calibration.spread_power([(36, 36)], 3.0, 0.05 / 11) > 0.9
