"""The DVC flows of docs/dvc.md, run for real on the smoke preset.

A session fixture builds a throwaway git + DVC repository from this checkout's files
(what a user's clone holds), runs the smoke workflow once with Snakemake and records it
with `dvc commit`, as a user does after a local or Slurm run. The tests then run the
other flows on it: `dvc repro`, `dvc metrics/plots/params diff` after a change of config,
`dvc push` to a local directory remote and `dvc pull` into a fresh clone that rebuilds a
figure without retraining, and DVC's own errors outside git and without a remote.
No network: analytics, update checks and Studio are switched off, the remote is a
directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from distral_repro import dvc_sync

sys.path.insert(0, str(Path(__file__).parent))
from conftest import copy_study  # noqa: E402

pytestmark = pytest.mark.slow

CHECKOUT = Path(__file__).resolve().parents[1]
UP_TO_DATE = "Data and pipelines are up to date."
# What the training jobs write: a pull must never make Snakemake redo them.
TRAINING_OUTPUTS = dvc_sync.RUN_OUTPUTS
FIGURE = "paper_figures/fig4_maze.pdf"


# --------------------------------------------------------------------------- helpers


def _env(home: Path) -> dict[str, str]:
    """Environment for every git/dvc/snakemake call: isolated, quiet, offline."""
    env = dict(os.environ)
    env.update(
        {
            "DVC_NO_ANALYTICS": "1",
            "DVC_STUDIO_OFFLINE": "true",
            # DVC's per-user and per-machine configs and its site cache live in the
            # test's directory: nothing of this machine's DVC setup leaks in or out.
            "DVC_GLOBAL_CONFIG_DIR": str(home / "dvc-global"),
            "DVC_SYSTEM_CONFIG_DIR": str(home / "dvc-system"),
            "DVC_SITE_CACHE_DIR": str(home / "dvc-site"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": str(home / "gitconfig"),
            "GIT_AUTHOR_NAME": "test",
            "GIT_AUTHOR_EMAIL": "test@example.org",
            "GIT_COMMITTER_NAME": "test",
            "GIT_COMMITTER_EMAIL": "test@example.org",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
    )
    env.pop("SLURM_JOB_ID", None)
    (home / "dvc-global").mkdir(parents=True, exist_ok=True)
    # No update check (it would reach the network).
    (home / "dvc-global" / "config").write_text("[core]\n    check_update = false\n    analytics = false\n")
    (home / "gitconfig").write_text("[init]\n    defaultBranch = main\n[advice]\n    detachedHead = false\n")
    return env


@dataclass
class Shell:
    """Runs commands in one directory with the test environment."""

    cwd: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            list(args), cwd=cwd or self.cwd, env=self.env, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"`{' '.join(args)}` exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
                f"--- stderr\n{proc.stderr[-4000:]}"
            )
        return proc

    def dvc(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "dvc", *args, **kw)

    def git(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.run("git", *args, **kw)

    def snakemake(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "snakemake", "--cores", "2", *args, **kw)


def _checkout_files() -> list[str]:
    """Files a clone of this checkout holds: tracked plus new, not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=CHECKOUT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    return [rel for rel in listed if (CHECKOUT / rel).is_file() and "__pycache__" not in rel]


def _copy_checkout(dest: Path) -> None:
    for rel in _checkout_files():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(CHECKOUT / rel, dest / rel)


