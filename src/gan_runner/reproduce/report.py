"""A reproduction's report: the paper's table beside ours, the rule's conditions read, the runs that
did not train, the time it took, what would change the verdict; REPORT.md and figure.png in the
sweep directory, from the jobs' records alone."""

import statistics
from pathlib import Path

from ..errors import UserError
from ..files import write_text
from ..run_dir import COMPLETED, STATUSES
from ..tables import ordered, protocols, value
from .claims import AREA, checked_claim
from .figure import figure
from .records import invocations, records
from .verdict import NOT_HERE, SAID, UNDECIDABLE, WITHIN_SPREAD, label, matches, measured, verdict


def _cell(runs: list[dict], metric: str) -> str:
    values = [
        v for r in runs if r["status"] == COMPLETED for v in measured(r, metric) if v is not None
    ]
    text = "–"
    if values:
        mean = statistics.mean(values)
        text = (
            f"{mean:.4g}"
            + (f" ± {statistics.stdev(values):.2g}" if len(values) > 1 else "")
            + f" (n={len(values)})"
        )
    bad = {s: sum(r["status"] == s for r in runs) for s in STATUSES if s != COMPLETED}
    return text + "".join(f", {k} {s}" for s, k in bad.items() if k)


def protocol_text(claim: dict, runs: list[dict]) -> list[str]:
    """How the report's values were measured: each metric's protocol, as its runs recorded it (the
    verdict refuses runs of different ones), or a line saying the runs predate protocol records."""
    completed = [r for r in runs if r["status"] == COMPLETED]
    shown = {}
    for metric in dict.fromkeys(m.removesuffix(AREA) for m in claim["metrics"]):
        found = [p for r in completed for p in protocols(r, metric, False) if metric in r["final"]]
        if found:
            shown[metric] = found[0]
    if not shown:
        return []
    if all(p is None for p in shown.values()):
        return [
            "**Protocol.** Not recorded: these jobs ran before gan-runner recorded each value's "
            "protocol (results.json `protocols`); their configs (.hydra/config.yaml, `metrics`) say "
            "how they were measured.",
            "",
        ]
    lines = [
        "**Protocol.** How each value was measured (one protocol per value across the runs):",
        "",
    ]
    alike: dict[str, list[str]] = {}  # values measured alike, listed together
    for metric, p in shown.items():
        text = "not recorded" if p is None else "; ".join(f"{k} {v}" for k, v in p.items())
        alike.setdefault(text, []).append(metric)
    lines += [f"- {', '.join(metrics)}: {text}" for text, metrics in alike.items()]
    return [*lines, ""]


def table(claim: dict, runs: list[dict]) -> str:
    """Markdown: per row value, the paper's numbers beside ours (mean ± sample std over completed runs,
    n, and how many runs diverged, failed, ... ), per column value where the claim has columns."""
    rows, cols, metrics = claim["rows"], claim.get("cols"), claim["metrics"]
    row_values = ordered(value(r, rows) for r in runs)
    reported = {str(k): v for k, v in claim.get("reported", {}).items()}
    lines = []
    if cols:
        col_values = ordered(value(r, cols) for r in runs)
        for metric in metrics:
            kind = "area under its curve, per step" if metric.endswith(AREA) else "final"
            lines += [
                f"**{metric.removesuffix(AREA)}** ({kind}; rows {rows}, columns {cols})",
                "",
                "| "
                + " | ".join([rows, "paper", *(f"{cols}={label(claim, c)}" for c in col_values)])
                + " |",
                "|" + "---|" * (2 + len(col_values)),
            ]
            for rv in row_values:
                paper = reported.get(rv, {}).get(metric, "")
                cells = [
                    _cell(
                        [r for r in runs if value(r, rows) == rv and value(r, cols) == cv], metric
                    )
                    for cv in col_values
                ]
                lines.append("| " + " | ".join([label(claim, rv), str(paper), *cells]) + " |")
            lines.append("")
    else:
        shown = [m for m in metrics if any(m in reported.get(rv, {}) for rv in row_values)]
        lines.append(
            "| "
            + " | ".join([rows, *(f"paper: {m}" for m in shown), *(f"ours: {m}" for m in metrics)])
            + " |"
        )
        lines.append("|" + "---|" * (1 + len(shown) + len(metrics)))
        for rv in row_values:
            selected = [r for r in runs if value(r, rows) == rv]
            lines.append(
                "| "
                + " | ".join(
                    [
                        label(claim, rv),
                        *(str(reported.get(rv, {}).get(m, "")) for m in shown),
                        *(_cell(selected, m) for m in metrics),
                    ]
                )
                + " |"
            )
        lines.append("")
    return "\n".join(lines)


def _runs_of(claim: dict, where: dict) -> str:
    return (
        ", ".join(claim.get("labels", {}).get(str(v), f"{k}={v}") for k, v in where.items())
        or "all runs"
    )


