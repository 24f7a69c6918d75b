"""Whether a claim held: its rule's conditions read on the finished runs, after its preconditions.

A condition selects runs by their settings (`where`) and tests one value of each (final, first, at
every evaluation, its minimum or maximum up to a step, or its area), or compares the means of two
groups (`than`): their ratio tested, a one-sided Welch t-test at `alpha`, and the number of runs a
side that a difference of the paper's size (`paper_ratio`) needs at the spread measured here (the
same one-sided test, 80% power). A
precondition is a test every selected finished run must pass for the claim to be read at all: a run
that fails one did not train (D at chance, G one point, a lens that never moved), and the verdict is
"not decided", never "holds". Everything here reads records (results.json), never checkpoints.
"""

import math
import operator
import statistics

from ..errors import UserError
from ..run_dir import COMPLETED, DIVERGED
from ..tables import protocols_mixed, value
from .claims import AREA, TEST

OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq}
HOLDS, FAILS, TOO_FEW = "holds", "does not hold", "too few runs"
NOT_TRAINED, NOT_HERE, UNDECIDABLE, WITHIN_SPREAD = (
    "did not train",
    "not decided here",
    "not decidable here",
    "within the seed spread",
)
SAID = {
    HOLDS: "the claim holds",
    FAILS: "the claim does not hold",
    TOO_FEW: "not decided yet: too few finished runs",
    NOT_TRAINED: "not decided: the setup did not train",
    NOT_HERE: "not decided here",
    UNDECIDABLE: "not decidable here: a difference of the paper's size needs more runs than the sweep has",
    WITHIN_SPREAD: "not decided: a difference within the seed spread",
}
# the order in which a condition's verdict decides the claim's: a run that did not train voids every
# reading; a condition that fails decides whatever the others say; then the undecided kinds
PRECEDENCE = (NOT_TRAINED, FAILS, TOO_FEW, UNDECIDABLE, WITHIN_SPREAD, HOLDS)
POWER = 0.8  # of the test whose runs a side `runs_needed` counts


def label(claim: dict, v: str) -> str:
    """The claim's name for a value of its rows or columns (its `labels`), else the value."""
    return claim.get("labels", {}).get(v, v)


def matches(record: dict, where: dict) -> bool:
    return all(value(record, key) == str(v) for key, v in where.items())


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not math.isnan(v) else None


def area(history: list[dict], metric: str) -> float | None:
    """The metric's area under its curve over the run's evaluations, per step: trapezoids over the
    steps divided by the steps spanned (the mean of the curve; its value when evaluated once)."""
    points = [(e["step"], _number(e.get(metric))) for e in history]
    if not points or any(v is None for _, v in points):
        return None
    if len(points) == 1:
        return points[0][1]
    total = sum((s1 - s0) * (v0 + v1) / 2 for (s0, v0), (s1, v1) in zip(points, points[1:]))
    return total / (points[-1][0] - points[0][0])


def measured(
    record: dict, metric: str, over: str = "final", until: int | None = None
) -> list[float | None]:
    """A completed run's values of `metric` a test reads: its final one, its first, one per evaluation,
    the least or the greatest of them (of the evaluations at or before step `until`, when given), or
    its area (`over`, or NAME@area)."""
    if metric.endswith(AREA):
        metric, over = metric.removesuffix(AREA), "area"
    history = [e for e in record["history"] if until is None or e["step"] <= until]
    if over in ("every_evaluation", "first"):
        return [_number(e.get(metric)) for e in history][: 1 if over == "first" else None]
    if over in (
        "min",
        "max",
    ):  # of the evaluations that have it (a lens's values stop when it is dropped)
        values = [v for e in history if (v := _number(e.get(metric))) is not None]
        return [(min if over == "min" else max)(values) if values else None]
    return [area(history, metric) if over == "area" else _number(record["final"].get(metric))]


def _mean_of(r: dict, condition: dict) -> float | None:
    values = [
        v
        for v in measured(
            r, condition["metric"], condition.get("over", "final"), condition.get("until")
        )
        if v is not None
    ]
    return statistics.mean(values) if values else None