def _output_files(root: Path, tops=("results", "paper_figures")) -> dict[str, bytes]:
    """Relative path -> bytes of every output file under `tops` that DVC versions (no Snakemake
    leftovers, no provenance.json: the host's wall time, in .dvcignore)."""
    files = {}
    for top in tops:
        for path in sorted((root / top).rglob("*")):
            if path.is_file() and path.name != "provenance.json":
                files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def _mtimes(root: Path, tops=TRAINING_OUTPUTS) -> dict[str, int]:
    return {
        path.relative_to(root).as_posix(): path.stat().st_mtime_ns
        for top in tops
        for path in (root / top).rglob("*")
        if path.is_file()
    }


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """{"a": {"b": 1}} -> {"a.b": 1}: how `dvc metrics diff` names nested numbers."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _select_smoke_preset(repo: Path) -> None:
    """Make the smoke preset the grid that is run and recorded: config/config.yaml is the
    grid `snakemake --cores all` (and so `dvc repro`) runs, so it becomes the smoke preset."""
    shutil.copy2(repo / "config" / "presets" / "smoke.yaml", repo / "config" / "config.yaml")


def _smoke_grid(config: dict) -> tuple[dict, str]:
    """The mapping of config/config.yaml that holds the smoke run's `seeds`, and its key path."""
    for path in (("presets", "smoke"), ("smoke",), ()):
        node = config
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get("seeds"), list):
            return node, ".".join(path + ("seeds",))
    raise AssertionError("config/config.yaml names no `seeds` list for the smoke preset")


def _drop_last_smoke_seed(repo: Path) -> tuple[str, list]:
    """A config change that moves the headline numbers without any training: the grid
    loses a seed, so tables and metrics average over fewer runs (the dropped seed's run
    directories stay on disk, as `persist: true` promises)."""
    config_path = repo / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    grid, key = _smoke_grid(config)
    assert len(grid["seeds"]) >= 2, f"{key} needs two seeds to drop one"
    grid["seeds"] = grid["seeds"][:-1]
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return key, grid["seeds"]


# --------------------------------------------------------------------------- fixture


@dataclass
class AuditedRepo:
    sh: Shell
    home: Path
    run_commit: str  # the commit that recorded the first smoke run (no DVC remote yet)


@pytest.fixture(scope="session")
def audited_repo(smoke_study, tmp_path_factory) -> AuditedRepo:
    """A git + DVC repo with one smoke run made by Snakemake and recorded by `dvc commit`.

    The run is the session's smoke study (tests/conftest.py), copied in with Snakemake's
    metadata, so the suite trains the smoke grid once; Snakemake then runs here as a user's
    `snakemake --cores all` would and finds it up to date (checked below: were it not, it
    would rebuild what it must, and this fixture says so)."""
    home = tmp_path_factory.mktemp("dvc-audit")
    repo = home / "repo"
    repo.mkdir()
    sh = Shell(repo, _env(home))
    _copy_checkout(repo)
    _select_smoke_preset(repo)
    sh.git("init", "-q")
    sh.git("add", "-A")
    sh.git("commit", "-q", "-m", "workflow, smoke preset")

    copy_study(smoke_study, repo)
    done = sh.snakemake()
    assert "Nothing to be done" in done.stdout + done.stderr, (
        "the session's smoke study is not up to date under the DVC repo's config:\n" + done.stderr[-3000:])
    # Non-interactive: `dvc commit` asks before recording a changed stage; -f answers yes.
    sh.dvc("commit", "-f")
    sh.git("add", "-A")
    sh.git("commit", "-q", "-m", "smoke run")
    run_commit = sh.git("rev-parse", "HEAD").stdout.strip()
    return AuditedRepo(sh=sh, home=home, run_commit=run_commit)


# --------------------------------------------------------------------------- flows


def test_snakemake_then_dvc_commit_records_a_clean_state(audited_repo):
    sh = audited_repo.sh
    repo = sh.cwd
    # Snakemake's and DVC's working files are ignored, everything else is committed.
    assert sh.git("status", "--porcelain").stdout == ""
    assert sh.dvc("status").stdout.strip() == UP_TO_DATE

    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["run_workflow"]
    assert lock["params"]["config/config.yaml"]["preset"] == "smoke"
    recorded = {out["path"]: out for out in lock["outs"]}
    stage = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]["run_workflow"]
    declared = [next(iter(o)) for o in stage["outs"] + stage["metrics"]]
    assert sorted(recorded) == sorted(declared)
    for path in TRAINING_OUTPUTS + ("results/tables", "paper_figures"):
        assert recorded[path]["md5"].endswith(".dir") and recorded[path]["nfiles"] > 0, path

    # metrics.json lives in git (cache: false); the rest is in DVC's cache, not in git.
    tracked = sh.git("ls-files", "results", "paper_figures").stdout.split()
    assert tracked == ["results/metrics.json"]
    assert json.loads((repo / "results/metrics.json").read_text())

    # Nothing changed since: `dvc repro` runs nothing and deletes nothing.
    before = _mtimes(repo)
    out = sh.dvc("repro").stdout
    assert "didn't change, skipping" in out and "Running stage" not in out
    assert _mtimes(repo) == before


