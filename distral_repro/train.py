"""One training run: ``python -m distral_repro.train`` (DESIGN.md, "One training run").

    python -m distral_repro.train --algo KL+ent_2col --env maze --beta 100 --lr 2e-3 \\
        --seed 0 --out results/runs/maze/KL+ent_2col/beta100_lr2e-3_seed0 [--preset smoke]

Writes into ``--out``, each file atomically: ``progress.csv``, ``summary.json``,
``pi0_eval.csv`` (maze, algorithms with a shared column h), ``provenance.json`` (wall time,
speed and git commit: kept out of the summary so that the summary's bytes depend on the run
only) and, while running, ``checkpoint.pt``. Re-running the same command after a kill resumes from the checkpoint
and ends with the same result as an uninterrupted run. SIGTERM or SIGINT (Snakemake
stopping the job, Slurm preempting it or reaching its time limit, Ctrl-C) finish the
current update, write the checkpoint and exit 128 + the signal (143, 130); a run already
complete exits 0. A non-finite loss, or one above ``learner.LOSS_BOUND``, ends the run as
``diverged`` (exit 0, summary written). Bad arguments: one line on stderr, exit 2,
nothing written.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

if __name__ == "__main__":  # SIGTERM/SIGINT while torch imports: one line and 128 + signal, not a bare kill
    def _stopped_while_starting(signum, frame):
        os.write(2, f"distral_repro.train: stopped by {signal.Signals(signum).name} while starting; "
                    "nothing written, the same command starts the run\n".encode())
        os._exit(128 + signum)

    for _signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(_signum, _stopped_while_starting)

import torch

from distral_repro import __version__, numerics
from distral_repro.cli import OneLineParser, UsageError
from distral_repro.config import ALGORITHMS, ENVIRONMENTS, ConfigError, RunConfig, make_run_config
from distral_repro.envs import PRESET_NAMES
from distral_repro.learner import PI0_EVAL_COLUMNS, PROGRESS_COLUMNS, Learner
from distral_repro.runio import atomic_write_bytes, atomic_write_json, atomic_write_rows, git_commit

RUN_FILES = ("progress.csv", "summary.json", "pi0_eval.csv", "provenance.json", "checkpoint.pt")
CHECKPOINT = "checkpoint.pt"
# A directory holding one of these is a run directory: no other run may live inside it.
RUN_MARKERS = ("summary.json", "checkpoint.pt", "progress.csv")

def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m distral_repro.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--algo", required=True, help=f"one of {', '.join(ALGORITHMS)}")
    p.add_argument("--env", required=True, help=f"one of {', '.join(ENVIRONMENTS)}, or a family of --env-file")
    p.add_argument("--env-file", help="a YAML file with a 'families:' block defining your own families (e.g. config/config.yaml)")
    p.add_argument("--beta", required=True, help="inverse regularisation strength, > 0 (e.g. 100 or 3e3)")
    p.add_argument("--lr", required=True, help="RMSProp learning rate, > 0")
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--preset", default="default", help=f"budget and env sizes: {', '.join(PRESET_NAMES)}")
    p.add_argument("--steps-per-task", type=int, help="override the preset's env steps per task")
    p.add_argument("--workers", type=int, help="override the preset's workers per task")
    p.add_argument("--unroll", type=int, help="override the preset's unroll length (n of n-step returns)")
    p.add_argument("--view", default="window", help="observations: window (one-hot) or first_person (RGB frames)")
    p.add_argument("--image-size", type=int, default=32, help="first-person frame side in pixels, 16..84")
    p.add_argument("--hyper", action="append", default=[], metavar="KEY=VALUE",
                   help="override a shared setting of config.Hyper, e.g. rmsprop_eps=1e-7 (repeatable; for pilots)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (Snakemake passes its `threads`)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--keep-checkpoint", action="store_true",
                   help="keep the final checkpoint.pt after the summary (the workflow passes it and removes it later)")
    return p


def parse(argv: list[str] | None) -> tuple[RunConfig, Path, argparse.Namespace]:
    """Parse and validate everything before any work; raises UsageError/ConfigError."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # argparse reads "-2e-4" as an option; join numeric options with their value so that
    # a negative beta or lr gets the clear "must be > 0" message.
    for i in range(len(argv) - 2, -1, -1):
        if argv[i] in ("--beta", "--lr") and argv[i + 1].startswith("-"):
            argv[i : i + 2] = [f"{argv[i]}={argv[i + 1]}"]
    args = build_parser().parse_args(argv)
    if args.threads < 1:
        raise ConfigError(f"threads must be >= 1, got {args.threads}")
    try:
        numerics.check_requested()
    except numerics.NumericsError as error:
        raise ConfigError(str(error)) from None
    hyper = {}
    for item in args.hyper:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--hyper takes KEY=VALUE, got {item!r}")
        hyper[key.strip()] = value.strip()
    families = load_families(args.env_file) if args.env_file else None
    config = make_run_config(
        args.algo, args.env, args.beta, args.lr, args.seed, args.preset, families=families, hyper_overrides=hyper,
        steps_per_task=args.steps_per_task, workers=args.workers, unroll=args.unroll,
        view=args.view, image_size=args.image_size,
    )
    if config.family is not None:
        check_family(config)
    if not args.out.strip():
        raise ConfigError("--out must name a run directory, got an empty string")
    out = Path(args.out)
    check_out_dir(out, config)
    args.created_dirs = check_writable(out)
    return config, out, args


