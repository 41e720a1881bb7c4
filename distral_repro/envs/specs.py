"""Every task family behind one lookup: the built-in ones and those the user defines by data.

A user family is a few lines of YAML (in `config/config.yaml` under `families:`, or in any
file given to `python -m distral_repro.train --env-file`):

    families:
      minigrid4:
        env_ids: [minigrid:MiniGrid-Empty-5x5-v0, minigrid:MiniGrid-DoorKey-5x5-v0, ...]
        wrappers: [minigrid_onehot]         # registered names (WRAPPERS), or {name: ..., args: {...}}
        env_kwargs: {}                      # optional, passed to every gymnasium.make
        episode_cap: 100                    # steps per episode at most (gymnasium's TimeLimit)
        budget: {steps_per_task: 60000, workers: 16, unroll: 20}
        preset_budgets: {smoke: {steps_per_task: 2000, workers: 4}}   # optional, per preset
        reference_return: 0.9               # optional upper reference: a number or one per task
        learner: {torso: feedforward}       # optional: the family's shared settings (config.Hyper)

`family_specs(definitions)` parses and validates them (one-line ValueError) and returns
the built-in specs plus the user's, by name; `FamilySpec.make` builds the batched env of
any of them, and `make_family_from_specs(name, specs, ...)` does both steps.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from gymnasium.vector import VectorEnv

#: Wrappers a family definition may name, as "module:attribute" (imported on use, so
#: minigrid is needed only by families that use its wrappers). Any other "module:attribute"
#: is accepted as well (a wrapper class or function `env -> env` of your own package).
WRAPPERS: dict[str, str] = {
    "minigrid_onehot": "distral_repro.envs.custom:MiniGridOneHot",  # object, colour, state: (20, 7, 7)
    "onehot_image": "distral_repro.envs.custom:OneHotImage",  # one channel of a dict obs's image
    "minigrid_view_size": "minigrid.wrappers:ViewSizeWrapper",  # args: agent_view_size (odd, >= 3)
    "minigrid_fully_observed": "minigrid.wrappers:FullyObsWrapper",  # the whole grid instead of the view
    "minigrid_reseed": "minigrid.wrappers:ReseedWrapper",  # args: seeds (a fixed layout per task)
    "minigrid_no_death": "minigrid.wrappers:NoDeath",  # args: no_death_types, death_cost
    "minigrid_action_bonus": "minigrid.wrappers:ActionBonus",
    "transform_reward_scale": "distral_repro.envs.specs:scale_reward",  # args: scale
    "vizdoom_frames": "distral_repro.envs.vizdoom:DoomFrames",  # args: size, actions, reward_clip
}

BUDGET_KEYS = ("steps_per_task", "workers", "unroll", "log_points", "pi0_evals", "pi0_eval_workers")
DEFINITION_KEYS = ("env_ids", "wrappers", "env_kwargs", "episode_cap", "budget", "preset_budgets", "reference_return",
                   "learner")
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
BUILTIN_NAMES = ("maze", "navigation", "lasertag", "gridworld")


def scale_reward(env, scale: float = 1.0):
    """gymnasium's TransformReward multiplying every reward by `scale` (picklable)."""
    import functools
    import operator

    from gymnasium.wrappers import TransformReward

    return TransformReward(env, functools.partial(operator.mul, float(scale)))


