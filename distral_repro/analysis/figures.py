"""`python -m distral_repro.analysis.figures`: the deep-RL figures of the paper.

    python -m distral_repro.analysis.figures fig4 --env ENV --out paper_figures/fig4_ENV.pdf \
        [--confirmation RUN_DIR ...] RUN_DIR ...
    python -m distral_repro.analysis.figures profile --env ENV --out paper_figures/profile_ENV.pdf RUN_DIR ...
    python -m distral_repro.analysis.figures pi0 --out paper_figures/fig4_maze_pi0.pdf [--confirmation RUN_DIR ...] RUN_DIR ...
    python -m distral_repro.analysis.figures overview --out paper_figures/overview.pdf \
        --results-dir results [--confirmation RUN_DIR ...] [--gridworld GW_RUN_DIR ...] RUN_DIR ...

RUN_DIR are the grid's runs; `--confirmation RUN_DIR` (once per run) adds the confirmation
runs, which then draw the learning curves and pi_0 panels (the robustness panel and the
performance profiles always show the grid: every beta x lr x seed). A study without a grid
(config/long_horizon.yaml) gives --confirmation runs only: its fig4 is the learning curves alone.

Every command also takes --references (default results/reference_scores.csv): returns are
shown as normalised scores, 0 = uniform-random policy, 1 = scripted policy. Each command
writes the PDF and a PNG beside it (same stem), both atomically. Figures read only run
files and the references (the overview also reads results/claims.csv, written by aggregate
from the same run files). Algorithms keep the same colour in every figure.
"""

from __future__ import annotations

import argparse
import io
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from distral_repro.analysis.aggregate import (  # noqa: E402
    add_confirmation_argument,
    add_references_argument,
    add_run_arguments,
    load_stages,
    split_run_arguments,
)
from distral_repro.analysis.claims import Stages, as_stages  # noqa: E402
from distral_repro.analysis.runs import GRIDWORLD_METHODS, RunFileError, load_gridworld_runs  # noqa: E402
from distral_repro.analysis.scores import MissingReferenceError  # noqa: E402
from distral_repro.analysis.stats import CONTRADICTED, NOT_RESOLVED, SUPPORTED  # noqa: E402
from distral_repro.analysis.tables import ALGORITHM_ORDER, Curve, Study, gridworld_curve, ordered  # noqa: E402
from distral_repro.runio import atomic_write_bytes  # noqa: E402

# Baselines in blues and green, Distral variants in grey, pink, brown and vermillion
# (KL+ent_2col), all from seaborn's colour-blind-safe palette with one orange only; each
# algorithm also has its own line style, so that no pair is told apart by colour alone.
_PALETTE = sns.color_palette("colorblind", 10)
ALGORITHM_COLOURS = dict(zip(ALGORITHM_ORDER, [_PALETTE[i] for i in (0, 9, 2, 7, 4, 5, 3)]))
ALGORITHM_LINESTYLES = dict(zip(ALGORITHM_ORDER, ["-", (0, (1, 1)), "--", (0, (3, 1, 1, 1)), (0, (5, 2, 1, 2, 1, 2)),
                                                  (0, (6, 2)), "-"]))
BAND_LABEL = "band: 95% CI over runs"
GRIDWORLD_COLOURS = {"distral": ALGORITHM_COLOURS["KL+ent_2col"], "separate": ALGORITHM_COLOURS["A3C"]}
DIVERGED_MARKER = "x"
SCORE_LABEL = "normalised score (0 random, 1 scripted)"


class FigureInputError(ValueError):
    """The runs given cannot make the requested figure (e.g. no run of the env)."""


def colour(algo: str):
    """The algorithm's colour, the same in every figure (grey for unknown names)."""
    return ALGORITHM_COLOURS.get(algo, (0.5, 0.5, 0.5))


def linestyle(algo: str):
    """The algorithm's line style, the same in every figure."""
    return ALGORITHM_LINESTYLES.get(algo, "-")


def score_axis(ax: plt.Axes) -> None:
    """y from the random level (0) to at least the scripted one (1), wider where the data are."""
    low, high = ax.get_ylim()
    ax.set_ylim(min(0.0, low), max(1.05, high))


def horizon_of(study: Study, env: str) -> int:
    """Environment steps per task at the last evaluation point of the env's runs."""
    return int(max(r.progress["step"].max() for r in study.runs if r.env == env))


def setup_style() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=0.9)
    plt.rcParams.update({"pdf.fonttype": 42, "legend.frameon": False})


