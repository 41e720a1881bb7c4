"""The seven algorithms as one table of settings, the environments, and the training budgets.

SPEC.md §4 (the paper's Figure 2) has two axes, not seven code paths:

- the *parameterisation* of the task policy pi_i:
  ``separate``  softmax(f_i), one network per task, no shared column (A3C);
  ``shared``    softmax(h), one network for every task (A3C_multitask);
  ``one_column`` softmax(f_i), with a separate distilled pi_0 = softmax(h) (KL_1col, KL+ent_1col);
  ``two_column`` softmax(h_coef * h + beta f_i) (A3C_2col, KL_2col, KL+ent_2col);
- the *regulariser*, through alpha: 0 = entropy only, 1 = KL only, 0.5 = both.

The learner (``distral_repro.learner``) reads an :class:`Algorithm` and nothing else
about which algorithm it runs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from distral_repro.envs import PRESET_NAMES

PARAMETERISATIONS = ("separate", "shared", "one_column", "two_column")


@dataclass(frozen=True)
class Algorithm:
    """One row of SPEC.md §4.

    Attributes:
        name: the paper's name.
        parameterisation: one of PARAMETERISATIONS.
        alpha: KL share of the regulariser (SPEC §1); 0 means entropy only, no pi_0 coupling.
        h_coef: coefficient of h in the two-column logits ``h_coef * h + beta f_i``
            (eq. 8 has alpha; A3C_2col has no KL term, so alpha = 0, and uses h with weight 1:
            the SPEC §4 CHOICE ``softmax(h + beta f_i)``). Unused by other parameterisations.
    """

    name: str
    parameterisation: str
    alpha: float
    h_coef: float = 0.0

    @property
    def has_h(self) -> bool:
        """Whether there is a shared column h (pi_0 = softmax(h) can act alone)."""
        return self.parameterisation != "separate"

    @property
    def has_f(self) -> bool:
        """Whether there are per-task columns f_i."""
        return self.parameterisation != "shared"

    @property
    def distils(self) -> bool:
        """Whether pi_0 is fit to the task policies (the KL term of eq. 1, alpha > 0)."""
        return self.alpha > 0.0


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("A3C", "separate", alpha=0.0),
        Algorithm("A3C_multitask", "shared", alpha=0.0),
        Algorithm("A3C_2col", "two_column", alpha=0.0, h_coef=1.0),
        Algorithm("KL_1col", "one_column", alpha=1.0),
        Algorithm("KL+ent_1col", "one_column", alpha=0.5),
        Algorithm("KL_2col", "two_column", alpha=1.0, h_coef=1.0),
        Algorithm("KL+ent_2col", "two_column", alpha=0.5, h_coef=0.5),
    )
}

#: The 3D stand-in families the grid trains on (the grid world has its own tabular experiment).
ENVIRONMENTS = ("maze", "navigation", "lasertag")
#: Families on which the distilled pi_0 is also evaluated acting alone (Figure 4, claim C6).
PI0_EVAL_ENVIRONMENTS = ("maze",)


@dataclass(frozen=True)
class Budget:
    """How long and how wide one training run is, for one environment and preset.

    Attributes:
        steps_per_task: environment steps per task (the x axis of every learning curve).
        workers: parallel environments per task, stepping in lock-step.
        unroll: n of the n-step returns (steps per update).
        log_points: about this many evaluation points in progress.csv.
        pi0_evals: times pi_0 is evaluated acting alone (maze only), evenly spaced.
        pi0_eval_workers: episodes per task in each pi_0 evaluation.
    """

    steps_per_task: int
    workers: int = 16
    unroll: int = 20
    log_points: int = 40
    pi0_evals: int = 5
    pi0_eval_workers: int = 4


# Budgets per preset and environment: the grid's (stage 1; the confirmation runs' budgets
# are config/config.yaml's `confirmation`). The default grid (378 jobs) plus the confirmation
# runs must finish in 2 h 15 min on two cores (docs/workflow.md, "Two stages"). Maze and laser tag have
# 8 tasks, navigation 4. Pilot 13 (docs/results/pilots/p13_grid_budget/): separate A3C's best
# rate is inside the lr grid on navigation at 76.8k steps per task, and on maze and laser tag
# from 60k / 50k (1.25x the earlier 48k / 40k), the budgets here; pilot 14
# (docs/results/pilots/p14_grid_cut/): at that cut every algorithm's best rate is the one of the
# 1.5x grid (72k / 60k) of the study before, which ran 2 h 24 min, over the limit.
BUDGETS: dict[str, dict[str, Budget]] = {
    "smoke": {
        "maze": Budget(steps_per_task=1_600, workers=4, unroll=10, log_points=8, pi0_evals=2, pi0_eval_workers=2),
        "navigation": Budget(steps_per_task=3_200, workers=4, unroll=10, log_points=8, pi0_evals=2, pi0_eval_workers=2),
        "lasertag": Budget(steps_per_task=1_600, workers=4, unroll=10, log_points=8, pi0_evals=2, pi0_eval_workers=2),
    },
    "default": {
        "maze": Budget(steps_per_task=60_000),
        "navigation": Budget(steps_per_task=76_800),
        "lasertag": Budget(steps_per_task=50_000),
    },
    "paper": {
        "maze": Budget(steps_per_task=20_000_000, workers=32, log_points=200, pi0_evals=20, pi0_eval_workers=8),
        "navigation": Budget(steps_per_task=40_000_000, workers=32, log_points=200, pi0_evals=20, pi0_eval_workers=8),
        "lasertag": Budget(steps_per_task=20_000_000, workers=32, log_points=200, pi0_evals=20, pi0_eval_workers=8),
    },
}


@dataclass(frozen=True)
class Hyper:
    """Settings shared by every algorithm (the single-task A3C defaults, SPEC §5)."""

    gamma: float = 0.99
    value_cost: float = 0.5  # weight of the 0.5 (G - V)^2 value loss
    rmsprop_alpha: float = 0.99
    # Most weights' gradient RMS is 1e-6..1e-5: with eps 1e-5 (CleanRL's A2C) eps dominated the
    # denominator and steps were a fraction of lr (pilots 01-02, docs/deviations.md).
    rmsprop_eps: float = 1e-7
    max_grad_norm: float = 40.0
    hidden: int = 64
    conv_channels: int = 16
    # The torso (docs/learner.md): "lstm", the paper's (conv, fc, LSTM with the previous action
    # and reward), or "feedforward" (conv, fc) for families that need no memory; a user family
    # may choose it in its definition (`torso:`).
    torso: str = "lstm"
    # "orthogonal" (gains sqrt(2) / 1 / 0.01 for the policy, zero biases) or "uniform" (torch's
    # nn.Linear default, the package's before issue 29). Pilot 15 (docs/learner.md).
    init: str = "orthogonal"
    # RMSProp's square average starts at "zero" (torch's: the first update moves every weight
    # by about 10 lr) or at the "first" gradient's square (about lr). Pilot 15 (docs/learner.md).
    rmsprop_square_start: str = "first"
    # Linear learning-rate warm-up over this many updates (0: none).
    lr_warmup: int = 0
    # "reward": the entropy term -(1/beta) log pi_i inside the regularised reward (eq. 1, the
    # study's); "loss": +(1/beta) H(pi_i) as a bonus in the loss instead (A2C's form; alpha = 0
    # algorithms only; a deviation from eq. 1 for families with deadly terminal states).
    entropy_form: str = "reward"
    # At a time limit (truncation, not termination) add gamma * V(final observation) to the
    # last reward, so the n-step target bootstraps instead of treating the cut as terminal.
    bootstrap_time_limit: bool = True  # pilot 03: 0.3 reached in 40-50% fewer steps


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run (stored in summary.json and the checkpoint)."""

    algo: str
    env: str
    beta: float
    lr: float
    seed: int
    preset: str = "default"
    budget: Budget = field(default_factory=lambda: BUDGETS["default"]["maze"])
    hyper: Hyper = field(default_factory=Hyper)
    # The definition of a user family (envs.specs), None for the built-in families.
    family: dict | None = None
    # What the agent observes (built-in families): "window" or "first_person" frames of
    # image_size pixels (envs/raycast.py, docs/first_person.md).
    view: str = "window"
    image_size: int = 32

    @property
    def env_settings(self) -> dict:
        """The env settings that differ from the families' defaults (passed to make_family)."""
        return {} if self.view == "window" else {"view": self.view, "image_size": self.image_size}

    @property
    def algorithm(self) -> Algorithm:
        return ALGORITHMS[self.algo]

    def to_dict(self) -> dict:
        return asdict(self)