def load_families(path: str) -> dict:
    """The family definitions of an --env-file (ConfigError naming the problem)."""
    from distral_repro.envs.specs import load_family_file

    try:
        return load_family_file(path)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def check_family(config: RunConfig) -> None:
    """Build one env per task of a user family: bad ids, wrappers or spaces fail before anything is written."""
    from distral_repro.envs.specs import parse_family

    try:
        parse_family(config.env, config.family).check()
    except ValueError as error:
        raise ConfigError(str(error)) from None


def check_writable(out: Path) -> list[Path]:
    """Create `out` and a file in it now, so that an unwritable --out fails before any work.
    Returns the directories it created, deepest first (see :func:`remove_created`)."""
    created = [p for p in (out, *out.parents) if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        remove_created(created)
        raise ConfigError(f"cannot write to --out {out}: {exc.strerror or exc}") from None
    return created


def remove_created(created: list[Path]) -> None:
    """Remove the (still empty) directories `check_writable` created, deepest first."""
    for path in created:
        try:
            path.rmdir()
        except OSError:
            pass


def _identity(config_dict: dict) -> dict:
    """The fields that make two runs the same run (a user family's definition included)."""
    keys = ("algo", "env", "beta", "lr", "seed", "preset", "budget", "hyper")
    view = {"view": config_dict.get("view", "window"), "image_size": config_dict.get("image_size", 32)}
    return {**{k: config_dict[k] for k in keys}, "family": config_dict.get("family"), **view}


def check_out_dir(out: Path, config: RunConfig) -> None:
    """Refuse a directory that holds anything but this very run's files."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory")
    for parent in out.absolute().parents:
        if any((parent / name).is_file() for name in RUN_MARKERS):
            raise ConfigError(f"--out {out} lies inside the run directory {parent}; choose a directory outside it")
    if not out.exists():
        return
    foreign = sorted(p.name for p in out.iterdir() if p.name not in RUN_FILES and not p.name.startswith("."))
    if foreign:
        raise ConfigError(f"--out {out} holds files that are not this run's: {', '.join(foreign)}")
    mine = _identity(config.to_dict())
    summary = out / "summary.json"
    if summary.exists():
        try:
            theirs = json.loads(summary.read_text())["config"]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"--out {out} holds an unreadable summary.json; remove it to rerun") from None
        if _identity(theirs) != mine:
            raise ConfigError(f"--out {out} holds another run's files ({_describe(theirs)}); choose another --out")
    checkpoint = out / CHECKPOINT
    if checkpoint.exists():
        state = _load_checkpoint(checkpoint)
        theirs = state["config"]
        if _identity(theirs) != mine:
            raise ConfigError(
                f"--out {out} holds the checkpoint of a different run ({_describe(theirs)}); "
                f"choose another --out, or delete {checkpoint} to start this run afresh"
            )
        made_under = state.get("numerics", {}).get("mode", "none recorded (made before numeric modes)")
        if made_under != numerics.active_mode():
            raise ConfigError(
                f"{checkpoint} was made in numeric mode {made_under}, this process runs in "
                f"{numerics.active_mode()} mode; resume it with {numerics.ENV_VAR}={made_under}, "
                f"or delete it to start afresh"
            )


def _describe(config_dict: dict) -> str:
    return ", ".join(f"{k}={config_dict.get(k)}" for k in ("algo", "env", "beta", "lr", "seed", "preset"))


def _load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, weights_only=False)
    except Exception as exc:  # a checkpoint is written atomically, so this is someone else's file
        raise ConfigError(f"cannot read checkpoint {path}: {exc}; remove it to start afresh") from None


class RunWriter:
    """Writes the run directory's files atomically from the learner's state."""

    def __init__(self, out: Path, config: RunConfig, threads: int):
        self.out = out
        self.config = config
        self.threads = threads

    def progress(self, learner: Learner) -> None:
        atomic_write_rows(self.out / "progress.csv", learner.progress, list(PROGRESS_COLUMNS))
        if learner.evaluate_pi0:
            atomic_write_rows(self.out / "pi0_eval.csv", learner.pi0_progress, list(PI0_EVAL_COLUMNS))

    def checkpoint(self, learner: Learner) -> None:
        buffer = io.BytesIO()
        torch.save({**learner.state_dict(), "numerics": numerics.describe(self.threads)}, buffer)
        atomic_write_bytes(self.out / CHECKPOINT, buffer.getvalue())

    def summary(self, learner: Learner, wall_time_s: float) -> dict:
        ok = learner.status == "ok"
        final, auc = learner.returns_by_task() if ok else ({}, {})
        pi0 = learner.pi0_final_by_task() if ok else None
        total_steps = learner.steps_per_task * learner.num_tasks
        summary = {
            "status": learner.status,
            "algo": self.config.algo,
            "env": self.config.env,
            "beta": self.config.beta,
            "lr": self.config.lr,
            "seed": self.config.seed,
            "preset": self.config.preset,
            "final_return": {str(t): v for t, v in final.items()} if ok else None,
            "auc_return": {str(t): v for t, v in auc.items()} if ok else None,
            "mean_final_return": float(sum(final.values()) / len(final)) if ok else math.nan,
            "mean_auc_return": float(sum(auc.values()) / len(auc)) if ok else math.nan,
            "pi0_final_return": {str(t): v for t, v in pi0.items()} if pi0 else None,
            "diverged_at_step": learner.diverged_at_step,
            "diverged_reason": learner.diverged_reason,
            "steps_per_task": learner.steps_per_task,
            "total_env_steps": total_steps,
            "threads": self.threads,
            "numerics": numerics.describe(self.threads),
            "config": self.config.to_dict(),
            "version": __version__,
        }
        # When, how fast and from which checkout: not a result. Beside the summary, so that
        # summary.json is the same bytes wherever and from whichever commit the run is made
        # again (DVC hashes it; .dvcignore leaves provenance.json out).
        atomic_write_json(self.out / "provenance.json", {
            "wall_time_s": wall_time_s,
            "steps_per_second": total_steps / wall_time_s if wall_time_s > 0 else math.nan,
            "total_env_steps": total_steps,
            "threads": self.threads,
            "git_commit": git_commit(),
        })
        atomic_write_json(self.out / "summary.json", summary)
        return summary


class Reporter:
    """A progress bar in a terminal, plain periodic lines otherwise."""

    def __init__(self, learner: Learner, quiet: bool):
        self.learner = learner
        self.quiet = quiet
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=learner.total_updates, initial=learner.update, unit="upd", file=sys.stderr)

    def point(self) -> None:
        learner = self.learner
        recent = [r["episode_return"] for r in learner.progress[-learner.num_tasks :]]
        mean = sum(x for x in recent if x == x) / max(1, sum(1 for x in recent if x == x))
        if self.bar is not None:
            self.bar.n = learner.update
            self.bar.set_postfix(step=learner.steps_per_task, ret=f"{mean:.3g}")
        elif not self.quiet:
            print(
                f"step {learner.steps_per_task}/{learner.config.budget.steps_per_task} per task, "
                f"update {learner.update}/{learner.total_updates}, mean return {mean:.4g}",
                file=sys.stderr, flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class StopSignals:
    """SIGTERM and SIGINT ask the run to stop between two updates (see :func:`run`).

    Snakemake stopping a job, Slurm preempting it or reaching its time limit (SIGTERM, then
    SIGKILL after the cluster's KillWait) and Ctrl-C (SIGINT) all end here. After the first
    signal the previous handlers are back, so a second one acts at once.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.received: int | None = None
        self._previous: dict = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum, frame) -> None:
        self.received = signum
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def __exit__(self, *exc) -> None:
        self._restore()


class Interrupted(Exception):
    """The run stopped on a signal after writing its checkpoint; the same command resumes it."""

    def __init__(self, signum: int, steps_per_task: int):
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {steps_per_task} per task")
        self.signum = signum


def remove_stale_temporaries(out: Path) -> None:
    """Delete the temporaries of atomic writes that a killed run left (``.NAME.*.tmp``)."""
    for name in RUN_FILES:
        for path in out.glob(f".{name}.*.tmp"):
            path.unlink(missing_ok=True)


def run(config: RunConfig, out: Path, threads: int = 1, quiet: bool = False, stop: StopSignals | None = None,
        keep_checkpoint: bool = False) -> dict:
    """Train (or resume, or report a finished run) and write the run directory.

    On SIGTERM/SIGINT the current update is finished, the checkpoint written and
    :class:`Interrupted` raised; a run whose summary is written returns normally. The
    final state is checkpointed before the summary is written and the checkpoint removed
    after it, so a run whose files are deleted before the process exits (as Snakemake
    does with a job it sees failing) is rebuilt by a rerun from that checkpoint. `stop`
    is the caller's signal catcher (:func:`main` keeps one until it returns); by default
    run() catches the signals itself while it trains. `keep_checkpoint` leaves the final
    checkpoint in place (the workflow removes it once Snakemake has recorded the job: a Slurm
    job can be cut by its time limit after the command ended, and Snakemake then deletes the
    run's outputs, which the next attempt rebuilds from that checkpoint in seconds).
    """
    torch.set_num_threads(threads)
    numerics.check_active()
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    if (out / "summary.json").exists() and not (out / CHECKPOINT).exists():
        summary = json.loads((out / "summary.json").read_text())
        if summary.get("status") in ("ok", "diverged") and (out / "progress.csv").exists():
            if not quiet:
                print(f"run in {out} is already complete ({summary['status']})", file=sys.stderr)
            return summary
    with StopSignals() if stop is None else contextlib.nullcontext(stop) as stop:
        learner = Learner(config)
        if (out / CHECKPOINT).exists():
            learner.load_state_dict(_load_checkpoint(out / CHECKPOINT))
            if not quiet:
                print(f"resuming from {out / CHECKPOINT} at step {learner.steps_per_task} per task", file=sys.stderr)
        saved_update = learner.update
        writer = RunWriter(out, config, threads)
        if learner.done:  # the final checkpoint of a run whose files were deleted: rebuild them
            writer.progress(learner)
        reporter = Reporter(learner, quiet)
        segment_start = time.perf_counter()

        def close_segment() -> None:
            nonlocal segment_start
            learner.elapsed_s += time.perf_counter() - segment_start
            segment_start = time.perf_counter()

        try:
            while not learner.done and stop.received is None:
                if learner.train_update():
                    close_segment()
                    writer.progress(learner)
                    if not learner.done:
                        writer.checkpoint(learner)
                        saved_update = learner.update
                    reporter.point()
        finally:
            reporter.close()
        if not learner.done:
            if learner.update != saved_update:
                close_segment()
                writer.checkpoint(learner)
            raise Interrupted(stop.received, learner.steps_per_task)
        writer.checkpoint(learner)
        summary = writer.summary(learner, learner.elapsed_s)
        if not keep_checkpoint:
            (out / CHECKPOINT).unlink(missing_ok=True)
    if learner.status == "diverged" and not quiet:
        print(f"run diverged at step {learner.diverged_at_step} per task ({learner.diverged_reason}); "
              "recorded in summary.json", file=sys.stderr)
    return summary


def main(argv: list[str] | None = None) -> int:
    # Caught from the start (checks and a checkpoint load take seconds) until main returns: a
    # signal after the summary is written must not turn the finished run into a failed job
    # whose files Snakemake deletes.
    try:
        with StopSignals() as stop:
            try:
                config, out, args = parse(argv)
            except (UsageError, ConfigError) as exc:
                print(f"distral_repro.train: error: {exc}", file=sys.stderr)
                return 2
            if stop.received is not None:  # during the checks: nothing trained, leave nothing behind
                remove_created(args.created_dirs)
                print(f"distral_repro.train: stopped by {signal.Signals(stop.received).name} while starting; "
                      "nothing written, the same command starts the run", file=sys.stderr)
                return 128 + stop.received
            warning = numerics.host_warning()
            if warning:
                print(f"distral_repro.train: warning: {warning}", file=sys.stderr)
            run(config, out, threads=args.threads, quiet=args.quiet, stop=stop, keep_checkpoint=args.keep_checkpoint)
    except Interrupted as exc:
        print(f"distral_repro.train: {exc}; checkpoint written to {out / CHECKPOINT}, "
              "the same command resumes", file=sys.stderr)
        return 128 + exc.signum
    return 0


if __name__ == "__main__":
    for _signum in StopSignals.SIGNALS:  # main() catches them from here; a second one then acts at once
        signal.signal(_signum, signal.SIG_DFL)
    code = main()
    for signum in StopSignals.SIGNALS:  # the files are final: no signal may turn exit 0 into a kill
        signal.signal(signum, signal.SIG_IGN)
    sys.exit(code)
