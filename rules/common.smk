# Config resolution (preset), validation and the grid, shared by every rule file.
import math
import os
import re
import sys
from pathlib import Path

import yaml
from snakemake.utils import validate

from distral_repro.analysis.preregistration import PreregistrationError, load_preregistration

REPO = Path(workflow.basedir)
CONFIG_DIR = REPO / "config"


def _deep_merge(base: dict, top: dict) -> dict:
    """`top` over `base`, recursively for mappings."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _resolve_presets(config: dict) -> dict:
    """Apply a preset chosen on the command line (`--config preset=NAME`).

    config/config.yaml is the grid that runs, its `preset` key choosing the budgets. A
    preset named on the command line swaps in the whole grid of config/presets/NAME.yaml:
    config/config.yaml, then the preset's file, then the user's --configfile and --config
    values on top (explicit values win).
    """
    settings = workflow.config_settings
    preset = (settings.config or {}).get("preset")
    if preset is None or preset == "default":
        return dict(config)
    path = CONFIG_DIR / "presets" / f"{preset}.yaml"
    if not path.exists():
        valid = ", ".join(["default"] + sorted(p.stem for p in (CONFIG_DIR / "presets").glob("*.yaml")))
        raise ValueError(f"config key 'preset': unknown preset {preset!r}; valid: {valid}")
    resolved = _deep_merge(yaml.safe_load((CONFIG_DIR / "config.yaml").read_text()), yaml.safe_load(path.read_text()))
    for configfile in settings.configfiles or []:
        if Path(configfile).resolve() != (CONFIG_DIR / "config.yaml").resolve():
            resolved = _deep_merge(resolved, yaml.safe_load(Path(configfile).read_text()) or {})
    return _deep_merge(resolved, settings.config or {})


def _check_positive(config: dict) -> None:
    """The schema rejects signs and non-numbers; zero and numeric duplicates are caught here, naming the key."""
    for key in ("betas", "lrs"):
        seen = {}
        for value in config[key]:
            if not math.isfinite(float(value)) or float(value) <= 0:
                raise ValueError(f"config key '{key}': {value!r} must be > 0")
            if float(value) in seen:
                # "1e3" and "1000" would be two run directories of one run.
                raise ValueError(f"config key '{key}': {seen[float(value)]!r} and {value!r} are the same number")
            seen[float(value)] = value


def _integer_seeds(config: dict) -> None:
    """`--config seeds=[0,1]` (or `confirmation={steps_per_task: {maze: 3200}}`) arrives as strings;
    the schema then checks integers (and their range)."""

    def integer(value):
        return int(value) if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()) else value

    for node in (config, config.get("gridworld") or {}, config.get("confirmation") or {}):
        if isinstance(node.get("seeds"), list):
            node["seeds"] = [integer(s) for s in node["seeds"]]
        if isinstance(node.get("steps_per_task"), dict):
            node["steps_per_task"] = {env: integer(steps) for env, steps in node["steps_per_task"].items()}


def _schema_message(error) -> str:
    """A jsonschema ValidationError as one line: the key, the value and what is allowed
    (jsonschema's own message repeats the whole config for an unknown top-level key)."""
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    key = f"config key '{where}'" if where else "config"
    schema, value = error.schema, error.instance
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    if error.validator == "additionalProperties":
        extra = sorted(set(value) - set(schema.get("properties", {})))
        valid = ", ".join(schema.get("properties", {}))
        return f"{key}: unknown key(s) {', '.join(map(repr, extra))}; valid: {valid}"
    if error.validator == "required":
        return f"{key}: {error.message}"
    if error.validator == "enum":
        return f"{key}: {shown} is not allowed; valid: {', '.join(map(str, schema['enum']))}"
    if error.validator in ("minimum", "maximum", "type") and "integer" in str(schema.get("type")):
        low, high = schema.get("minimum"), schema.get("maximum")
        bounds = f" in {low}..{high}" if low is not None and high is not None else (f" >= {low}" if low is not None else "")
        return f"{key}: {shown} must be an integer{bounds}"
    message = error.message if len(error.message) <= 160 else error.message[:157] + "..."
    return f"{key}: {message}"


def _validate(config: dict) -> None:
    """snakemake's validate (it also fills in the schema's defaults), its refusal as one line."""
    import jsonschema
    from snakemake.exceptions import WorkflowError

    try:
        validate(config, CONFIG_DIR / "schema.yaml")
    except WorkflowError as error:
        cause = error.__cause__ or error.__context__  # validate raises it inside `except ValidationError`
        if not isinstance(cause, jsonschema.ValidationError):
            raise
        if cause.context:  # oneOf/anyOf: the alternative that came closest
            cause = jsonschema.exceptions.best_match([e for e in cause.context if e.validator != "type"] or cause.context)
        raise ValueError(_schema_message(cause)) from None


def refuse(message: str) -> None:
    """A config the workflow cannot run: one line on stderr, exit 1, before any job (dry runs too)."""
    print(f"distral-repro: {message}", file=sys.stderr)
    sys.exit(1)


def _check_families(config: dict) -> None:
    """Every user family: the definition parsed, then one env per task built and stepped (ids
    registered, wrappers known and their arguments accepted, spaces shared and of a kind the
    networks train on), so that a bad family stops `snakemake -n` too, not its jobs."""
    from distral_repro.envs.specs import parse_family

    for name, definition in (config.get("families") or {}).items():
        try:
            parse_family(name, definition).check()
        except ValueError as error:
            message = str(error).removeprefix(f"family {name!r}: ")
            raise ValueError(f"config key 'families.{name}': {message}") from None


try:
    _resolved = _resolve_presets(config)
    _integer_seeds(_resolved)
    config.clear()
    config.update(_resolved)
    _validate(config)
    _check_positive(config)
    _check_families(config)
except (ValueError, OSError, yaml.YAMLError) as _error:
    refuse(str(_error).splitlines()[0] if str(_error).strip() else type(_error).__name__)

PRESET = config["preset"]
ALGOS = config["algorithms"]
ENVS = config["environments"]
BETAS = config["betas"]
LRS = config["lrs"]
SEEDS = config["seeds"]
# The grid-world experiment (claim C7); `gridworld: null` for none.
GRIDWORLD = config.get("gridworld") or {"methods": [], "seeds": []}
GW_METHODS = GRIDWORLD["methods"]
# User families (config key `families`): each run of one reads its definition from
# results/runs/NAME/family.yaml, written by rule family_definition.
FAMILIES = config.get("families") or {}
BUILTIN_ENVS = ("maze", "navigation", "lasertag")
for _env in ENVS:
    if _env not in BUILTIN_ENVS and _env not in FAMILIES:
        refuse(
            f"config key 'environments': {_env!r} is neither a built-in family ({', '.join(BUILTIN_ENVS)}) "
            f"nor defined under 'families:' ({', '.join(FAMILIES) or 'none defined'})"
        )
FAMILY_FILE = "results/runs/{env}/family.yaml"
# Stage 2 (docs/workflow.md, "Two stages"): the confirmation runs of each env in CONFIRM_STEPS.
CONFIRMATION = config.get("confirmation") or {}
CONFIRM_SEEDS = CONFIRMATION.get("seeds", [])
CONFIRM_STEPS = {env: steps for env, steps in (CONFIRMATION.get("steps_per_task") or {}).items() if env in ENVS}
if CONFIRM_STEPS and set(CONFIRM_SEEDS) & set(SEEDS):
    refuse(
        f"config key 'confirmation.seeds': {sorted(set(CONFIRM_SEEDS) & set(SEEDS))} are seeds of the grid too; "
        "the confirmation runs need fresh seeds (the best setting was chosen on the grid's)"
    )
# The A/A check (docs/statistics.md): one algorithm at its best setting of one env, on seeds of
# its own, against its confirmation runs.
# It runs when its env has confirmation runs and its algorithm is in the grid (a study of a subset
# goes without; claims.md says so).
AA_CHECK = CONFIRMATION.get("aa_check") if CONFIRM_STEPS else None
if AA_CHECK:
    from distral_repro.analysis.tables import ALGORITHM_ORDER

    if AA_CHECK["algo"] not in ALGORITHM_ORDER:
        raise ValueError(f"config key 'confirmation.aa_check.algo': {AA_CHECK['algo']!r} is not an algorithm "
                         f"({', '.join(ALGORITHM_ORDER)})")
    if AA_CHECK["env"] not in CONFIRM_STEPS or AA_CHECK["algo"] not in ALGOS:
        AA_CHECK = None
if AA_CHECK:
    if set(AA_CHECK["seeds"]) & (set(SEEDS) | set(CONFIRM_SEEDS)):
        raise ValueError(f"config key 'confirmation.aa_check.seeds': {sorted(set(AA_CHECK['seeds']) & (set(SEEDS) | set(CONFIRM_SEEDS)))} "
                         "are seeds of the grid or the confirmation runs; the A/A check needs seeds of its own")
def _shown(path) -> str:
    """A path given relative to the repository, as read (and named in messages) from here."""
    return str(path) if os.path.isabs(path) else os.path.relpath(REPO / path)


# Settings chosen by another study (config key confirmation.selection_from, e.g.
# config/long_horizon.yaml): its selection tables ENV.csv, read now, the rows of this study's
# algorithms, instead of a grid of this study's own (none is trained: every environment's runs
# are confirmation runs). A missing table or algorithm stops here, before any job.
SELECTION_FROM = CONFIRMATION.get("selection_from")
SELECTED = {}  # env -> [(algo, setting)] of SELECTION_FROM's tables
if SELECTION_FROM:
    from distral_repro.analysis.select import SelectionError, read_selection

    _unbudgeted = [env for env in ENVS if env not in CONFIRM_STEPS]
    if _unbudgeted:
        refuse(f"config key 'confirmation.steps_per_task': no budget for {', '.join(_unbudgeted)}; with "
               "confirmation.selection_from every environment is trained in confirmation runs only (there is no grid)")
    for _env in ENVS:
        try:
            _, _rows = read_selection(_shown(Path(SELECTION_FROM) / f"{_env}.csv"), _env, ALGOS)
        except SelectionError as _error:
            refuse(f"config key 'confirmation.selection_from': {_error}")
        SELECTED[_env] = [(row["algo"], row["setting"]) for row in _rows]
# The pre-registered primary tests (config key claims, relative to the repository): a malformed
# file, or a grid-stage test in a study without a grid, stops here rather than after the training.
CLAIMS = config.get("claims", "config/claims.yaml")
try:
    _prereg = load_preregistration(_shown(CLAIMS))
except PreregistrationError as _error:
    refuse(f"config key 'claims': {_error}")
_grid_tests = [t.label for t in _prereg.tests if t.stage == "grid" and SELECTION_FROM]
if _grid_tests:
    refuse(f"config key 'claims': {', '.join(_grid_tests)} test the grid, and this study has none "
           "(confirmation.selection_from); leave them out of its claims file")
GW_SEEDS = GRIDWORLD["seeds"]
# What the agents observe (config keys view, image_size; docs/first_person.md): the training
# command's view options, empty for the default window view so that its jobs' command is unchanged.
VIEW = config.get("view", "window")
IMAGE_SIZE = config.get("image_size", 32)
if VIEW != "window" and set(ENVS) - set(BUILTIN_ENVS):
    raise ValueError(
        f"config key 'view': {VIEW!r} exists for the built-in families only; "
        f"{', '.join(sorted(set(ENVS) - set(BUILTIN_ENVS)))} keep their own observations (list only built-in environments)"
    )
VIEW_ARGS = "" if VIEW == "window" else f" --view {VIEW} --image-size {IMAGE_SIZE}"
# A first-person job needs more memory and time (docs/first_person.md): resources.train_first_person.
TRAIN_RESOURCES = config["resources"]["train"]
if VIEW == "first_person":
    TRAIN_RESOURCES = config["resources"].get("train_first_person", TRAIN_RESOURCES)
# A grid run's env steps per task where config key `steps_per_task` replaces the preset's budget.
STEPS_OVERRIDE = {env: steps for env, steps in (config.get("steps_per_task") or {}).items() if env in ENVS}


def train_retries(resources: dict) -> int | None:
    """Resubmissions of a training job: one per chunk beyond the first when a whole job
    (`total_minutes`) is longer than one submission (`runtime`, at most the partition's time
    limit), plus one spare for a failure or preemption; None (the profile's `retries`) when
    the config gives no `total_minutes`. Each submission resumes from the checkpoint."""
    if "total_minutes" not in resources:
        return None
    return math.ceil(resources["total_minutes"] / resources["runtime"])


TRAIN_RETRIES = train_retries(TRAIN_RESOURCES)

# A study of its own directory (config key study_dir, e.g. config/long_horizon.yaml): its results,
# logs, figures and Snakemake metadata there (Snakemake's workdir), beside the default study's in
# the repository root; set once the config passed every check, so that a refused config creates
# nothing. The repository's files that rules read are named through repo_file().
STUDY_DIR = config.get("study_dir")
if STUDY_DIR:

    workdir: str(REPO / STUDY_DIR)


def repo_file(path: str) -> str:
    """A file of the repository (`path` relative to it) as the rules name it: unchanged in the
    repository's own study, else relative to the study's directory."""
    if not STUDY_DIR:
        return path
    return os.path.relpath(REPO.resolve() / path, Path.cwd().resolve())

# Software of every rule for `--sdm conda` (path relative to the rule files).
CONDA_ENV = "envs/distral.yaml"

RUN_DIR = "results/runs/{env}/{algo}/beta{beta}_lr{lr}_seed{seed}"
CONFIRM_RUN_DIR = "results/confirmation/{env}/{algo}/beta{beta}_lr{lr}_seed{seed}"
# One row per algorithm: its best grid setting (checkpoint select_settings).
SELECTION = "results/selection/{env}.csv"
GW_RUN_DIR = "results/gridworld/{method}/seed{seed}"
# The pi_0-alone panel exists for maze only (as in the paper's Figure 4); the performance
# profiles need a grid (every beta x lr x seed), Figure 3 the grid-world runs.
FIGURES = (
    [f"fig4_{env}" for env in ENVS]
    + ([] if SELECTION_FROM else [f"profile_{env}" for env in ENVS])
    + (["fig4_maze_pi0"] if "maze" in ENVS else [])
    + (["fig3_gridworld"] if GW_METHODS and GW_SEEDS else [])
    + ["overview"]
)


def _alternatives(values) -> str:
    return "|".join(re.escape(str(v)) for v in values)


def _with_selected(values: list[str], part: str) -> list[str]:
    """The grid's betas (lrs) and those of SELECTION_FROM's settings (`part` beta or lr)."""
    if not SELECTED:
        return values
    from distral_repro.analysis.select import SETTING_STEM

    chosen = [SETTING_STEM.match(setting)[part] for rows in SELECTED.values() for _, setting in rows]
    return list(values) + sorted(set(chosen) - set(values))


wildcard_constraints:
    env=_alternatives(ENVS),
    algo=_alternatives(ALGOS),
    beta=_alternatives(_with_selected(BETAS, "beta")),
    lr=_alternatives(_with_selected(LRS, "lr")),
    seed=r"\d+",
    method=_alternatives(GW_METHODS) or "(?!)",


def run_dirs(envs=None) -> list[str]:
    """Every training run directory of the grid (of the given environments); none when the
    settings come from another study (SELECTION_FROM)."""
    if SELECTION_FROM:
        return []
    return expand(RUN_DIR, env=envs or ENVS, algo=ALGOS, beta=BETAS, lr=LRS, seed=SEEDS)


def run_files(envs=None) -> list[str]:
    """summary.json and progress.csv of every run: the inputs of aggregation and figures."""
    return [f"{d}/{name}" for d in run_dirs(envs) for name in ("summary.json", "progress.csv")]


def selection_rows(env: str) -> list[tuple[str, str]]:
    """(algo, setting) of every algorithm of env's selection: SELECTION_FROM's, known now, else
    the output of checkpoint select_settings, which makes the caller wait for env's whole grid."""
    import csv

    if SELECTION_FROM:
        return SELECTED[env]
    with open(checkpoints.select_settings.get(env=env).output[0], newline="") as table:
        return [(row["algo"], row["setting"]) for row in csv.DictReader(table)]


def selection_input(wildcards) -> dict:
    """Checkpoint select_settings' input: the env's grid runs and the references (REFERENCES,
    rules/analysis.smk), or SELECTION_FROM's table of the env."""
    if SELECTION_FROM:
        return {"published": repo_file(f"{SELECTION_FROM}/{wildcards.env}.csv")}
    return {"runs": run_files([wildcards.env]), "references": REFERENCES}


def confirmation_dirs(envs=None) -> list[str]:
    """The confirmation runs of the given environments (default all): each algorithm at the
    setting its env's selection names, for every confirmation seed."""
    dirs = []
    for env in envs or ENVS:
        if env not in CONFIRM_STEPS:
            continue
        for algo, setting in selection_rows(env):
            dirs += [f"results/confirmation/{env}/{algo}/{setting}_seed{seed}" for seed in CONFIRM_SEEDS]
    return dirs


def aa_dirs() -> list[str]:
    """The A/A check's runs: its algorithm at the setting its env's selection names, on its own
    seeds (waiting for checkpoint select_settings of that env, like the confirmation runs)."""
    if not AA_CHECK:
        return []
    setting = next(s for algo, s in selection_rows(AA_CHECK["env"]) if algo == AA_CHECK["algo"])
    return [f"results/confirmation/{AA_CHECK['env']}/{AA_CHECK['algo']}/{setting}_seed{seed}" for seed in AA_CHECK["seeds"]]


def aa_files() -> list[str]:
    return [f"{d}/{name}" for d in aa_dirs() for name in ("summary.json", "progress.csv")]


def confirmation_files(envs=None) -> list[str]:
    return [f"{d}/{name}" for d in confirmation_dirs(envs) for name in ("summary.json", "progress.csv")]


def confirmation_arguments(input_files, option="--confirmation") -> str:
    """`--confirmation RUN_DIR` (or `option`) for each run of the given summary.json/progress.csv inputs."""
    import shlex

    dirs = sorted({str(Path(f).parent) for f in input_files})
    return " ".join(f"{option} {shlex.quote(d)}" for d in dirs)


def gridworld_dirs() -> list[str]:
    return expand(GW_RUN_DIR, method=GW_METHODS, seed=GW_SEEDS)


def gridworld_files() -> list[str]:
    return [f"{d}/{name}" for d in gridworld_dirs() for name in ("summary.json", "progress.csv")]


def write_family_file(name: str, definition: dict, path: str, log: str) -> None:
    """One user family's definition as a `--env-file` for the training command."""
    Path(path).write_text(yaml.safe_dump({"families": {name: dict(definition)}}, sort_keys=True))
    Path(log).write_text(f"wrote {path}\n")


def grid_steps_per_task(env: str) -> int:
    """A grid run's env steps per task in `env` (the preset's budget, or the family's own)."""
    from distral_repro.config import make_run_config

    if env in STEPS_OVERRIDE:
        return STEPS_OVERRIDE[env]
    return make_run_config(ALGOS[0], env, BETAS[0], LRS[0], 0, preset=PRESET, families=FAMILIES).budget.steps_per_task


def write_study_manifest() -> None:
    """logs/study.json: every run this invocation may produce, its log, and the start time."""
    import json, time
    from distral_repro.runio import atomic_write_text

    runs = [{"run": d, "log": d.replace("results/runs/", "logs/train/", 1) + ".log"} for d in run_dirs()]
    runs += [{"run": d, "log": d.replace("results/gridworld/", "logs/gridworld/", 1) + ".log"} for d in gridworld_dirs()]
    # Confirmation runs are known once their env's selection exists: one per algorithm and seed.
    # weight: a confirmation run's steps against a grid run's of its env (the status ETA).
    confirmation = [{"env": env, "selection": SELECTION.format(env=env), "seeds": CONFIRM_SEEDS,
                     "runs": len(ALGOS) * len(CONFIRM_SEEDS), "weight": CONFIRM_STEPS[env] / grid_steps_per_task(env)}
                    for env in CONFIRM_STEPS]
    if AA_CHECK:  # the A/A check's runs: one algorithm of its env's selection, on its own seeds
        env = AA_CHECK["env"]
        confirmation.append({"env": env, "selection": SELECTION.format(env=env), "seeds": AA_CHECK["seeds"],
                             "algos": [AA_CHECK["algo"]], "runs": len(AA_CHECK["seeds"]),
                             "weight": CONFIRM_STEPS[env] / grid_steps_per_task(env)})
    manifest = {"started": time.time(), "runs": runs, "confirmation": confirmation}
    atomic_write_text("logs/study.json", json.dumps(manifest, indent=1) + "\n")


FORKSERVER = []  # the server of this invocation, started in the Snakefile's onstart


def stop_forkservers() -> None:
    from distral_repro import forkserver

    while FORKSERVER:
        forkserver.stop(FORKSERVER.pop())


def start_forkserver():
    """Local runs only: jobs fork from one process that imported torch once (distral_repro.forkserver).
    Not for Slurm jobs (they run elsewhere) nor conda/apptainer jobs (another interpreter)."""
    from distral_repro import forkserver

    if workflow.non_local_exec or workflow.remote_exec or workflow.deployment_settings.deployment_method:
        return None
    Path("logs").mkdir(exist_ok=True)
    return forkserver.start("logs/forkserver.log")


# The training command of rules train and train_confirmation (rules/train.smk): through the fork
# server when the workflow started one, else `python -m distral_repro.train` itself.
TRAIN_COMMAND = (
    "python -m distral_repro.forkserver run -- --algo {wildcards.algo:q} --env {wildcards.env}"
    " --beta {wildcards.beta} --lr {wildcards.lr} --seed {wildcards.seed}"
    " --out {params.out:q} --preset {params.preset} {params.env_file} --threads {threads} --keep-checkpoint"
)
TRAIN_COMMAND = f"{TRAIN_COMMAND}{VIEW_ARGS}"


def remove_final_checkpoints() -> None:
    """onsuccess: delete the checkpoint.pt of every finished run (summary.json beside it).

    Training jobs keep their final checkpoint (`--keep-checkpoint`): a Slurm job can reach its
    time limit after the command ended; Snakemake then counts it failed and deletes summary.json
    and progress.csv, and the retry rebuilds them from the checkpoint instead of training again.
    Only the submitting process does this, once every job is recorded (not inside a job)."""
    if workflow.remote_exec:
        return
    for pattern in ("results/runs/*/*/*/checkpoint.pt", "results/confirmation/*/*/*/checkpoint.pt"):
        for saved in Path().glob(pattern):
            if (saved.parent / "summary.json").exists():
                saved.unlink(missing_ok=True)


TRAIN_SHELL = f"{TRAIN_COMMAND} {{params.steps}} > {{log:q}} 2>&1"
CONFIRMATION_SHELL = f"{TRAIN_COMMAND} --steps-per-task {{params.steps}} > {{log:q}} 2>&1"


def family_input(wildcards) -> list[str]:
    """A user family's definition file, the --env-file of its training jobs."""
    return [FAMILY_FILE.format(env=wildcards.env)] if wildcards.env in FAMILIES else []
