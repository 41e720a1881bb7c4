"""The pre-registration of the claims' primary tests (config/claims.yaml): load and check it.

Written before any run: which algorithms each claim compares, on which score, on which stage
(a study may pre-register some of the claims only, e.g. config/claims_long_horizon.yaml).
`load_preregistration` checks the file's form; `check_against` checks it against a study (an
algorithm, a score or a stage the study lacks is a `PreregistrationError` naming it, and the
aggregation stops with that one line). The file's own comments say what every key means.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

#: The scores a primary test can use, and what each compares.
SCORES = {
    "auc": "AUC score",
    "final": "final score",
    "early_auc": "early AUC score",
    "failed_fraction": "fraction of failed runs",
    "final_spread": "spread of the mean final scores of all runs",
    "pi0_share": "pi_0 alone against a share of the task policies",
    "gridworld_auc": "grid-world AUC (mean episode return)",
}
#: Scores computed from the best setting's run scores (Welch's t-test).
RUN_SCORES = ("auc", "final", "early_auc")
STAGES = ("grid", "confirmation", "late", "gridworld", "aa")
#: Stands for the pre-registered Distral variant in `compare`.
DISTRAL = "Distral"
CLAIMS = tuple(f"C{i}" for i in range(1, 8))
MAX_PRIMARY_TESTS = 2


class PreregistrationError(ValueError):
    """A claims file that is malformed or names what the study lacks."""


@dataclass(frozen=True)
class PrimaryTest:
    """One pre-registered test: "X beats Y on `score` in `stage`, in every env and pair"."""

    claim: str
    name: str
    score: str
    stage: str
    envs: tuple[str, ...]
    compare: tuple[tuple[str, ...], ...]  # (X, Y) pairs; (X,) for pi0_share
    share: float | None = None  # pi0_share only

    @property
    def label(self) -> str:
        return f"{self.claim} {self.name}"


@dataclass(frozen=True)
class Preregistration:
    distral: str
    alpha: float
    tests: tuple[PrimaryTest, ...]
    aa_check: PrimaryTest | None
    source: str

    def claim_tests(self, claim: str) -> list[PrimaryTest]:
        return [t for t in self.tests if t.claim == claim]

    def algorithms(self) -> set[str]:
        """Every algorithm a deep-RL test names (Distral resolved)."""
        return {a for t in self.tests if t.stage not in ("gridworld", "aa") for pair in t.compare for a in pair}


def _fail(source: str, where: str, problem: str) -> PreregistrationError:
    return PreregistrationError(f"claims file {source}: {where}: {problem}")


def _test(source: str, claim: str, index: int, spec, distral: str) -> PrimaryTest:
    where = f"{claim}[{index}]" if claim != "aa_check" else "aa_check"
    if not isinstance(spec, dict):
        raise _fail(source, where, "a primary test is a mapping with name, score, stage, envs, compare")
    known = {"name", "score", "stage", "envs", "compare", "share"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise _fail(source, where, f"unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    score, stage = spec.get("score"), spec.get("stage")
    if score not in SCORES:
        raise _fail(source, where, f"score {score!r} is not one of {', '.join(SCORES)}")
    if stage not in STAGES:
        raise _fail(source, where, f"stage {stage!r} is not one of {', '.join(STAGES)}")
    if claim == "aa_check":
        if stage != "aa" or score not in RUN_SCORES:
            raise _fail(source, where, f"the A/A check needs stage aa and a score of {', '.join(RUN_SCORES)}")
        return PrimaryTest("A/A", str(spec.get("name", "A/A")), score, stage, (), ())
    if stage == "aa":
        raise _fail(source, where, "stage aa is the A/A check's only")
    envs = spec.get("envs")
    if not isinstance(envs, list) or not envs or not all(isinstance(e, str) for e in envs):
        raise _fail(source, where, "envs must be a non-empty list of environment names")
    compare = spec.get("compare")
    width = 1 if score == "pi0_share" else 2
    if (not isinstance(compare, list) or not compare
            or not all(isinstance(p, list) and len(p) == width and all(isinstance(a, str) for a in p) for p in compare)):
        shape = "[[X]] (the algorithm whose pi_0 is tested)" if width == 1 else "[[X, Y], ...] (X beats Y)"
        raise _fail(source, where, f"compare must be a list of {shape}")
    share = spec.get("share")
    if score == "pi0_share":
        if not isinstance(share, (int, float)) or not 0 < share <= 1:
            raise _fail(source, where, "pi0_share needs share: a number in (0, 1]")
        share = float(share)
    elif share is not None:
        raise _fail(source, where, "share is for score pi0_share only")
    if (score == "gridworld_auc") != (stage == "gridworld"):
        raise _fail(source, where, "score gridworld_auc goes with stage gridworld, and only it")
    pairs = tuple(tuple(distral if a == DISTRAL else a for a in p) for p in compare)
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(source, where, "name must be a non-empty string")
    return PrimaryTest(claim, name, score, stage, tuple(envs), pairs, share)


def load_preregistration(path: str | Path) -> Preregistration:
    """Read and check the form of a claims file; PreregistrationError (one line) if malformed."""
    source = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise PreregistrationError(f"claims file {source}: does not exist") from None
    except yaml.YAMLError as err:
        raise PreregistrationError(f"claims file {source}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise PreregistrationError(f"claims file {source}: not a mapping")
    unknown = sorted(set(data) - {"distral", "alpha", "claims", "aa_check"})
    if unknown:
        raise _fail(source, "top level", f"unknown key(s) {', '.join(unknown)}")
    distral = data.get("distral")
    if not isinstance(distral, str) or not distral:
        raise _fail(source, "distral", "must name the Distral variant, e.g. KL+ent_2col")
    alpha = data.get("alpha")
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise _fail(source, "alpha", f"{alpha!r} must be a number in (0, 1)")
    claims = data.get("claims")
    if not isinstance(claims, dict) or not claims or set(claims) - set(CLAIMS):
        have = ", ".join(sorted(map(str, claims))) if isinstance(claims, dict) and claims else "none"
        raise _fail(source, "claims", f"must hold one or more of {', '.join(CLAIMS)} and no other (has {have})")
    tests = []
    for claim in (c for c in CLAIMS if c in claims):  # a study may test some claims only
        specs = claims[claim]
        if not isinstance(specs, list) or not 1 <= len(specs) <= MAX_PRIMARY_TESTS:
            raise _fail(source, claim, f"1 to {MAX_PRIMARY_TESTS} primary tests, as a list")
        tests += [_test(source, claim, i, spec, distral) for i, spec in enumerate(specs)]
    aa = data.get("aa_check")
    return Preregistration(distral, float(alpha), tuple(tests),
                           None if aa is None else _test(source, "aa_check", 0, aa, distral), source)


def check_against(prereg: Preregistration, algorithms: set[str], stages: set[str], known_algorithms: set[str]) -> None:
    """Stop when the file names an algorithm or a stage the study lacks.

    Args:
        algorithms: the deep-RL algorithms that have runs in the study.
        stages: the stages the study has (grid always; confirmation; gridworld; aa).
        known_algorithms: the package's algorithms; one of them without runs in this study (a
            study of a subset) leaves its comparisons not resolved instead of stopping.
    """
    for test in prereg.tests:
        for pair in test.compare:
            for algo in pair:
                if test.stage == "gridworld":
                    continue
                if algo not in algorithms and algo not in known_algorithms:
                    raise _fail(prereg.source, test.label, f"algorithm {algo!r} is in no run of the study "
                                f"(its algorithms: {', '.join(sorted(algorithms))})")
        if test.stage not in stages and test.stage != "late":
            raise _fail(prereg.source, test.label, f"stage {test.stage!r} is not in the study "
                        f"(its stages: {', '.join(sorted(stages))})")