def _when(cond: dict) -> str:
    over = "area" if cond["metric"].endswith(AREA) else cond.get("over", "final")
    until = f" up to step {cond['until']}" if cond.get("until") is not None else ""
    return {
        "every_evaluation": f" at every evaluation{until}",
        "first": " at the first evaluation",
        "area": f" in area under its curve{until}",
        "min": f" at its lowest{until}",
        "max": f" at its highest{until}",
    }.get(over, " at the end")


def _runs(n: int) -> str:
    return f"{n} run" + ("" if n == 1 else "s")


def _condition_text(claim: dict, c: dict) -> str:
    cond = c["condition"]
    where = _runs_of(claim, cond["where"])
    if cond.get("than"):
        means = " / ".join(
            ("–" if m is None else f"{m:.4g} (n={n})") + (f", {d} diverged" if d else "")
            for m, n, d in zip(c["means"], c["n"], c["diverged"])
        )
        ratio = "–" if c["ratio"] is None else f"{c['ratio']:.3g}"
        extra = [
            f"one-sided Welch p = {c['p']:.2g} the claimed way, {c['p_against']:.2g} the other way (either "
            f"decides below {cond['alpha']})"
            if c["p"] is not None and c["p_against"] is not None
            else ""
        ]
        if cond.get("paper_ratio") and c["needed"]["paper"] is not None:
            extra.append(
                f"a difference of the paper's size (ratio {cond['paper_ratio']:.3g}) needs ≈ "
                f"{_runs(c['needed']['paper'])} a side at the spread measured here"
            )
        if c["needed"]["measured"] is not None:
            extra.append(
                f"the difference measured here would need ≈ {_runs(c['needed']['measured'])} a side"
            )
        return (
            f"{where} against {_runs_of(claim, cond['than'])}: mean {cond['metric']}{_when(cond)} {means}, "
            f"ratio {ratio}, must be {cond['test']}"
            + "".join(f"; {e}" for e in extra if e)
            + f": **{c['verdict']}**"
        )
    diverged = " (a diverged run counts as passing)" if cond.get("diverged") else ""
    need = {"all": "every run", "none": "no run", "most": "more than half of the runs"}[
        cond.get("runs", "all")
    ]
    return (
        f"{where}: {cond['metric']} {cond['test']}{_when(cond)} in {need}{diverged} — {c['passed']} of "
        f"{c['finished']} finished runs ({c['selected']} found) meet the test: **{c['verdict']}**"
    )


def preconditions_text(claim: dict, runs: list[dict], failed: list) -> list[str]:
    """The preconditions, and each run that failed one, with its value."""
    if not claim.get("preconditions"):
        return []
    lines = ["**Preconditions** (every finished run of its kind, before the rule is read):", ""]
    for cond in claim["preconditions"]:
        n = sum(r["status"] == COMPLETED and matches(r, cond.get("where") or {}) for r in runs)
        bad = [(r, v) for r, c, v in failed if c is cond]
        lines.append(
            f"- {_runs_of(claim, cond.get('where') or {})}: {cond['metric']} {cond['test']}{_when(cond)}"
            f" — {n - len(bad)} of {n} pass"
            + (
                f"; **did not train** ({cond['why']}): "
                + ", ".join(
                    f"{Path(r['dir']).name} ({', '.join('–' if x is None else f'{x:.4g}' for x in v)})"
                    for r, v in bad
                )
                if bad
                else ""
            )
        )
    return [*lines, ""]


def classifier_note(claim: dict, runs: list[dict]) -> str | None:
    """Which classifier the claim's classifier metrics (FID, IS, stacked modes) were computed with: a
    classifier FID is comparable only between numbers from the same classifier."""
    from ..metrics import METRICS, NO_EMA

    names = {
        m.removesuffix(AREA).removesuffix(NO_EMA)
        for m in [*claim["metrics"], *(c["metric"] for c in claim["rule"])]
    }
    if not any(m.needs == "classifier" and names & m.values.keys() for m in METRICS.values()):
        return None
    used = set()
    for r in runs:
        c = r["config"].get("metrics", {}).get("classifier", {})
        accuracy = r.get("info", {}).get("classifier_accuracy")
        used.add(
            f"the weights file {c['weights_path']}"
            if c.get("weights_path")
            else f"the runner's own classifier (trained on the run's training split: {c.get('epochs')} epochs, batch "
            f"{c.get('batch_size')}, lr {c.get('lr')}; "
            + (
                f"test accuracy {accuracy:.3f})"
                if accuracy is not None
                else "its test accuracy is logged at the start of each job's train.log)"
            )
        )
    return (
        "The classifier metrics were computed with "
        + "; and ".join(sorted(used))
        + ": their scale is that classifier's, so they compare with a paper's only as an order."
    )


