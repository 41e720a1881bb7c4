"""The learner reuses the acting recurrence's graph (issue 25): the same bytes as recomputing the
whole unroll, the learner's form before (kept as the reference in bench/recompute.py)."""

import pytest
import torch

from distral_repro.bench.recompute import KeepGraphLearner, RecomputeLearner
from distral_repro.config import ALGORITHMS, make_run_config
from distral_repro.learner import Learner


def _train_both(config, reference_class=RecomputeLearner, updates=None):
    reference, today = reference_class(config), Learner(config)
    for learner in (reference, today):
        count = 0
        while not learner.done and (updates is None or count < updates):
            learner.train_update()
            count += 1
    return reference, today


def _same(a, b) -> bool:
    return (a.progress == b.progress and a.pi0_progress == b.pi0_progress and a.status == b.status
            and all(torch.equal(x, y) for x, y in zip(a.net.state_dict().values(), b.net.state_dict().values()))
            and all(torch.equal(x, y) for x, y in zip(a.optimizer.square_avg, b.optimizer.square_avg))
            and all(torch.equal(x, y) for name in a.lstm for x, y in zip(a.lstm[name], b.lstm[name])))


@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_reusing_the_acting_recurrence_gives_the_recomputed_bytes(algo):
    """21 updates of the maze smoke run: four evaluation points and the first pi_0 evaluation."""
    reference, today = _train_both(make_run_config(algo, "maze", 100, 2e-3, 1, "smoke"), updates=21)
    assert len(today.progress) == 4 * today.num_tasks
    assert today.pi0_progress or not today.evaluate_pi0
    assert _same(reference, today)


@pytest.mark.parametrize("env", ["navigation", "lasertag"])
@pytest.mark.parametrize("algo", ["A3C", "KL_1col", "KL+ent_2col"])
def test_same_bytes_on_the_other_families(algo, env):
    assert _same(*_train_both(make_run_config(algo, env, 100, 2e-3, 1, "smoke"), updates=10))


@pytest.mark.parametrize("algo", ["A3C", "KL+ent_1col", "KL+ent_2col"])
def test_same_bytes_with_the_pixel_torso_and_the_feedforward_torso(algo):
    pixels = make_run_config(algo, "maze", 100, 2e-3, 2, "smoke", view="first_person", image_size=16)
    assert _same(*_train_both(pixels, updates=4))
    feedforward = make_run_config(algo, "maze", 100, 2e-3, 2, "smoke", hyper_overrides={"torso": "feedforward"})
    assert _same(*_train_both(feedforward, updates=6))


def test_keeping_the_whole_graph_instead_changes_the_bytes():
    """Why the learner recomputes the batched layers: gradients summed step by step round differently."""
    reference, keep_graph = _train_both(make_run_config("A3C", "maze", 100, 2e-3, 0, "smoke"), KeepGraphLearner, updates=3)
    assert not all(torch.equal(x, y) for x, y in zip(reference.net.parameters(), keep_graph.net.parameters()))