def save_figure(fig: plt.Figure, pdf_path: Path) -> list[Path]:
    """Write fig as PDF at pdf_path and PNG beside it, each atomically; close it."""
    written = []
    for fmt in ("pdf", "png"):
        buffer = io.BytesIO()
        # Fixed metadata: the same figure gives the same bytes (no creation date).
        metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
        fig.savefig(buffer, format=fmt, dpi=200, bbox_inches="tight", metadata=metadata)
        written.append(atomic_write_bytes(pdf_path.with_suffix(f".{fmt}"), buffer.getvalue()))
    plt.close(fig)
    return written


def plot_curve(ax: plt.Axes, curve: Curve, label: str, color, linestyle: str = "-") -> None:
    """Mean curve with its shaded confidence band (no band without an interval)."""
    ax.plot(curve.step, curve.mean, color=color, label=label, linestyle=linestyle, linewidth=1.4)
    if np.all(np.isfinite(curve.low)):
        ax.fill_between(curve.step, curve.low, curve.high, color=color, alpha=0.2, linewidth=0)


def plot_learning_curves(ax: plt.Axes, study: Study, env: str, with_settings: bool = True) -> None:
    """Panel 1 of fig4: every algorithm at its best (beta, lr), mean over tasks and seeds."""
    for algo in study.algos(env):
        res = study.results[(env, algo)]
        if res.curve is None:
            continue
        label = f"{algo} (β={res.beta:g}, lr={res.lr:g})" if with_settings else algo
        plot_curve(ax, res.curve, label, colour(algo), linestyle(algo))
    ax.set_xlabel("environment steps per task")
    ax.set_ylabel(SCORE_LABEL)
    score_axis(ax)
    seeds = max((len(study.results[(env, a)].best_runs) for a in study.algos(env)), default=0)
    ax.set_title(f"{env}: best setting per algorithm (grid's last-quarter score)\n{study.stage}, {seeds} seeds, to {horizon_of(study, env):,} "
                 f"steps per task; {BAND_LABEL}", fontsize=8)


def plot_robustness(ax: plt.Axes, study: Study, env: str) -> None:
    """Panel 2 of fig4: final return of every run, sorted best to worst, per algorithm.

    Diverged runs have no final return; they are drawn after the others at a "diverged"
    floor line below every finite value, with an x marker, so they are never dropped.
    """
    data = {algo: study.sorted_final_scores(env, algo) for algo in study.algos(env)}
    finite = np.concatenate([finals for finals, _ in data.values()])
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    spread = max(high - low, 1e-9)
    floor = low - 0.08 * spread
    diverging = 0  # algorithms with diverged runs so far: each gets its own row under the floor
    for algo, (finals, num_diverged) in data.items():
        ranks = np.arange(1, len(finals) + 1)
        ax.plot(ranks, finals, color=colour(algo), linestyle=linestyle(algo), marker="o", markersize=2.5,
                linewidth=1.2, label=algo)
        if num_diverged:
            diverged_ranks = np.arange(len(finals) + 1, len(finals) + num_diverged + 1)
            row = floor - 0.04 * spread * diverging
            ax.scatter(diverged_ranks, np.full(num_diverged, row), color=colour(algo), marker=DIVERGED_MARKER, s=25)
            diverging += 1
    if diverging:
        ax.axhline(floor, color="0.4", linestyle=":", linewidth=0.8)
        ax.annotate("diverged (×)", (0.01, floor), xycoords=("axes fraction", "data"), ha="left", va="bottom",
                    fontsize=7, color="0.3")
    ax.set_xlabel("run rank (all β × lr × seed, best first)")
    ax.set_ylabel("final score (mean over tasks)")
    score_axis(ax)
    ax.set_title(f"{env}: robustness to hyperparameters\n{study.stage}: every run's final score at "
                 f"{horizon_of(study, env):,} steps per task", fontsize=8)


def fig4(study: Study | Stages, env: str) -> plt.Figure:
    """The paper's Figure 4 for one env: learning curves at the best settings (the confirmation
    runs where there are), and the robustness of every grid run (without a grid: the curves alone)."""
    stages = as_stages(study)
    if env not in stages.envs:
        raise FigureInputError(f"no run of env {env!r} among the runs given; choose one of: {', '.join(stages.envs)}")
    if stages.grid is None:
        fig, curves_ax = plt.subplots(figsize=(4.6, 3.0), constrained_layout=True)
    else:
        fig, (curves_ax, robust_ax) = plt.subplots(1, 2, figsize=(8.0, 3.0), constrained_layout=True)
        plot_robustness(robust_ax, stages.grid, env)
    plot_learning_curves(curves_ax, stages.late(env), env)
    handles, labels = curves_ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 4), fontsize=7)
    return fig