def runs_needed(a: list[float], b: list[float], difference: float, alpha: float) -> int | None:
    """Runs a side for the test the rule makes (one-sided at `alpha`) to find `difference` between two
    groups with 80% power at the spread measured here (the pooled standard deviation): the least n
    with n ≥ 2·((t_{1−α} + t_{power}) σ / δ)², t on 2n − 2 degrees of freedom (at least 2: a t-test
    needs a spread a side); None without a spread."""
    from scipy.stats import t

    if len(a) < 2 or len(b) < 2 or difference == 0:
        return None
    pooled = math.sqrt(
        ((len(a) - 1) * statistics.variance(a) + (len(b) - 1) * statistics.variance(b))
        / (len(a) + len(b) - 2)
    )
    n = 2
    while (
        n < 10**6
        and n
        < 2 * ((t.ppf(1 - alpha, 2 * n - 2) + t.ppf(POWER, 2 * n - 2)) * pooled / difference) ** 2
    ):
        n += 1
    return n


def welch_p(a: list[float], b: list[float], op: str) -> float | None:
    """One-sided Welch t-test of mean(a) against mean(b) in the direction `op` says (< or >)."""
    from scipy.stats import ttest_ind

    if len(a) < 2 or len(b) < 2:
        return None
    side = "less" if op in ("<", "<=") else "greater"
    p = ttest_ind(a, b, equal_var=False, alternative=side).pvalue
    return None if math.isnan(p) else float(p)


OPPOSITE = {"<": ">", "<=": ">", ">": "<", ">=": "<", "==": "=="}


def compare(condition: dict, runs: list[dict], min_runs: int, op: str, threshold: str) -> dict:
    """A comparison: the mean over the `where` runs of each run's value (final, first, min, max or
    area; the mean of its evaluations under every_evaluation) divided by the same mean over the `than`
    runs, tested. A diverged `where` run contradicts it (unless `diverged: true`); a diverged `than`
    run has no value and only leaves its side with fewer runs. Decided when every selected job of both
    sides has finished with at least min_runs values a side and both means are positive. With `alpha`
    the ratio alone does not decide: it holds when a one-sided Welch t-test in the claimed direction
    is significant, does not hold when one in the opposite direction is, and otherwise is "within the
    seed spread". With `paper_ratio` it is first "not decidable here" when a difference of the paper's
    size needs more runs a side than the sweep has at the spread measured: a sweep that small cannot
    tell the paper's effect, whichever way its own runs fall (the report still gives both p values)."""
    sides = [[r for r in runs if matches(r, condition[key])] for key in ("where", "than")]
    values = [
        [v for r in side if r["status"] == COMPLETED and (v := _mean_of(r, condition)) is not None]
        for side in sides
    ]
    diverged = [sum(r["status"] == DIVERGED for r in side) for side in sides]
    means = [statistics.mean(v) if v else None for v in values]
    done = all(r["status"] in (COMPLETED, DIVERGED) for side in sides for r in side)
    ratio = means[0] / means[1] if None not in means and means[0] > 0 and means[1] > 0 else None
    alpha, paper = condition.get("alpha"), condition.get("paper_ratio")
    p = welch_p(*values, op) if alpha else None
    against = welch_p(*values, OPPOSITE[op]) if alpha else None
    level = alpha or 0.05
    needed = {
        "paper": runs_needed(*values, means[1] * (1 - paper), level)
        if paper and ratio is not None
        else None,
        "measured": runs_needed(*values, means[0] - means[1], level) if ratio is not None else None,
    }
    if diverged[0] and not condition.get("diverged", False):
        result = FAILS
    elif not done or ratio is None or min(len(v) for v in values) < min_runs:
        result = TOO_FEW
    elif not alpha:
        result = HOLDS if OPS[op](ratio, float(threshold)) else FAILS
    elif needed["paper"] is not None and needed["paper"] > min(len(v) for v in values):
        # too few runs a side for a difference of the paper's size: whatever these runs show
        result = UNDECIDABLE
    elif OPS[op](ratio, float(threshold)) and p is not None and p < alpha:
        result = HOLDS
    elif against is not None and against < alpha:
        result = FAILS  # significantly the other way
    else:
        result = WITHIN_SPREAD
    return {
        "condition": condition,
        "selected": sum(map(len, sides)),
        "finished": sum(map(len, values)),
        "passed": None,
        "means": means,
        "n": [len(v) for v in values],
        "diverged": diverged,
        "ratio": ratio,
        "p": p,
        "p_against": against,
        "needed": needed,
        "verdict": result,
    }