def test_config_change_then_dvc_repro_shows_in_metrics_params_and_plots_diff(audited_repo, tmp_path):
    sh = audited_repo.sh
    repo = sh.cwd
    runs_before = _output_files(repo, TRAINING_OUTPUTS)
    mtimes_before = _mtimes(repo)
    old_metrics = _flatten(json.loads((repo / "results/metrics.json").read_text()))

    key, value = _drop_last_smoke_seed(repo)
    # DVC sees the changed parameter (its status names the top-level key).
    assert f"modified:           {key.split('.')[0]}" in sh.dvc("status").stdout
    out = sh.dvc("repro").stdout
    assert "Running stage 'run_workflow'" in out
    assert sh.dvc("status").stdout.strip() == UP_TO_DATE
    sh.git("add", "-A")
    sh.git("commit", "-q", "-m", f"config: {key} = {value}")
    # The change concerns the analysis only: Snakemake redid no training job, and
    # `dvc repro` deleted none of the finished runs (persist: true).
    assert _output_files(repo, TRAINING_OUTPUTS) == runs_before
    assert _mtimes(repo) == mtimes_before

    new_metrics = _flatten(json.loads((repo / "results/metrics.json").read_text()))
    diff = json.loads(sh.dvc("metrics", "diff", "HEAD~1", "HEAD", "--json").stdout)["results/metrics.json"]
    assert diff, "the config change should move some headline number"
    for name, change in diff.items():
        assert change["old"] == old_metrics.get(name) and change["new"] == new_metrics.get(name), name
    # The table form users read names both revisions and the changed metric.
    table = sh.dvc("metrics", "diff", "HEAD~1", "HEAD").stdout
    assert "HEAD~1" in table and next(iter(diff)) in table

    params = json.loads(sh.dvc("params", "diff", "HEAD~1", "HEAD", "--json").stdout)["config/config.yaml"]
    # DVC prints list values as their repr: "[0, 1]".
    assert yaml.safe_load(params[key]["new"]) == value and yaml.safe_load(params[key]["old"]) != value

    plots = json.loads(
        sh.dvc("plots", "diff", "HEAD~1", "HEAD", "--json", "-o", str(tmp_path / "plots")).stdout
    )["data"]
    (curves,) = plots["learning_curves"]
    assert curves["revisions"] == ["HEAD~1", "HEAD"]
    rows = curves["content"]["data"]["values"]
    assert {row["rev"] for row in rows} == {"HEAD~1", "HEAD"}
    assert {"env", "algo", "step", "mean_score", "ci_low", "ci_high"} <= set(rows[0])
    stage = yaml.safe_load((repo / "dvc.yaml").read_text())
    images = [p for p in stage["plots"] if isinstance(p, str)]
    assert images
    for image in images:
        revisions = sorted(rev for entry in plots[image] for rev in entry["revisions"])
        assert revisions == ["HEAD", "HEAD~1"], image
        for entry in plots[image]:
            assert Path(entry["url"]).stat().st_size > 0