def fig_profile(study: Study, env: str) -> plt.Figure:
    """Performance profiles of one environment: the fraction of runs x tasks whose final score
    exceeds tau, over all runs of each algorithm (every beta, lr and seed), with 95% bands."""
    if env not in study.envs:
        raise FigureInputError(f"no run of env {env!r} among the runs given; choose one of: {', '.join(study.envs)}")
    fig, ax = plt.subplots(figsize=(4.6, 3.2), constrained_layout=True)
    for algo in study.algos(env):
        profile = study.performance_profile(env, algo)
        ax.plot(profile.step, profile.mean, color=colour(algo), label=algo, linewidth=1.4,
                linestyle=linestyle(algo), drawstyle="steps-post")
        if np.all(np.isfinite(profile.low)):
            ax.fill_between(profile.step, profile.low, profile.high, color=colour(algo), alpha=0.15, linewidth=0,
                            step="post")
    ax.set_xlabel("normalised final score τ")
    ax.set_ylabel("fraction of runs with score > τ")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{env}: performance profiles\n{study.stage}: every run's final score (all β, lr, seeds) at "
                 f"{horizon_of(study, env):,} steps per task; {BAND_LABEL}", fontsize=8)
    ax.legend(fontsize=6, loc="upper right")
    return fig


def fig_pi0(study: Study, env: str = "maze") -> plt.Figure:
    """The distilled pi_0 acting alone vs the task policies, per algorithm with pi_0 data."""
    algos = [a for a in study.algos(env) if study.results[(env, a)].pi0_curve is not None] if env in study.envs else []
    if not algos:
        raise FigureInputError(f"no {env} run with pi0_eval.csv at its best setting among the runs given")
    fig, (curves_ax, final_ax) = plt.subplots(1, 2, figsize=(8.0, 3.0), constrained_layout=True)
    for algo in algos:
        res = study.results[(env, algo)]
        plot_curve(curves_ax, res.curve, algo, colour(algo))
        plot_curve(curves_ax, res.pi0_curve, f"{algo} π0", colour(algo), linestyle="--")
        if res.pi0_task_curve is not None:
            plot_curve(curves_ax, res.pi0_task_curve, f"{algo} task policies, π0's episodes", colour(algo), linestyle=":")
    curves_ax.set_xlabel("environment steps per task")
    curves_ax.set_ylabel(SCORE_LABEL)
    matched = any(study.results[(env, a)].pi0_task_curve is not None for a in algos)
    seeds = max(len(study.results[(env, a)].best_runs) for a in algos)
    where = f"{study.stage}, {seeds} seeds, to {horizon_of(study, env):,} steps per task; {BAND_LABEL}"
    curves_ax.set_title(f"{env}: task policies (solid: training episodes"
                        + ("; dotted: π0's evaluation episodes" if matched else "") + ") and π0 alone (dashed)\n"
                        + where, fontsize=7)

    x = np.arange(len(algos))
    for offset, which, marker in ((-0.15, "final", "o"), (0.15, "pi0_final", "s")):
        for i, algo in enumerate(algos):
            est = getattr(study.results[(env, algo)], which)
            if est is None:
                continue
            yerr = None
            if np.isfinite(est.low):
                yerr = [[est.mean - est.low], [est.high - est.mean]]
            final_ax.errorbar(x[i] + offset, est.mean, yerr=yerr, color=colour(algo), marker=marker,
                              markerfacecolor="white" if which == "pi0_final" else colour(algo), capsize=3)
    final_ax.axhline(0.0, color="0.4", linestyle=":", linewidth=0.8)
    final_ax.set_xticks(x, algos, rotation=15)
    final_ax.set_ylabel("final score (mean over tasks, 95% CI)")
    final_ax.set_title(f"{env}: final score at the best setting\n(task policies: last 10% of training; π0: last "
                       f"evaluation), {horizon_of(study, env):,} steps per task", fontsize=7)
    handles = [plt.Line2D([], [], color=colour(a), label=a) for a in algos]
    handles += [
        plt.Line2D([], [], color="k", marker="o", label="task policies"),
        plt.Line2D([], [], color="k", marker="s", markerfacecolor="white", linestyle="--", label="π0 alone"),
        plt.Line2D([], [], color="0.4", linestyle=":", label="uniform-random policy"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=7)
    return fig


def read_claims(results_dir: Path) -> pd.DataFrame:
    path = results_dir / "claims.csv"
    if not path.is_file():
        raise FigureInputError(f"{path} is missing: run python -m distral_repro.analysis.aggregate first")
    table = pd.read_csv(path)
    missing = {"claim", "verdict", "statement"} - set(table.columns)
    if missing:
        raise FigureInputError(f"{path} lacks column(s) {', '.join(sorted(missing))}")
    return table


def overview(study: Study | Stages, gridworld, claims: pd.DataFrame) -> plt.Figure:
    """One page: the main learning curves of each environment, grid world, the claims table."""
    stages = as_stages(study)
    panels = list(stages.envs) + (["gridworld"] if gridworld else [])
    columns = min(len(panels), 2)
    rows = int(np.ceil(len(panels) / columns))
    fig = plt.figure(figsize=(8.3, 3.0 * rows + 3.2), constrained_layout=True)
    grid = fig.add_gridspec(rows + 1, columns, height_ratios=[3.0] * rows + [3.2])
    for i, name in enumerate(panels):
        ax = fig.add_subplot(grid[i // columns, i % columns])
        if name == "gridworld":
            for method in GRIDWORLD_METHODS:
                curve = gridworld_curve(gridworld, method)
                if curve is not None:
                    plot_curve(ax, curve, f"{method} soft-Q", GRIDWORLD_COLOURS[method])
            ax.set_xlabel("episode")
            ax.set_ylabel("episode return (moving average)")
            ax.set_title("grid world: tabular soft-Q")
            ax.legend(fontsize=6)
        else:
            plot_learning_curves(ax, stages.late(name), name, with_settings=False)
    algos = ordered({a for env in stages.envs for a in stages.late(env).algos(env)}, ALGORITHM_ORDER)
    handles = [plt.Line2D([], [], color=colour(a), linestyle=linestyle(a), label=a) for a in algos]
    table_ax = fig.add_subplot(grid[rows, :])
    table_ax.axis("off")
    table_ax.legend(handles=handles, loc="upper center", ncol=min(len(handles), 7), fontsize=7)
    cells = [[c, v, textwrap.fill(s, 95)] for c, v, s in zip(claims["claim"], claims["verdict"], claims["statement"])]
    table = table_ax.table(cellText=cells, colLabels=["claim", "verdict", "statement"], loc="lower center",
                           cellLoc="left", colWidths=[0.06, 0.14, 0.80], bbox=[0, 0, 1, 0.85])
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    verdict_colours = {SUPPORTED: "#d9f0d3", CONTRADICTED: "#f4cccc", NOT_RESOLVED: "#eeeeee"}
    for (row, col), cell in table.get_celld().items():
        if row > 0 and col == 1:
            cell.set_facecolor(verdict_colours.get(cells[row - 1][1], "white"))
    fig.suptitle("Distral reproduction: overview")
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distral_repro.analysis.figures", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="figure", required=True, metavar="{fig4,profile,pi0,overview}")
    p_fig4 = commands.add_parser("fig4", help="learning curves + robustness of one environment")
    p_fig4.add_argument("--env", required=True, help="an env of the runs given (maze, navigation, lasertag, ...)")
    p_profile = commands.add_parser("profile", help="performance profiles of one environment (all runs)")
    p_profile.add_argument("--env", required=True, help="an env of the runs given")
    p_pi0 = commands.add_parser("pi0", help="maze: the distilled pi_0 alone vs the task policies")
    p_over = commands.add_parser("overview", help="one page: curves per env + the claims table")
    p_over.add_argument("--results-dir", required=True, type=Path, help="holds claims.csv (from aggregate)")
    for sub in (p_fig4, p_profile, p_pi0, p_over):
        sub.add_argument("--out", required=True, type=Path, help="output .pdf (a .png is written beside it)")
    add_run_arguments(p_over)
    for sub in (p_fig4, p_profile, p_pi0):
        add_references_argument(sub)
        sub.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="the grid's run directories")
    for sub in (p_fig4, p_pi0):
        add_confirmation_argument(sub)
    args = parser.parse_args(argv)
    if args.figure == "overview":
        split_run_arguments(p_over, args)
    elif not args.run_dirs and not getattr(args, "confirmation", None):
        parser.error("at least one RUN_DIR" + (" (or --confirmation RUN_DIR)" if args.figure != "profile" else "") + " is required")
    if args.out.suffix != ".pdf":
        parser.error(f"--out must end in .pdf (got {args.out})")

    setup_style()
    try:
        stages = load_stages(args.run_dirs, getattr(args, "confirmation", []), args.references)
        with np.errstate(invalid="ignore"):
            if args.figure == "fig4":
                fig = fig4(stages, args.env)
            elif args.figure == "profile":
                if stages.grid is None:
                    raise FigureInputError("performance profiles need the grid's runs (RUN_DIR)")
                fig = fig_profile(stages.grid, args.env)
            elif args.figure == "pi0":
                fig = fig_pi0(stages.late("maze"))
            else:
                fig = overview(stages, load_gridworld_runs(args.gridworld), read_claims(args.results_dir))
    except (RunFileError, MissingReferenceError, FigureInputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    written = save_figure(fig, args.out)
    print("wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