@dataclass(frozen=True)
class FamilySpec:
    """One task family: what `make` needs to build its batched env, and its budget.

    Attributes:
        name: the family's name (`--env`, `environments:`, the run directories).
        num_tasks: number of tasks.
        builtin: a built-in family (maze, navigation, lasertag, gridworld), whose envs,
            presets and budgets are the package's; False for a user family.
        env_ids: gymnasium ids, one per task (user families).
        wrappers: (registered name or "module:attribute", keyword arguments) per wrapper.
        env_kwargs: passed to every `gymnasium.make`.
        episode_cap: at most this many steps per episode (None: the ids' registered limit).
        budget: steps_per_task, workers, unroll (and optionally log_points, ...) of the
            training runs; None for the built-ins (their budgets are config.BUDGETS).
        preset_budgets: per preset, settings overriding `budget`.
        reference_return: an upper reference return per task for normalised scores
            (None: not given, the analysis uses the best return observed), a float for
            every task, or a tuple of one float per task. The built-ins use their
            scripted policy instead.
        learner: the family's own values of the shared settings (`config.Hyper` fields, e.g.
            ``{"torso": "feedforward"}``); the training command's ``--hyper`` overrides them.
    """

    name: str
    num_tasks: int
    builtin: bool = False
    env_ids: tuple[str, ...] = ()
    wrappers: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    episode_cap: int | None = None
    budget: Mapping[str, int] | None = None
    preset_budgets: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    reference_return: float | tuple[float, ...] | None = None
    learner: Mapping[str, Any] = field(default_factory=dict)

    def reference_returns(self) -> tuple[float, ...] | None:
        """The upper reference return of every task, or None if the definition gives none."""
        if self.reference_return is None:
            return None
        if isinstance(self.reference_return, tuple):
            return self.reference_return
        return (float(self.reference_return),) * self.num_tasks

    def budget_settings(self, preset: str) -> dict[str, int] | None:
        """The budget settings for `preset` (user families), None for built-ins."""
        if self.budget is None:
            return None
        return {**self.budget, **self.preset_budgets.get(preset, {})}

    def definition(self) -> dict | None:
        """The definition as plain data (recorded in summary.json), None for built-ins."""
        if self.builtin:
            return None
        out = {
            "env_ids": list(self.env_ids),
            "wrappers": [{"name": n, "args": dict(a)} for n, a in self.wrappers],
            "env_kwargs": dict(self.env_kwargs),
            "episode_cap": self.episode_cap,
            "budget": dict(self.budget or {}),
            "preset_budgets": {k: dict(v) for k, v in self.preset_budgets.items()},
            "reference_return": list(self.reference_return) if isinstance(self.reference_return, tuple) else self.reference_return,
        }
        if self.learner:  # only when given, so that older definitions record the same data
            out["learner"] = dict(self.learner)
        return out

    def make(self, num_workers: int, seed: int | None = 0, preset: str | None = None, **overrides) -> VectorEnv:
        """The batched env: every task x `num_workers`, task-major, seeded seed + j."""
        if self.builtin:
            from distral_repro.envs import make_family

            return make_family(self.name, num_workers, seed=seed, preset=preset or "default", **overrides)
        from distral_repro.envs.custom import make_custom_family, wrapper_call

        if overrides:
            raise ValueError(f"family {self.name!r} has no env settings; got {sorted(overrides)}")
        wrappers = [wrapper_call(resolve_wrapper(n), dict(a)) for n, a in self.wrappers]
        try:
            return make_custom_family(
                self.env_ids, num_workers, seed=seed, wrappers=wrappers, env_kwargs=dict(self.env_kwargs),
                episode_cap=self.episode_cap, family=self.name,
            )
        except ValueError as error:
            raise ValueError(f"family {self.name!r}: {error}") from None

    def check(self) -> None:
        """Build one env per task and take one step in each: ids registered, wrappers known and
        their arguments accepted, spaces shared and of a kind the networks train on, a known
        episode cap. ValueError with one line naming the family otherwise."""
        from distral_repro.envs.custom import _first_line, check_env_id, check_trainable_spaces

        for env_id in self.env_ids:
            try:
                check_env_id(env_id)
            except ValueError as error:
                raise ValueError(f"family {self.name!r}: {error}") from None
        self._check_wrappers()
        env = self.make(1, seed=0)
        try:
            check_trainable_spaces(env.single_observation_space, env.single_action_space, f"family {self.name!r}")
            if env.max_episode_steps is None:
                raise ValueError(
                    f"family {self.name!r}: no episode cap; give episode_cap (the ids register no max_episode_steps)"
                )
            try:
                env.reset(seed=0)
                env.step(np.zeros(env.num_envs, dtype=np.int64))
            except Exception as error:  # noqa: BLE001 - user envs and wrappers fail in any way
                raise ValueError(f"family {self.name!r}: the first reset or step failed ({_first_line(error)})") from None
        finally:
            env.close()


    def _check_wrappers(self) -> None:
        """Apply the wrappers one by one to the first task's env: a wrapper that refuses its
        arguments (TypeError, an assert, ...) is named with them and what it accepts."""
        import gymnasium

        from distral_repro.envs.custom import _first_line, wrapper_call

        env_id = self.env_ids[0].rpartition(":")[2]
        try:
            env = gymnasium.make(env_id, **dict(self.env_kwargs))
        except Exception as error:  # noqa: BLE001 - user envs fail in any way
            raise ValueError(f"family {self.name!r}: cannot make {env_id} with env_kwargs {dict(self.env_kwargs)} ({_first_line(error)})") from None
        try:
            for name, args in self.wrappers:
                try:
                    env = wrapper_call(resolve_wrapper(name), dict(args))(env)
                except Exception as error:  # noqa: BLE001
                    hint = WRAPPER_ARGS.get(name)
                    raise ValueError(
                        f"family {self.name!r}: wrapper {name} refused args {dict(args)} on {env_id} ({_first_line(error)})"
                        + (f"; it takes {hint}" if hint else "")
                    ) from None
        finally:
            env.close()