def timing(out: Path, runs: list[dict]) -> dict:
    """The jobs' own training time summed (results.json: over all their attempts), the span from the
    first job's first start to the last one's end, the reproduce invocations logged in the sweep
    directory, and the machines."""
    logged = invocations(out)
    starts = [r["started"] for r in runs if r.get("started")]  # each job's first attempt
    ends = [r["ended"] for r in runs if r.get("ended")]
    hosts = sorted(
        {
            f"{r['host'].get('name', '?')} ({r['device'].get('name', r['device'].get('device', '?'))}, "
            f"{r['host'].get('torch_threads', '?')} torch threads per job)"
            for r in runs
            if r.get("host")
        }
    )
    return {
        "job_s": sum(r["wall_time_s"] or 0 for r in runs),
        "span_s": max(ends) - min(starts) if starts and ends else None,
        "invoked_s": sum(i["ended"] - i["started"] for i in logged) if logged else None,
        "machines": hosts,
    }


def _minutes(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds / 60:.1f} min"


def scale_of(out: Path, claim: dict) -> tuple[str | None, dict | None]:
    """The scale the sweep in `out` ran at: its reproduce log's, else its directory's name."""
    logged = [i["scale"] for i in invocations(out) if i.get("scale")]
    name = logged[-1] if logged else out.name
    return (name, claim["scales"][name]) if name in claim.get("scales", {}) else (None, None)


def verdict_text(result: str, scale: dict | None, checks: list[dict]) -> str:
    if result == NOT_HERE:
        return f"{SAID[result]}: {scale['why_not'].rstrip('.')}. Decide it with `{scale['decide_with']}`"
    if result in (UNDECIDABLE, WITHIN_SPREAD):
        needed = [
            c["needed"]["paper" if result == UNDECIDABLE else "measured"]
            for c in checks
            if c["verdict"] == result
        ]
        most = max((n for n in needed if n is not None), default=None)
        return SAID[result] + (f" (≈ {_runs(most)} a side would be needed)" if most else "")
    return SAID[result]


def report(
    out: Path, claim: dict | None = None, command: str = "", finished: bool = False
) -> tuple[str, str]:
    """(the console text, the verdict); writes REPORT.md and figure.png into the sweep directory `out`,
    from the jobs' records alone (results.json, .hydra/, samples/). The claim defaults to the one the
    jobs recorded; `finished`: the sweep has ended (a job without results.json then failed)."""
    runs = records(out, finished)
    if not runs:
        raise UserError(
            f"{out} holds no job of a sweep (no .hydra/overrides.yaml below it): nothing to report."
        )
    claim = claim or next(
        (r["config"]["claim"] for r in runs if isinstance(r["config"].get("claim"), dict)), None
    )
    if claim is None:
        raise UserError(
            f"The jobs in {out} record no claim: they were not run from an experiment preset "
            "(use gan-runner-table for a plain sweep)."
        )
    claim = checked_claim(claim)  # a recorded one too: its schema's defaults filled in
    scale_name, scale = scale_of(out, claim)
    result, checks, failed = verdict(claim, runs, scale)
    t = timing(out, runs)
    counts = ", ".join(
        f"{sum(r['status'] == s for r in runs)} {s}"
        for s in STATUSES
        if any(r["status"] == s for r in runs)
    )
    fig = figure(claim, runs, out)
    text = "\n".join(
        [
            f"# {claim['paper']}",
            "",
            f"**Claim.** {claim['statement']}",
            "",
            *([f"**Command.** `{command}`", ""] if command else []),
            f"**Runs.** {len(runs)} jobs in {out}{f' (scale {scale_name})' if scale_name else ''}: {counts}; on "
            f"{'; '.join(t['machines']) or 'an unrecorded machine'}. Time: the jobs' own training time summed "
            f"{_minutes(t['job_s'])}; first job start to last job end {_minutes(t['span_s'])}"
            + (
                f"; the reproduce commands that ran it {_minutes(t['invoked_s'])}."
                if t["invoked_s"] is not None
                else "."
            ),
            "",
            f"**Paper vs ours.** The paper's numbers: {claim['source']}.",
            "",
            *([f"**Classifier.** {note}", ""] if (note := classifier_note(claim, runs)) else []),
            table(claim, runs),
            *protocol_text(claim, runs),
            *preconditions_text(claim, runs, failed),
            f"**Rule.** The claim {claim['rule_text']}.",
            "",
            *(f"- {_condition_text(claim, c)}" for c in checks),
            "",
            f"**Verdict: {verdict_text(result, scale, checks)}.**",
            "",
            *(
                [f"**What would change it.** {claim['changes'].strip()}", ""]
                if claim.get("changes")
                else []
            ),
            *([f"![{claim['figure']}](figure.png)", ""] if fig else []),
        ]
    )
    write_text(out / "REPORT.md", text)
    return text, result