def test_push_then_pull_in_a_fresh_clone_rebuilds_a_figure_without_training(audited_repo):
    sh, home = audited_repo.sh, audited_repo.home
    repo = sh.cwd
    remote = home / "remote"
    # The team's remote is part of the project's config, committed like code.
    sh.dvc("remote", "add", "--default", "--force", "storage", str(remote))
    sh.git("commit", "-q", "-m", "DVC remote", "--", ".dvc/config")
    pushed = sh.dvc("push").stdout
    assert "pushed" in pushed
    assert sh.dvc("status", "--cloud").stdout.strip().startswith("Cache and remote 'storage' are in sync")

    clone = home / "clone"
    sh.git("clone", "-q", str(repo), str(clone), cwd=home)
    in_clone = Shell(clone, sh.env)
    assert not (clone / "results" / "runs").exists()
    in_clone.dvc("pull")
    # Every output, the run directories included, comes back byte for byte.
    assert _output_files(clone) == _output_files(repo)

    # Snakemake would decide by the times the pull happened to write; put them in
    # pipeline order: runs newest, everything derived from them older.
    sync = in_clone.run(sys.executable, "-m", "distral_repro.dvc_sync")
    assert "retrain nothing" in sync.stdout
    runs_after_sync = _mtimes(clone)
    figure_before = (clone / FIGURE).stat().st_mtime_ns

    plan = in_clone.snakemake("--dry-run", FIGURE, "--rerun-triggers", "mtime").stdout
    in_clone.snakemake(FIGURE, "--rerun-triggers", "mtime")
    # No run file was written again: nothing was retrained ...
    assert _mtimes(clone) == runs_after_sync, plan
    assert {
        rel: data for rel, data in _output_files(clone, TRAINING_OUTPUTS).items()
    } == _output_files(repo, TRAINING_OUTPUTS)
    # ... and the figure was rebuilt from the pulled runs.
    assert (clone / FIGURE).stat().st_mtime_ns > figure_before, plan
    # Tables and figures are written deterministically (no time stamps, seeded
    # intervals), so the rebuilt figure is the pushed one and DVC finds nothing changed.
    assert (clone / FIGURE).read_bytes() == (repo / FIGURE).read_bytes()
    assert in_clone.dvc("status").stdout.strip() == UP_TO_DATE

    # A training job made again in the clone (docs/numerics.md) gives the pulled
    # bytes in the portable numeric mode: DVC finds nothing changed.
    summary = sorted((clone / "results" / "runs").rglob("summary.json"))[0]
    before = summary.stat().st_mtime_ns
    in_clone.snakemake("--force", summary.relative_to(clone).as_posix())
    assert summary.stat().st_mtime_ns > before and (summary.parent / "provenance.json").exists()
    assert _output_files(clone, TRAINING_OUTPUTS) == _output_files(repo, TRAINING_OUTPUTS)
    assert in_clone.dvc("status").stdout.strip() == UP_TO_DATE


def test_dvc_errors_outside_git_and_without_remote_are_passed_through(audited_repo, tmp_path):
    sh = audited_repo.sh
    # A copy without git history (e.g. an unpacked archive): DVC refuses, saying why.
    archive = tmp_path / "archive"
    archive.mkdir()
    _copy_checkout(archive)
    for args in (("repro",), ("metrics", "diff", "HEAD~1"), ("push",)):
        proc = sh.dvc(*args, check=False, cwd=archive)
        assert proc.returncode != 0, args
        assert "git" in proc.stderr.lower() and "ERROR" in proc.stderr, (args, proc.stderr)

    # A clone of a revision that names no remote: push says how to add one, pull that
    # there is none.
    clone = tmp_path / "clone"
    sh.git("clone", "-q", str(sh.cwd), str(clone), cwd=tmp_path)
    no_remote = Shell(clone, sh.env)
    no_remote.git("checkout", "-q", audited_repo.run_commit)
    assert "remote" not in (clone / ".dvc" / "config").read_text()
    expected = {"push": "dvc remote add -d <remote name> <remote url>", "pull": "no default remote set"}
    for verb, message in expected.items():
        proc = no_remote.dvc(verb, check=False)
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0, verb
        assert "ERROR" in proc.stderr and message in output, output


# --------------------------------------------------------------------------- dvc_sync


def _tree(root: Path, rels: list[str], mtime: float) -> None:
    for rel in rels:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
        os.utime(path, (mtime, mtime))