#: What the registered wrappers accept (named in the message when one refuses its arguments).
WRAPPER_ARGS: dict[str, str] = {
    "minigrid_onehot": "no args",
    "onehot_image": "key (a Dict key, default 'image'), channel (int), num_values (int)",
    "minigrid_view_size": "agent_view_size: an odd integer >= 3",
    "minigrid_fully_observed": "no args",
    "minigrid_reseed": "seeds: a list of integers",
    "minigrid_no_death": "no_death_types: a tuple of object names (e.g. [lava]), death_cost: a number",
    "minigrid_action_bonus": "no args",
    "transform_reward_scale": "scale: a number",
}


def resolve_wrapper(name: str):
    """The wrapper callable of a registered name or a "module:attribute" path (ValueError if unknown)."""
    target = WRAPPERS.get(name, name)
    module, _, attribute = target.partition(":")
    if not attribute:
        raise ValueError(f"unknown wrapper {name!r}; valid: {', '.join(WRAPPERS)}, or 'module:Callable'")
    from distral_repro.envs.custom import import_user_module

    what = f"wrapper {name!r}" + (f" ({target})" if target != name else "")
    imported = import_user_module(module, what)
    try:
        return getattr(imported, attribute)
    except AttributeError:
        raise ValueError(f"{what} cannot be imported: module {module!r} has no {attribute!r}") from None


def builtin_specs() -> dict[str, FamilySpec]:
    """The package's own families, by name."""
    from distral_repro.envs import NUM_TASKS

    return {name: FamilySpec(name=name, num_tasks=NUM_TASKS[name], builtin=True) for name in BUILTIN_NAMES}


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


def _budget(mapping, what: str, required: bool) -> dict[str, int]:
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{what} must be a mapping of {', '.join(BUDGET_KEYS)}, got {mapping!r}")
    unknown = sorted(set(mapping) - set(BUDGET_KEYS))
    if unknown:
        raise ValueError(f"{what}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(BUDGET_KEYS)}")
    if required and "steps_per_task" not in mapping:
        raise ValueError(f"{what} needs steps_per_task")
    return {k: _positive_int(v, f"{what}.{k}") for k, v in mapping.items()}


