"""Figure 3 (grid world): ``python -m distral_repro.tabular.figure``.

    python -m distral_repro.tabular.figure --out paper_figures/fig3_gridworld.pdf \\
        results/gridworld/distral/seed0 ... results/gridworld/separate/seed0 ...

Panels: (a) episode return and (b) episode length of Distral vs separate soft-Q, mean
over seeds and tasks with 95% bootstrap bands (20-episode moving average); (c) the
distilled pi_0 drawn on the map, one small map per previous action: at every cell, an
arrow per action with length proportional to pi_0(action | cell, previous action)
(mean over the Distral seeds). Writes the PDF and a PNG beside it, each atomically.
A missing or bad run directory: one line naming it on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from distral_repro.analysis.figures import GRIDWORLD_COLOURS, plot_curve, save_figure, setup_style
from distral_repro.analysis.runs import GRIDWORLD_METHODS, GridworldRun, RunFileError, load_gridworld_runs
from distral_repro.analysis.tables import gridworld_curve
from distral_repro.envs.gridworld import COMPASS_NAMES, TASK_GOALS, TASK_STARTS, two_room_map

import matplotlib.pyplot as plt  # noqa: E402  (the Agg backend is set by analysis.figures)

SMOOTHING_EPISODES = 20


class FigureInputError(ValueError):
    """The run directories cannot make the figure."""


def read_prior(run: GridworldRun) -> np.ndarray:
    """The pi_0 table of a Distral run's summary.json: (L, A + 1, A), [location][previous action][action]."""
    path = Path(run.run_dir) / "summary.json"
    table = json.loads(path.read_text()).get("pi0")
    grid = two_room_map()
    try:
        probabilities = np.asarray(table["probabilities"], dtype=float)
        locations = np.asarray(table["locations"])
    except (TypeError, KeyError, ValueError):
        raise RunFileError(run.run_dir, "summary.json: pi0 is missing or not a {locations, probabilities} table") from None
    if locations.shape != grid.cells.shape or (locations != grid.cells).any():
        raise RunFileError(run.run_dir, "summary.json: pi0 was learned on another map")
    if probabilities.shape != (grid.num_locations, len(COMPASS_NAMES) + 1, len(COMPASS_NAMES)):
        raise RunFileError(run.run_dir, f"summary.json: pi0 has shape {probabilities.shape}")
    return probabilities


def length_runs(runs: list[GridworldRun]) -> list[GridworldRun]:
    """The runs with episode_length in place of episode_return (to reuse the curve code)."""
    return [
        dataclasses.replace(run, progress=run.progress.assign(episode_return=run.progress["episode_length"]))
        for run in runs
    ]


def plot_prior_map(ax: plt.Axes, prior: np.ndarray, previous_action: int) -> None:
    """The map with pi_0(. | cell, previous action) as four arrows per free cell."""
    grid = two_room_map()
    ax.imshow(grid.walls, cmap="Greys", vmin=0, vmax=1.6, interpolation="nearest")
    probabilities = prior[:, previous_action, :]  # (L, A)
    rows, columns = grid.cells[:, 0], grid.cells[:, 1]
    # Compass moves in image coordinates: north is up (row - 1).
    for action, (d_row, d_col) in enumerate(((-1, 0), (0, 1), (1, 0), (0, -1))):
        length = 0.8 * probabilities[:, action]  # from the cell centre; 0.8 of a cell at probability 1
        ax.quiver(columns, rows, d_col * length, -d_row * length, angles="xy", scale_units="xy", scale=1,
                  width=0.005, headwidth=3, headlength=3, headaxislength=2.7,
                  color="C3" if action == 1 else "C0")
    for task, ((sr, sc), (gr, gc)) in enumerate(zip(TASK_STARTS, TASK_GOALS)):
        ax.text(sc, sr, f"S{task}", ha="center", va="center", fontsize=5, color="0.3")
        ax.text(gc, gr, f"G{task}", ha="center", va="center", fontsize=5, color="0.3", weight="bold")
    ax.set_title(f"π0 after moving {COMPASS_NAMES[previous_action]}", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def figure3(runs: list[GridworldRun]) -> plt.Figure:
    """Learning curves of both methods and the distilled pi_0 on the map."""
    methods = [m for m in GRIDWORLD_METHODS if any(r.method == m and r.status == "ok" for r in runs)]
    if not methods:
        raise FigureInputError("no finished (status ok) grid-world run among the run directories given")
    distral = [r for r in runs if r.method == "distral" and r.status == "ok"]
    fig = plt.figure(figsize=(8.3, 6.6), constrained_layout=True)
    grid = fig.add_gridspec(3, 2, height_ratios=[1.5, 1.0, 1.0])
    panels = [(fig.add_subplot(grid[0, 0]), runs, "episode return"),
              (fig.add_subplot(grid[0, 1]), length_runs(runs), "episode length (steps)")]
    for ax, source, label in panels:
        for method in methods:
            seeds = len({r.seed for r in source if r.method == method and r.status == "ok"})
            curve = gridworld_curve(source, method, window=SMOOTHING_EPISODES)
            plot_curve(ax, curve, f"{method} soft-Q ({seeds} seeds)", GRIDWORLD_COLOURS[method])
        ax.set_xlabel("episode (per task)")
        ax.set_ylabel(f"{label}, {SMOOTHING_EPISODES}-episode mean")
        ax.legend(fontsize=7)
    panels[0][0].set_title("(a) return: mean over tasks and seeds, 95% CI")
    panels[1][0].set_title("(b) steps per episode (100 = goal not reached)")
    if distral:
        prior = np.mean([read_prior(r) for r in distral], axis=0)
        for previous_action in range(len(COMPASS_NAMES)):
            ax = fig.add_subplot(grid[1 + previous_action // 2, previous_action % 2])
            plot_prior_map(ax, prior, previous_action)
        fig.text(0.5, -0.02, f"(c) distilled π0 (mean over {len(distral)} Distral seeds): arrow length ∝ "
                 "probability of each move given the cell and the previous move (east in red)",
                 ha="center", fontsize=7)
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distral_repro.tabular.figure", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output .pdf (a .png is written beside it)")
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="results/gridworld/{method}/seed{S}")
    args = parser.parse_args(argv)
    if args.out.suffix != ".pdf":
        parser.error(f"--out must end in .pdf (got {args.out})")
    setup_style()
    try:
        fig = figure3(load_gridworld_runs(args.run_dirs))
    except (RunFileError, FigureInputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    written = save_figure(fig, args.out)
    print("wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
