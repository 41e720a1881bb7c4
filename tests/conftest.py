"""Imported by pytest before any test module: distral_repro sets its numeric mode before torch computes.

Also the one smoke study of the session: `snakemake --cores 2 --config preset=smoke` run once by
real Snakemake on a copy of the workflow files, then copied (outputs, logs and Snakemake's own
metadata, mtimes kept) by every test module that needs a finished smoke study
(tests/test_workflow.py, tests/test_dvc.py). Each copy is checked by Snakemake itself where it is
used, so a copy that Snakemake did not consider up to date would be rebuilt, not trusted.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import distral_repro  # noqa: F401  (numerics.configure() runs on import)

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "rules", "config", "profiles")
#: What a finished study leaves beside the workflow files (Snakemake's metadata included).
STUDY_OUTPUTS = ("results", "paper_figures", "logs", ".snakemake")


def copy_workflow(dest: Path) -> Path:
    """Snakefile, rules/, config/ and profiles/ in a fresh folder (the package comes from the install)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        else:
            shutil.copy2(src, dest / name)
    return dest


def run_snakemake(workdir: Path, *args: str, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
    """`snakemake ARGS` in workdir with this checkout's package; `timeout` (s) fails a run that should be quick."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # run the package of this checkout
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=workdir, env=env, capture_output=True, text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def copy_study(study: Path, dest: Path) -> None:
    """A finished study's outputs and Snakemake metadata into `dest` (mtimes kept, locks left out)."""
    for name in STUDY_OUTPUTS:
        if (study / name).exists():
            shutil.copytree(study / name, dest / name, symlinks=True, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("locks"))


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory) -> Path:
    """The smoke preset through real Snakemake, end to end, once per session (read-only: copy it)."""
    workdir = copy_workflow(tmp_path_factory.mktemp("smoke-study"))
    run_snakemake(workdir, "--cores", "2", "--config", "preset=smoke")
    return workdir