def test_order_mtimes_puts_runs_after_everything_derived(tmp_path):
    run_files = [
        "results/runs/maze/A3C/beta1_lr1_seed0/summary.json",
        "results/runs/maze/A3C/beta1_lr1_seed0/progress.csv",
        "results/confirmation/maze/A3C/beta1_lr1_seed2/summary.json",
        "results/gridworld/distral/seed0/summary.json",
    ]
    derived_files = ["results/tables/all_runs.csv", "results/metrics.json", "results/selection/maze.csv",
                     "paper_figures/fig4_maze.pdf"]
    other = ["config/config.yaml"]
    # As a pull may leave them: derived outputs newer than the runs, in any order.
    _tree(tmp_path, run_files, 1_000.0)
    _tree(tmp_path, derived_files, 2_000.0)
    _tree(tmp_path, other, 1_500.0)

    counts = dvc_sync.order_mtimes(tmp_path, now=10_000.0)

    for rel in run_files:
        assert (tmp_path / rel).stat().st_mtime == 10_000.0
    for rel in derived_files:
        assert (tmp_path / rel).stat().st_mtime == 10_000.0 - dvc_sync.DERIVED_AGE_S
    # Directories of the runs are dated too (Snakemake's directory() outputs use them).
    assert (tmp_path / "results/runs/maze").stat().st_mtime == 10_000.0
    # Files outside the outputs are left alone.
    assert (tmp_path / "config/config.yaml").stat().st_mtime == 1_500.0
    # 4 files + results/runs, maze, A3C, beta1_lr1_seed0, results/confirmation, maze, A3C,
    # beta1_lr1_seed2, results/gridworld, distral, seed0
    assert counts.run_paths == 4 + 11
    # 4 files + results, results/tables, results/selection, paper_figures
    assert counts.derived_paths == 4 + 4


def test_order_mtimes_without_runs_fails_and_changes_nothing(tmp_path, capsys):
    _tree(tmp_path, ["results/tables/all_runs.csv"], 1_000.0)
    with pytest.raises(FileNotFoundError, match="results/runs/ or results/confirmation/ or results/gridworld/"):
        dvc_sync.order_mtimes(tmp_path, now=10_000.0)
    assert (tmp_path / "results/tables/all_runs.csv").stat().st_mtime == 1_000.0

    assert dvc_sync.main(["--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dvc_sync: no training outputs") and "dvc pull" in err
    assert (tmp_path / "results/tables/all_runs.csv").stat().st_mtime == 1_000.0


CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  # no network at all: every host unresolvable, every request to a dead proxy
                  "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
                  "--virtual-time-budget=15000")


def _rendered_dom(page: Path, profile: Path) -> str:
    """The page's DOM after its scripts ran in headless Chromium with the network off."""
    proc = subprocess.run(["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                           page.resolve().as_uri()], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_dvc_plots_page_draws_its_chart_offline(audited_repo, tmp_path):
    """dvc-render's default page loads Vega from a CDN and stays blank offline; the
    project's template (.dvc/plots/offline.html, set in .dvc/config) inlines it."""
    if shutil.which("chromium") is None:
        pytest.skip("no chromium (Debian package `chromium`; .ci/install_chromium.sh installs it)")
    sh = audited_repo.sh
    sh.dvc("plots", "show", "-o", str(tmp_path / "offline"))
    dom = _rendered_dom(tmp_path / "offline" / "index.html", tmp_path / "profile1")
    # Vega draws each chart into a <canvas class="marks"> once spec and data are parsed.
    assert re.search(r'<canvas width="\d+" height="\d+" class="marks">', dom), dom[-2000:]
    # The control: dvc-render's own template, same data, no network: nothing drawn.
    from dvc_render.html import PAGE_HTML

    default = tmp_path / "default.html"
    default.write_text(PAGE_HTML)
    sh.dvc("plots", "show", "-o", str(tmp_path / "cdn"), "--html-template", str(default))
    assert 'class="marks"' not in _rendered_dom(tmp_path / "cdn" / "index.html", tmp_path / "profile2")
