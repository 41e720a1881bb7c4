"""SeedBatch (several seeds in one process) and the recompute variants of `bench recompute`:
every seed's bytes equal its one-seed run's, and a seed that diverges leaves the others alone."""

import json
import math

import pytest
import torch

from distral_repro.config import make_run_config
from distral_repro.learner import Learner
from distral_repro.seedbatch import SeedBatch, check_batchable


def _configs(algo, env, seeds, **kw):
    return [make_run_config(algo, env, 100, 2e-3, seed, "smoke", **kw) for seed in seeds]


def _same_bytes(x, y) -> bool:  # NaN-safe, unlike torch.equal (a diverged seed's weights may be NaN)
    return x.shape == y.shape and x.dtype == y.dtype and x.numpy().tobytes() == y.numpy().tobytes()


def _assert_same(alone, batched):
    for a, b in zip(alone, batched):
        assert a.status == b.status and a.update == b.update
        assert a.progress == b.progress and a.pi0_progress == b.pi0_progress
        assert a.diverged_at_step == b.diverged_at_step and a.diverged_reason == b.diverged_reason
        for (name, x), y in zip(a.net.state_dict().items(), b.net.state_dict().values()):
            assert _same_bytes(x, y), name
        for x, y in zip(a.optimizer.square_avg, b.optimizer.square_avg):
            assert _same_bytes(x, y)
        assert a.optimizer.steps == b.optimizer.steps
        for key in ("obs", "prev_action", "prev_reward", "starts"):
            assert torch.equal(getattr(a, key), getattr(b, key)), key
        assert all(torch.equal(x, y) for name in a.lstm for x, y in zip(a.lstm[name], b.lstm[name]))


def _train(learners_or_batch, updates):
    for _ in range(updates):
        if isinstance(learners_or_batch, SeedBatch):
            if not learners_or_batch.done:
                learners_or_batch.train_update()
        else:
            for learner in learners_or_batch:
                if not learner.done:
                    learner.train_update()


@pytest.mark.parametrize("algo,env,view,updates", [
    ("A3C", "lasertag", "window", 40),  # a whole run
    ("KL_1col", "navigation", "window", 12),
    ("KL+ent_2col", "maze", "window", 21),  # the first pi_0 evaluation at update 20
    ("A3C_multitask", "maze", "window", 12),
])
def test_batched_seeds_end_with_their_one_seed_bytes(algo, env, view, updates):
    configs = _configs(algo, env, [3, 5], view=view, image_size=16)
    batch = SeedBatch([Learner(c) for c in configs])
    _train(batch, updates)
    batch.sync()
    alone = [Learner(c) for c in configs]
    _train(alone, updates)
    if updates >= alone[0].total_updates:
        assert all(learner.status == "ok" for learner in alone)
    if alone[0].evaluate_pi0 and updates > 20:
        assert alone[0].pi0_progress
    _assert_same(alone, batch.learners)
    # each learner's checkpoint is the one-seed learner's (the checkpoint of a batched run resumes alone)
    for a, b in zip(alone, batch.learners):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa["update"] == sb["update"] and sa["progress"] == sb["progress"]
        assert torch.equal(sa["generator"], sb["generator"])


def test_a_seed_that_diverges_leaves_the_others_unchanged():
    configs = _configs("KL+ent_2col", "lasertag", [0, 1, 2])
    alone = [Learner(c) for c in configs]
    batch = SeedBatch([Learner(c) for c in configs])
    _train(alone, 1)
    _train(batch, 1)
    # poison seed 1's value head in both: its next loss is not finite
    with torch.no_grad():
        alone[1].net.value.w.fill_(math.nan)
        k = alone[1].net.value.w.shape[0]
        batch.net.value.w[k:2 * k].fill_(math.nan)
    _train(alone, 11)
    _train(batch, 11)
    assert [l.status for l in alone] == ["running", "diverged", "running"]
    assert alone[1].diverged_at_step == alone[1].steps_per_update * 2
    assert len(batch.live) == 2
    batch.sync()
    _assert_same(alone, batch.learners)


def test_resumed_learners_batch_on_from_their_checkpoints():
    configs = _configs("KL_1col", "lasertag", [0, 1])
    first = [Learner(c) for c in configs]
    batch = SeedBatch(first)
    _train(batch, 3)
    batch.sync()
    resumed = []
    for learner, config in zip(first, configs):
        fresh = Learner(config)
        fresh.load_state_dict(learner.state_dict())
        resumed.append(fresh)
    batch = SeedBatch(resumed)
    _train(batch, 9)
    batch.sync()
    alone = [Learner(c) for c in configs]
    _train(alone, 12)
    _assert_same(alone, batch.learners)


def test_only_seeds_of_one_setting_at_one_update_batch():
    a, b = (Learner(c) for c in _configs("A3C", "maze", [0, 1]))
    other = Learner(make_run_config("A3C", "maze", 100, 4e-3, 2, "smoke"))
    with pytest.raises(ValueError, match="more than its seed"):
        check_batchable([a, other])
    with pytest.raises(ValueError, match="distinct seeds"):
        check_batchable([a, Learner(_configs("A3C", "maze", [0])[0])])
    pixels = [Learner(c) for c in _configs("A3C", "maze", [0, 1], view="first_person", image_size=16)]
    with pytest.raises(ValueError, match="pixel torso"):
        check_batchable(pixels)
    a.train_update()
    with pytest.raises(ValueError, match="same update"):
        check_batchable([a, b])


def test_bench_seeds_and_recompute_report_cpu_and_bytes(tmp_path):
    from distral_repro.bench import recompute, seeds

    out = tmp_path / "seeds.json"
    assert seeds.main(["--algos", "A3C", "--preset", "smoke", "--seeds", "1", "2", "--updates", "4", "--blocks", "2",
                       "--engines", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [r["seeds"] for r in data["results"]] == [1, 2] and all(r["same_bytes"] for r in data["results"])
    assert all(r["cpu_s_per_seed_update_batched"] > 0 for r in data["results"]) and len(data["engines"]) == 2
    out = tmp_path / "recompute.json"
    assert recompute.main(["--algos", "KL_1col", "--preset", "smoke", "--updates", "4", "--blocks", "2",
                           "--json", str(out)]) == 0
    rows = {r["variant"]: r for r in json.loads(out.read_text())["results"]}
    assert rows["recompute"]["same_bytes"] and rows["keep-graph"]["cpu_s_per_update_variant"] > 0