#: Largest seed: the environments add worker offsets to it and NumPy seeds with 64-bit integers.
MAX_SEED = 2**32 - 1


class ConfigError(ValueError):
    """Bad user input: the message names the argument and the valid choices."""


def positive_float(name: str, text: str | float) -> float:
    """Parse a strictly positive, finite float (e.g. beta ``"3e3"``), or raise ConfigError naming it."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0.0:
        raise ConfigError(f"{name} must be > 0, got {text!r}")
    return value


def make_run_config(
    algo: str,
    env: str,
    beta: str | float,
    lr: str | float,
    seed: int,
    preset: str = "default",
    families: dict | None = None,
    hyper_overrides: dict[str, str | float] | None = None,
    view: str = "window",
    image_size: int = 32,
    **budget_overrides: int | None,
) -> RunConfig:
    """Validate user input and resolve the budget of `preset`, with optional overrides.

    `env` is a built-in family in ENVIRONMENTS or one defined in `families` (user family
    definitions, see `distral_repro.envs.specs`); a user family's budget is its own.
    Raises ConfigError with one clear message naming the argument and the valid choices.
    """
    if algo not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm {algo!r}; valid: {', '.join(ALGORITHMS)}")
    spec = None
    if env not in ENVIRONMENTS:
        from distral_repro.envs.specs import parse_family

        if env not in (families or {}):
            defined = f", or one defined under 'families:' ({', '.join(families)})" if families else (
                ", or a family defined under 'families:' in a file given with --env-file"
            )
            raise ConfigError(f"unknown environment {env!r}; valid: {', '.join(ENVIRONMENTS)}{defined}")
        try:
            spec = parse_family(env, families[env])
        except ValueError as error:
            raise ConfigError(str(error)) from None
    if preset not in PRESET_NAMES:
        raise ConfigError(f"unknown preset {preset!r}; valid: {', '.join(PRESET_NAMES)}")
    beta_value = positive_float("beta", beta)
    lr_value = positive_float("lr", lr)
    if not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be an integer in 0..{MAX_SEED}, got {seed!r}")
    check_view_setting(view, image_size, spec is None)
    budget = BUDGETS[preset][env] if spec is None else Budget(**spec.budget_settings(preset))
    overrides = {k: v for k, v in budget_overrides.items() if v is not None}
    for key, value in overrides.items():
        if key not in Budget.__dataclass_fields__:
            raise ConfigError(f"unknown budget setting {key!r}; valid: {', '.join(Budget.__dataclass_fields__)}")
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{key.replace('_', '-')} must be a positive integer, got {value!r}")
    budget = replace(budget, **overrides)
    family = None if spec is None else spec.definition()
    # A user family's own shared settings (its `learner:`), then the command's --hyper.
    hyper = make_hyper({**(dict(spec.learner) if spec is not None else {}), **(hyper_overrides or {})})
    if hyper.entropy_form == "loss" and ALGORITHMS[algo].alpha != 0.0:
        entropy_only = ", ".join(name for name, a in ALGORITHMS.items() if a.alpha == 0.0)
        raise ConfigError(f"entropy_form=loss is defined for the entropy-only algorithms ({entropy_only}), not {algo}")
    return RunConfig(
        algo=algo, env=env, beta=beta_value, lr=lr_value, seed=seed, preset=preset, budget=budget, family=family,
        hyper=hyper, view=view, image_size=int(image_size),
    )


def check_view_setting(view: str, image_size: int, builtin: bool) -> None:
    """ConfigError unless the view and frame size are valid (first person: built-in families only)."""
    from distral_repro.envs.raycast import check_view

    try:
        check_view(view, image_size)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if view != "window" and not builtin:
        raise ConfigError(f"view {view!r} exists for the built-in families only (a user family has its own observations)")


#: What a run recorded before a setting existed meant (runs made before issue 29 lack these
#: keys in summary.json; they trained with the uniform init and torch's RMSProp start).
HYPER_BEFORE_RECORDED = {"torso": "lstm", "init": "uniform", "rmsprop_square_start": "zero", "lr_warmup": 0,
                         "entropy_form": "reward"}


def hyper_from_record(recorded: dict) -> Hyper:
    """The Hyper a summary.json recorded; keys it lacks take the values they had before they existed."""
    return Hyper(**{**HYPER_BEFORE_RECORDED, **recorded})


#: The hyper settings that take one of a few names, and those names.
HYPER_CHOICES = {
    "torso": ("lstm", "feedforward"),
    "init": ("uniform", "orthogonal"),
    "rmsprop_square_start": ("zero", "first"),
    "entropy_form": ("reward", "loss"),
}
#: Integer hyper settings that may be 0.
HYPER_NON_NEGATIVE = ("lr_warmup",)


def make_hyper(overrides: dict[str, str | float | int]) -> Hyper:
    """The shared settings with some replaced (e.g. {"rmsprop_eps": "1e-7"}, for pilots);
    ConfigError naming an unknown key, a name not among HYPER_CHOICES, or a value out of its
    range (>= 0 for HYPER_NON_NEGATIVE, HYPER_BELOW_ONE; integers for integer settings)."""
    fields = Hyper.__dataclass_fields__
    values = {}
    for key, text in overrides.items():
        if key not in fields:
            raise ConfigError(f"unknown hyper setting {key!r}; valid: {', '.join(fields)}")
        if key in HYPER_CHOICES:
            name = str(text).strip()
            if name not in HYPER_CHOICES[key]:
                raise ConfigError(f"{key} must be one of {', '.join(HYPER_CHOICES[key])}, got {text!r}")
            values[key] = name
            continue
        if key in HYPER_NON_NEGATIVE:
            try:
                count = int(str(text).strip())
            except ValueError:
                count = -1
            if count < 0:
                raise ConfigError(f"{key} must be an integer >= 0, got {text!r}")
            values[key] = count
            continue
        if isinstance(fields[key].default, bool):
            flag = str(text).strip().lower()
            if flag not in ("true", "false", "1", "0"):
                raise ConfigError(f"{key} must be true or false, got {text!r}")
            values[key] = flag in ("true", "1")
            continue
        value = positive_float(key, text)
        if isinstance(fields[key].default, int):
            if value != int(value):
                raise ConfigError(f"{key} must be a positive integer, got {text!r}")
            value = int(value)
        below_one = HYPER_BELOW_ONE.get(key)
        if below_one is not None and not (value < 1.0 or (below_one == "<= 1" and value == 1.0)):
            raise ConfigError(f"{key} must be > 0 and {below_one}, got {text!r}")
        values[key] = value
    return replace(Hyper(), **values)


#: Hyper settings bounded above as well as below (a discount above 1 or an RMSProp decay of 1
#: or more would train on nonsense); every other number only needs to be > 0.
HYPER_BELOW_ONE = {"gamma": "<= 1", "rmsprop_alpha": "< 1"}