def _passes(r: dict, condition: dict, op: str, threshold: str) -> bool:
    values = measured(
        r, condition["metric"], condition.get("over", "final"), condition.get("until")
    )
    return bool(values) and all(v is not None and OPS[op](v, float(threshold)) for v in values)


def check(condition: dict, runs: list[dict], min_runs: int, cell) -> dict:
    """One condition of a rule on the runs it selects: how many finished runs passed, and its verdict.
    It is decided when every selected job has finished and each table cell (`cell(run)`) among them
    has min_runs finished runs, or earlier when a finished run already contradicts it."""
    op, threshold = TEST.fullmatch(condition["test"].strip()).group(1, 2)
    if condition.get("than"):
        return compare(condition, runs, min_runs, op, threshold)
    selected = [r for r in runs if matches(r, condition["where"])]
    passed = finished = 0
    per_cell = {cell(r): 0 for r in selected}
    for r in selected:
        if r["status"] == DIVERGED:
            ok = bool(condition.get("diverged", False))
        elif r["status"] == COMPLETED:
            ok = _passes(r, condition, op, threshold)
        else:
            continue
        finished, passed, per_cell[cell(r)] = finished + 1, passed + ok, per_cell[cell(r)] + 1
    runs_ = condition.get("runs", "all")
    if (runs_ == "all" and passed < finished) or (runs_ == "none" and passed):
        result = FAILS  # decided, however many runs are still to come
    elif not selected or finished < len(selected) or min(per_cell.values()) < min_runs:
        result = TOO_FEW
    else:
        result = HOLDS if runs_ != "most" or passed > finished / 2 else FAILS
    return {
        "condition": condition,
        "selected": len(selected),
        "finished": finished,
        "passed": passed,
        "verdict": result,
    }


def untrained(claim: dict, runs: list[dict]) -> list[tuple[dict, dict, list[float | None]]]:
    """(run, precondition, its values) for every completed run that fails a precondition of the claim
    (a diverged run is a result, not a setup that did not train)."""
    failed = []
    for condition in claim.get("preconditions") or []:
        op, threshold = TEST.fullmatch(condition["test"].strip()).group(1, 2)
        for r in runs:
            if (
                r["status"] == COMPLETED
                and matches(r, condition.get("where") or {})
                and not _passes(r, condition, op, threshold)
            ):
                failed.append(
                    (
                        r,
                        condition,
                        measured(
                            r,
                            condition["metric"],
                            condition.get("over", "final"),
                            condition.get("until"),
                        ),
                    )
                )
    return failed


def verdict(
    claim: dict, runs: list[dict], scale: dict | None = None
) -> tuple[str, list[dict], list]:
    """The claim's verdict, each condition's check, and the runs that did not train. It holds when
    every condition does and every run trained; a scale that cannot decide it says so (NOT_HERE)
    once its runs have trained; otherwise the first verdict in PRECEDENCE among the conditions'."""

    def cell(r: dict) -> tuple[str, str]:
        return value(r, claim["rows"]), value(r, claim.get("cols"))

    # the values it compares share one protocol: the final ones', or every evaluation's of a curve
    completed = [r for r in runs if r["status"] == COMPLETED]
    read = [(m, m.endswith(AREA)) for m in claim["metrics"]]
    read += [
        (c["metric"], c["metric"].endswith(AREA) or c.get("over", "final") != "final")
        for c in claim["rule"]
    ]
    for metric, curve in dict.fromkeys(read):
        at = None if curve else False
        if text := protocols_mixed(completed, metric.removesuffix(AREA), at, " of this claim"):
            raise UserError(f"Not judged: {text}")
    checks = [check(c, runs, claim.get("min_runs", 3), cell) for c in claim["rule"]]
    failed = untrained(claim, runs)
    if failed:
        return NOT_TRAINED, checks, failed
    if scale is not None and not scale.get("decides", True):
        return NOT_HERE, checks, failed
    verdicts = {c["verdict"] for c in checks} or {TOO_FEW}  # no condition: nothing decides it
    return next(v for v in PRECEDENCE if v in verdicts or v == HOLDS), checks, failed