def parse_family(name: str, definition: Mapping) -> FamilySpec:
    """A user family from its definition (plain data); ValueError with one line if malformed.

    Checks the data only; `FamilySpec.check` builds the envs.
    """
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValueError(f"family name {name!r} must be letters, digits and _ (starting with a letter)")
    if name in BUILTIN_NAMES:
        raise ValueError(f"family name {name!r} is a built-in family; choose another name")
    where = f"family {name!r}"
    if not isinstance(definition, Mapping):
        raise ValueError(f"{where}: the definition must be a mapping with keys {', '.join(DEFINITION_KEYS)}")
    unknown = sorted(set(definition) - set(DEFINITION_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(DEFINITION_KEYS)}")
    ids = definition.get("env_ids")
    if not isinstance(ids, (list, tuple)) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise ValueError(f"{where}: env_ids must be a non-empty list of gymnasium ids, got {ids!r}")
    wrappers = []
    for item in definition.get("wrappers") or []:
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or set(item) - {"name", "args"}:
            raise ValueError(f"{where}: a wrapper is a name or {{name: ..., args: {{...}}}}, got {item!r}")
        args = item.get("args") or {}
        if not isinstance(args, Mapping):
            raise ValueError(f"{where}: args of wrapper {item['name']!r} must be a mapping, got {args!r}")
        try:
            resolve_wrapper(item["name"])
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        wrappers.append((item["name"], dict(args)))
    env_kwargs = definition.get("env_kwargs") or {}
    if not isinstance(env_kwargs, Mapping):
        raise ValueError(f"{where}: env_kwargs must be a mapping, got {env_kwargs!r}")
    cap = definition.get("episode_cap")
    if cap is not None:
        _positive_int(cap, f"{where}: episode_cap")
    if "budget" not in definition:
        raise ValueError(f"{where}: needs a budget ({{steps_per_task: N, workers: N, unroll: N}})")
    budget = _budget(definition["budget"], f"{where}: budget", required=True)
    from distral_repro.envs.families import PRESET_NAMES

    preset_budgets = {}
    for preset, settings in (definition.get("preset_budgets") or {}).items():
        if preset not in PRESET_NAMES:
            raise ValueError(f"{where}: unknown preset {preset!r} in preset_budgets; valid: {', '.join(PRESET_NAMES)}")
        preset_budgets[preset] = _budget(settings, f"{where}: preset_budgets.{preset}", required=False)
    reference = definition.get("reference_return")
    if reference is not None:
        values = reference if isinstance(reference, (list, tuple)) else [reference]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise ValueError(f"{where}: reference_return must be a number or a list of numbers, got {reference!r}")
        if isinstance(reference, (list, tuple)):
            if len(reference) != len(ids):
                raise ValueError(f"{where}: reference_return has {len(reference)} values for {len(ids)} tasks")
            reference = tuple(float(v) for v in reference)
        else:
            reference = float(reference)
    learner = definition.get("learner") or {}
    if not isinstance(learner, Mapping):
        raise ValueError(f"{where}: learner must be a mapping of shared settings, e.g. {{torso: feedforward}}, got {learner!r}")
    from distral_repro.config import ConfigError, make_hyper

    try:
        make_hyper(learner)
    except ConfigError as error:
        raise ValueError(f"{where}: learner: {error}") from None
    return FamilySpec(
        name=name, num_tasks=len(ids), env_ids=tuple(ids), wrappers=tuple(wrappers), env_kwargs=dict(env_kwargs),
        episode_cap=cap, budget=budget, preset_budgets=preset_budgets, reference_return=reference,
        learner=dict(learner),
    )


def family_specs(definitions: Mapping[str, Mapping] | None = None) -> dict[str, FamilySpec]:
    """The built-in families plus the user's (parsed from `definitions`), by name."""
    specs = builtin_specs()
    for name, definition in (definitions or {}).items():
        specs[name] = parse_family(name, definition)
    return specs


def get_family(name: str, specs: Mapping[str, FamilySpec] | None = None) -> FamilySpec:
    """The spec of family `name` (ValueError naming the known families)."""
    specs = builtin_specs() if specs is None else specs
    if name not in specs:
        raise ValueError(
            f"unknown environment {name!r}; valid: {', '.join(specs)}, or a family defined under "
            "'families:' (--env-file FILE)"
        )
    return specs[name]


def make_family_from_specs(
    name: str, specs: Mapping[str, FamilySpec] | None, num_workers: int, seed: int | None = 0, preset: str | None = None
) -> VectorEnv:
    """The batched env of family `name` (built-in or defined in `specs`) x `num_workers` workers."""
    return get_family(name, specs).make(num_workers, seed=seed, preset=preset)


def load_family_file(path: str | Path) -> dict[str, Mapping]:
    """The `families:` block of a YAML file (e.g. config/config.yaml), as plain definitions."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read env file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"env file {path} is not UTF-8 text (byte {error.object[error.start]:#04x} at offset {error.start})") from None
    except yaml.YAMLError as error:
        raise ValueError(f"env file {path} is not valid YAML: {yaml_problem(error)}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("families"), Mapping):
        raise ValueError(f"env file {path} has no 'families:' mapping (name -> definition)")
    families = dict(data["families"])
    for name in families:  # a file's `maze:` must not be silently replaced by the built-in maze
        if name in BUILTIN_NAMES:
            raise ValueError(f"env file {path}: family name {name!r} is a built-in family; choose another name")
    return families


def yaml_problem(error) -> str:
    """PyYAML's error as one line with its position: 'PROBLEM at line L, column C'."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem
