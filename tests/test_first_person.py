"""The first-person view (envs/raycast.py), its pixel torso and its use in training."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import gymnasium
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from gymnasium.utils.env_checker import check_env

import distral_repro.envs as envs
from distral_repro import train
from distral_repro.envs.grid import APPLE, BOT, EMPTY, GOAL, TURN_LEFT, TURN_RIGHT, WALL
from distral_repro.envs.raycast import FirstPersonRenderer, camera_offsets
from distral_repro.networks import DistralNet, conv_output_side, pixel_torso_layers

torch.set_num_threads(1)
GRID_FAMILIES = ("maze", "navigation", "lasertag")
HEADINGS = {"^": 0, ">": 1, "v": 2, "<": 3}
CODES = {"#": WALL, " ": EMPTY, ".": EMPTY, "a": APPLE, "G": GOAL}


def scene(rows: list[str], size: int = 32, uniform_walls: bool = False):
    """A one-env engine stand-in from a text map: # wall, a apple, G goal, B bot, ^>v< the agent.

    The map is surrounded by walls, so that every ray ends.
    """
    rows = ["#" * (len(rows[0]) + 2)] + [f"#{r}#" for r in rows] + ["#" * (len(rows[0]) + 2)]
    width = len(rows[0])
    cells = [c for row in rows for c in row]
    agent = next(i for i, c in enumerate(cells) if c in HEADINGS)
    bots = [i for i, c in enumerate(cells) if c == "B"]
    grid = np.array([CODES.get(c, EMPTY) for c in cells], dtype=np.uint8)
    walls = grid == WALL
    engine = SimpleNamespace(
        width=width, walls=walls[None], config=SimpleNamespace(tasks=[SimpleNamespace(maze=SimpleNamespace(seed=0))]),
        cells_per_map=walls.size, _wall_flat=walls, _task_base=np.array([0]), position=np.array([agent]),
        heading=np.array([HEADINGS[cells[agent]]]), grid=grid[None], max_bots=len(bots),
        bot_cell=np.array([bots]), _num_bots=np.array([len(bots)]), task_ids=np.array([0]),
    )
    renderer = FirstPersonRenderer(engine, size)
    if uniform_walls:
        renderer.wall_colour[:] = (200, 100, 50)
        renderer.wall_stripes[:] = 2
    return renderer, engine


def render(rows, size=32, **kwargs) -> np.ndarray:
    renderer, engine = scene(rows, size, **kwargs)
    return renderer.render(engine)[0]


# ----------------------------------------------------------------------------- the raycaster


@pytest.mark.parametrize(
    "distance,wall_rows",
    [
        (1, range(0, 32)),  # face at t = 0.5: S / (4 t) = 16, the whole column
        (2, range(11, 21)),  # t = 1.5: |r + 0.5 - 16| < 5.33 -> rows 11..20
        (4, range(14, 18)),  # t = 3.5: |r + 0.5 - 16| < 2.29 -> rows 14..17
    ],
)
def test_a_wall_straight_ahead_fills_the_expected_rows_of_the_centre_column(distance, wall_rows):
    # A corridor three cells wide, the agent facing north, the end wall `distance` cells ahead.
    image = render(["   "] * (distance - 1) + [" ^ "], uniform_walls=True)
    # 29.5 cells away the wall covers |r + 0.5 - 16| < 0.27: no row, the centre shows floor and ceiling.
    sky_floor = render(["   "] * 29 + [" ^ "], uniform_walls=True)
    for column in (15, 16):  # the two columns either side of the centre line
        is_wall = (image[:, :, column] != sky_floor[:, :, column]).any(axis=0)
        assert np.flatnonzero(is_wall).tolist() == list(wall_rows)
        wall = image[:, list(wall_rows), column]
        assert (wall == wall[:, :1]).all()  # one colour down the column


def test_a_sprite_behind_a_wall_is_hidden_and_in_front_of_it_drawn():
    # The agent faces north along a corridor one cell wide.
    hidden = render(["a", "#", " ", "^"])  # apple behind the wall two cells ahead
    no_apple = render([" ", "#", " ", "^"])
    assert (hidden == no_apple).all()
    shown = render([" ", " ", "a", "^"])  # apple in the next cell
    empty = render([" ", " ", " ", "^"])
    differs = (shown != empty).any(axis=0)
    assert differs.any()
    green = shown[:, differs]
    assert (green[1] > green[0]).all() and (green[1] > green[2]).all()  # the apple is green
    assert not differs[:16].any()  # it stands on the floor: below the horizon only
    ys, xs = np.nonzero(differs)
    assert abs(xs.mean() - 15.5) < 0.5  # centred on the centre line


def test_a_nearer_sprite_covers_a_farther_one_and_bots_are_red():
    both = render([" ", "G", "B", "^"])  # a bot right ahead of a goal
    bot_only = render([" ", " ", "B", "^"])
    goal_only = render([" ", "G", " ", "^"])
    empty = render([" ", " ", " ", "^"])
    bot_pixels = (bot_only != empty).any(axis=0)
    assert (both[:, bot_pixels] == bot_only[:, bot_pixels]).all()
    red = bot_only[:, bot_pixels]
    assert (red[0] > red[1]).all() and (red[0] > red[2]).all()
    goal_pixels = (goal_only != empty).any(axis=0)
    assert goal_pixels.any() and not (goal_pixels & ~bot_pixels).any()  # the bot hides the goal entirely
    assert (both == bot_only).all()
    gold = goal_only[:, goal_pixels]
    assert (gold[0] > gold[2]).all() and (gold[1] > gold[2]).all()


def test_four_turns_give_the_first_image_back():
    env = envs.make_family("maze", 4, seed=3, view="first_person", num_tasks=2)  # tasks without slip
    first, _ = env.reset()
    images = [first]
    for _ in range(4):
        obs, *_ = env.step(np.full(env.num_envs, TURN_RIGHT))
        images.append(obs)
    assert (images[4] == images[0]).all()
    assert all((images[k] != images[0]).any(axis=(1, 2, 3)).all() for k in (1, 2, 3))
    obs, *_ = env.step(np.full(env.num_envs, TURN_LEFT))
    assert (obs == images[3]).all()


@pytest.mark.parametrize("size", [32, 33, 84])
def test_a_symmetric_corridor_is_mirror_symmetric(size):
    rows = ["#   #", "## ##", "#   #", "  a  ", "# ^ #"]
    image = render(rows, size=size, uniform_walls=True)
    assert (image == image[:, :, ::-1]).all()
    assert (camera_offsets(size) == -camera_offsets(size)[::-1]).all()


def test_walls_of_different_places_look_different():
    env = envs.make_family("maze", 1, seed=0, view="first_person")
    colours = env.renderer.wall_colour[env._wall_flat]
    assert len(np.unique(colours, axis=0)) >= 4


def test_the_wall_cache_draws_exactly_what_the_raycaster_draws():
    for family in GRID_FAMILIES:
        cached = envs.make_family(family, 2, seed=1, view="first_person", image_size=24)
        direct = envs.make_family(family, 2, seed=1, view="first_person", image_size=24)
        direct.renderer.cache = False
        a, _ = cached.reset()
        b, _ = direct.reset()
        actions = np.random.default_rng(0).integers(0, cached.single_action_space.n, (60, cached.num_envs))
        for step in actions:
            assert (a == b).all()
            a, b = cached.step(step)[0], direct.step(step)[0]
        assert direct.renderer._frames is None and cached.renderer._frames is not None


# ----------------------------------------------------------------------------- same task, other view


@pytest.mark.parametrize("family", GRID_FAMILIES)
def test_check_env_on_every_task_with_the_first_person_view(family):
    for task in range(envs.num_tasks(family)):
        env = gymnasium.make(envs.ENV_IDS[family], task=task, view="first_person").unwrapped
        assert env.observation_space.shape == (3, 32, 32) and env.observation_space.dtype == np.uint8
        check_env(env, skip_render_check=True)
        env.close()


@pytest.mark.parametrize("family", GRID_FAMILIES)
def test_the_views_share_dynamics_so_the_reference_scores_are_the_window_views(family):
    """reference.py measures the random and scripted policies on the window view; with the same
    seed and actions, the first-person env goes through the same states and rewards."""
    window = envs.make_family(family, 4, seed=5)
    pixels = envs.make_family(family, 4, seed=5, view="first_person", image_size=16)
    window.reset()
    pixels.reset()
    rng = np.random.default_rng(0)
    for step in range(300):
        scripted = step % 2 == 0
        actions = window.scripted_actions() if scripted else rng.integers(0, window.single_action_space.n, window.num_envs)
        assert (pixels.scripted_actions() == window.scripted_actions()).all()
        _, r1, te1, tr1, _ = window.step(actions)
        _, r2, te2, tr2, _ = pixels.step(actions)
        assert (r1 == r2).all() and (tr1 == tr2).all() and (te1 == te2).all()
        assert (window.position == pixels.position).all() and (window.heading == pixels.heading).all()


# ----------------------------------------------------------------------------- the pixel torso


@pytest.mark.parametrize("side,layers,grid", [(84, ((16, 8, 4), (32, 4, 2)), 9), (32, ((16, 4, 2), (32, 3, 2)), 7), (16, ((16, 4, 2), (32, 3, 2)), 3)])
def test_the_pixel_torso_is_mnih_et_al_at_84_and_scaled_below(side, layers, grid):
    assert pixel_torso_layers(side) == layers
    assert conv_output_side(side, layers) == grid
    net = DistralNet(3, (3, side, side), 6, has_h=True, has_f=True)
    assert tuple(net.f.conv1_w.shape) == (3, 16, 3, layers[0][1], layers[0][1])
    assert tuple(net.f.fc_w.shape) == (3, 32 * grid * grid, 256) and net.f.hidden == 256
    with pytest.raises(ValueError, match="at least 16x16"):
        pixel_torso_layers(15)


def test_pixel_columns_give_the_shapes_and_are_independent_per_task():
    torch.manual_seed(0)
    tasks, workers, steps, side = 3, 2, 4, 32
    net = DistralNet(tasks, (3, side, side), 6, has_h=True, has_f=True)
    n = tasks * workers
    obs = torch.randint(0, 256, (steps, n, 3, side, side), dtype=torch.uint8)
    args = (torch.zeros(steps, n, dtype=torch.int64), torch.zeros(steps, n), torch.zeros(steps, n, dtype=torch.bool))
    logits, values, state = net.unroll(obs, *args, net.initial_state(n))
    assert logits["f"].shape == (steps, n, 6) and logits["h"].shape == (steps, n, 6) and values.shape == (steps, n)
    assert state["f"][0].shape == (tasks, workers, 256)
    # Changing task 1's column changes only task 1's outputs; changing task 1's frames likewise.
    with torch.no_grad():
        net.f.conv1_w[1] += 0.5
        net.f.fc_w[1] *= 2
    logits2, values2, _ = net.unroll(obs, *args, net.initial_state(n))
    task = torch.arange(n) // workers
    changed = (logits2["f"] != logits["f"]).any(dim=(0, 2))
    assert changed.tolist() == (task == 1).tolist()
    obs2 = obs.clone()
    obs2[:, task == 2] = 0
    logits3, _, _ = net.unroll(obs2, *args, net.initial_state(n))
    assert ((logits3["f"] != logits2["f"]).any(dim=(0, 2)) == (task == 2)).all()
    # One grouped forward equals running each task's column alone.
    for k in range(tasks):
        alone = DistralNet(1, (3, side, side), 6, has_h=False, has_f=True)
        with torch.no_grad():
            for name, p in alone.f.named_parameters():
                p.copy_(getattr(net.f, name)[k : k + 1])
        rows = task == k
        out, _, _ = alone.unroll(obs[:, rows], *(a[:, rows] for a in args), alone.initial_state(workers))
        torch.testing.assert_close(out["f"], logits2["f"][:, rows], rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- training


TINY = ["--preset", "smoke", "--steps-per-task", "100", "--workers", "2", "--unroll", "5", "--view", "first_person",
        "--image-size", "16"]


def _args(out, algo="KL+ent_2col", env="maze", extra=TINY):
    return ["--algo", algo, "--env", env, "--beta", "100", "--lr", "2e-3", "--seed", "0", "--out", str(out), "--quiet", *extra]


@pytest.mark.parametrize("algo", ["A3C", "A3C_multitask", "A3C_2col", "KL_1col", "KL+ent_1col", "KL_2col", "KL+ent_2col"])
def test_every_algorithm_trains_on_first_person_frames(tmp_path, algo):
    out = tmp_path / "run"
    assert train.main(_args(out, algo=algo)) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["config"]["view"] == "first_person"
    assert summary["config"]["image_size"] == 16


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--view", "third_person"], "unknown view 'third_person'; valid: window, first_person"),
        (["--view", "first_person", "--image-size", "8"], "image_size must be an integer in 16..84"),
        (["--view", "first_person", "--image-size", "96"], "image_size must be an integer in 16..84"),
    ],
)
def test_a_bad_view_or_frame_size_fails_with_one_line_and_writes_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    assert train.main(_args(out, extra=["--preset", "smoke", *extra])) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_a_window_run_directory_is_not_resumed_as_a_first_person_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert train.main(_args(out, extra=TINY[:-4])) == 0
    assert train.main(_args(out)) == 2
    assert "holds another run's files" in capsys.readouterr().err


def _cli(out, extra):
    return [sys.executable, "-m", "distral_repro.train", *_args(out, extra=extra)]


def test_kill_and_resume_with_pixel_observations_ends_like_an_uninterrupted_run(tmp_path):
    extra = ["--preset", "smoke", "--steps-per-task", "1200", "--workers", "2", "--unroll", "10", "--threads", "1",
             "--view", "first_person", "--image-size", "16"]
    reference = tmp_path / "reference"
    subprocess.run(_cli(reference, extra), check=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(killed, extra))
    while not (killed / "checkpoint.pt").exists() and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.json").exists() and (killed / "checkpoint.pt").exists()
    subprocess.run(_cli(killed, extra), check=True)
    pd.testing.assert_frame_equal(pd.read_csv(killed / "progress.csv"), pd.read_csv(reference / "progress.csv"))
    pd.testing.assert_frame_equal(pd.read_csv(killed / "pi0_eval.csv"), pd.read_csv(reference / "pi0_eval.csv"))
    a, b = (json.loads((d / "summary.json").read_text()) for d in (killed, reference))
    assert a["final_return"] == b["final_return"] and a["auc_return"] == b["auc_return"]


# ----------------------------------------------------------------------------- the workflow


def test_the_view_config_switch_reaches_every_training_job(tmp_path):
    from test_workflow import copy_workflow, snakemake

    workdir = copy_workflow(tmp_path / "wf")
    target = "results/runs/maze/A3C/beta1000_lr4e-3_seed0/summary.json"
    window = snakemake(workdir, "-n", "-p", "--config", "preset=smoke", "--", target).stdout
    assert "distral_repro.forkserver run" in window and "--view" not in window  # the window jobs' command is as before
    pixels = snakemake(workdir, "-n", "-p", "--config", "preset=smoke", "view=first_person", "image_size=84", "--", target)
    train_lines = [line for line in pixels.stdout.splitlines() if "distral_repro.forkserver run" in line]
    assert train_lines and all("--view first_person --image-size 84" in line for line in train_lines)
    first_person = yaml.safe_load((workdir / "config/config.yaml").read_text())["resources"]["train_first_person"]
    assert f"mem_mb={first_person['mem_mb']}" in pixels.stdout and f"mem_mb={first_person['mem_mb']}" not in window
    for bad, key in (("view=fisheye", "view"), ("image_size=8", "image_size")):
        proc = snakemake(workdir, "-n", "--config", "preset=smoke", "view=first_person", bad, check=False)
        assert proc.returncode != 0 and key in proc.stdout + proc.stderr
    assert not (workdir / "results").exists()


def test_bench_envs_measures_the_first_person_view_beside_the_window(tmp_path, capsys):
    from distral_repro.bench.envs import main

    out = tmp_path / "bench.json"
    views = ["window", "first_person:16", "first_person:16:nocache"]
    assert main(["--families", "maze", "--num-envs", "8", "--seconds", "0.2", "--no-minigrid", "--views", *views,
                 "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["results"]
    assert [r["name"] for r in rows] == ["maze", "maze first_person 16x16", "maze first_person 16x16 (no wall cache)"]
    assert all(r["steps_per_second"] > 0 for r in rows) and rows[1]["env_arrays_mib"] > rows[0]["env_arrays_mib"]
    with pytest.raises(SystemExit):
        main(["--families", "maze", "--views", "first_person:8"])
