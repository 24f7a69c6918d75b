"""`gan-runner-reproduce`: a published claim from one command.

An experiment preset (conf/experiment/NAME.yaml) holds the paper's setup, its sweep and its `claim`:
the metrics, the table's rows and columns, the paper's reported numbers and the rule that decides
whether the claim held. `reproduce` runs the sweep through `gan-runner -m` (any launcher: its
overrides pass through) into one directory per claim and scale, so running the same command again
continues an interrupted reproduction (each job from its checkpoint; finished jobs are kept), then
`report` reads the job directories (never the code they name: run_dir and summary read records as
data), prints the paper's table beside ours with the verdict, and writes REPORT.md and figure.png
into the sweep directory. A partial sweep is reported as far as it got.
"""

import json
import math
import operator
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import CONF_DIR
from .config import AREA, TEST
from .errors import ConfigError
from .files import write_json, write_text
from .run_dir import COMPLETED, DIVERGED, RUNNING, STATUSES, RunDir, override_key, quoted, read_results
from .tables import ordered, value

SCALES = ("quick", "paper")
OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq}
HOLDS, FAILS, TOO_FEW = "holds", "does not hold", "too few runs"
SAID = {HOLDS: "the claim holds", FAILS: "the claim does not hold",
        TOO_FEW: "not decided yet: too few finished runs"}
LOG = "reproduce.json"  # in the sweep directory: each invocation's command and times


def presets(config_dir: str | None = None) -> list[str]:
    """The experiment presets gan-runner ships, and those of a user's config directory."""
    dirs = [Path(CONF_DIR) / "experiment", *([Path(config_dir) / "experiment"] if config_dir else [])]
    return sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})


def claim_of(name: str, config_dir: str | None = None) -> dict:
    """The preset's claim, as plain data; ConfigError when there is no such preset or it has none."""
    from omegaconf import OmegaConf

    from .config import compose

    known = presets(config_dir)
    if name not in known:
        raise ConfigError(f"No experiment preset '{name}'. The presets: {', '.join(known) or 'none'}.")
    cfg = compose([f"+experiment={name}"], config_dir)
    if cfg.get("claim") is None:
        raise ConfigError(f"The preset '{name}' states no claim (no `claim:` node): run it with gan-runner -m "
                          f"+experiment={name} instead.")
    return OmegaConf.to_container(cfg.claim, resolve=True)


def sweep_dir(name: str, scale: str, overrides: list[str]) -> Path:
    """Where a reproduction's jobs go: hydra.sweep.dir when given, else outputs/reproduce/NAME/SCALE."""
    for o in overrides:
        if o.startswith("hydra.sweep.dir="):
            return Path(o.split("=", 1)[1]).expanduser()
    return Path("outputs") / "reproduce" / name / scale


def gan_runner() -> str:
    """The gan-runner command beside this one (launchers restart their jobs with the same script)."""
    import shutil

    for candidate in (Path(sys.argv[0]).with_name("gan-runner"), Path(sys.executable).with_name("gan-runner")):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("gan-runner")
    if found is None:
        raise ConfigError("The gan-runner command is not installed beside gan-runner-reproduce nor on PATH.")
    return found


def sweep_points(name: str, overrides: list[str], config_dir: str | None = None) -> dict[str, list[str]]:
    """The preset's sweep under `overrides` (a scale's and the user's; later ones win): each key and
    its values. Hydra's own settings (hydra.*, hydra/...) are left out."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from .config import compose

    sweep = compose([f"+experiment={name}"], config_dir, hydra=True).hydra.sweeper.params or {}
    points = {}
    for o in OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in sweep.items()] + list(overrides)):
        if not o.get_key_element().lstrip("+~").startswith("hydra"):
            points[o.get_key_element()] = (list(o.sweep_string_iterator()) if o.is_sweep_override()
                                           else [o.get_value_element_as_str()])
    return points


def precheck(name: str, overrides: list[str], config_dir: str | None) -> None:
    """The sweep's first job, composed and validated, finds its data and metric weights: a missing
    dataset stops the reproduction before any job starts (ConfigError, naming where the files go)."""
    import torch

    from .config import compose, validate
    from .game import dataset
    from .preflight import check_metrics, check_weights

    first = [f"{k}={v[0]}" for k, v in sweep_points(name, overrides, config_dir).items()]
    cfg = compose([f"+experiment={name}", *first], config_dir)
    validate(cfg)
    check_metrics(cfg)
    check_weights(cfg)
    dataset(cfg, torch.device("cpu"))


def run(name: str, claim: dict, scale: str, overrides: list[str], out: Path, config_dir: str | None,
        command: str) -> int:
    """The sweep, in a child `gan-runner -m` of its own session; its exit status. Ctrl-C, SIGTERM and
    SIGHUP reach it through this process, SIGHUP as SIGTERM (what gan-runner stops on): its jobs save
    and stop, and the report covers what they did. Each invocation is logged in the sweep directory."""
    if claim["scales"][scale].get("digits"):
        from .data.digits import write

        write(claim["scales"][scale]["digits"])
    precheck(name, [*claim["scales"][scale]["overrides"], *overrides], config_dir)
    # the job directories named by what varies: the keys of one value left out of their names
    fixed = ["experiment", *(k.lstrip("+~") for k, v in sweep_points(name, [*claim["scales"][scale]["overrides"],
                                                                           *overrides], config_dir).items() if len(v) == 1)]
    argv = [gan_runner(), "-m", f"+experiment={name}", *claim["scales"][scale]["overrides"],
            *(o for o in overrides if not o.startswith("hydra.sweep.dir=")), f"hydra.sweep.dir={quoted(out.absolute())}",
            f"hydra.job.config.override_dirname.exclude_keys=[{','.join(fixed)}]",
            *(["--config-dir", config_dir] if config_dir else [])]
    child = subprocess.Popen(argv, start_new_session=True)

    def forward(sig: int, frame) -> None:
        child.send_signal(signal.SIGTERM if sig == signal.SIGHUP else sig)

    handlers = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    started = time.time()
    try:
        return child.wait()
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        if out.is_dir():
            write_json(out / LOG, [*invocations(out), {"command": command, "started": started, "ended": time.time(),
                                                       "exit": child.returncode}])


def invocations(out: Path) -> list[dict]:
    """The reproduce commands that ran the sweep in `out` (none when it was run otherwise)."""
    try:
        log = json.loads((out / LOG).read_text())
        return [i for i in log if isinstance(i, dict) and {"started", "ended"} <= i.keys()] if isinstance(log, list) else []
    except (OSError, ValueError):
        return []


# --- the report ------------------------------------------------------------------------------

def sweep_values(out: Path) -> dict[str, set[str]] | None:
    """The keys the directory's latest sweep sets (its multirun.yaml: the sweeper's params and the
    task's overrides), each with the values its jobs take; None when that cannot be read."""
    import yaml
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        h = yaml.safe_load((out / "multirun.yaml").read_text())["hydra"]
        params = [f"{k}={v}" for k, v in (h["sweeper"].get("params") or {}).items()] + list(h["overrides"]["task"])
        return {override_key(o.input_line): set(o.sweep_string_iterator()) if o.is_sweep_override()
                else {"", "null"} if o.is_delete() else {o.get_value_element_as_str()}  # a job records ~k as ~k=null
                for o in OverridesParser.create().parse_overrides(params)}
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError, HydraException):
        return None


def records(out: Path, finished: bool = False) -> list[dict]:
    """The jobs of the sweep in `out` (summary.runs), with their results.json's history and times. Only
    the latest sweep's jobs count (a directory left by an earlier sweep of other values is not pooled in). A
    job is "running" until the sweep has `finished` when it has no results.json, or an older one than
    its log (an earlier attempt's)."""
    from .summary import runs

    values, newest = sweep_values(out), {}
    for r in runs([out], finished=finished):
        if values is not None and not (r["overrides"].keys() == values.keys()
                                       and all(v in values[k] for k, v in r["overrides"].items())):
            continue  # an earlier sweep's job
        # one run per point of the sweep: the newest directory of its overrides (a sweep run again)
        key = tuple(sorted(r["overrides"].items())) if values is not None else r["dir"]
        if key not in newest or Path(r["dir"]).stat().st_mtime > Path(newest[key]["dir"]).stat().st_mtime:
            newest[key] = r
    found = list(newest.values())
    for r in found:
        run = RunDir(Path(r["dir"]))
        results = read_results(run) or {}
        if (not finished and results and run.log.exists()
                and run.log.stat().st_mtime > (results.get("ended") or 0) + 2):
            r["status"] = RUNNING
        r.update(history=results.get("history", []), started=results.get("started"), ended=results.get("ended"),
                 host=results.get("host", {}), device=results.get("device", {}))
    return found


def _matches(record: dict, where: dict) -> bool:
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


def measured(record: dict, metric: str, over: str = "final") -> list[float | None]:
    """A completed run's values of `metric` a test reads: its final one, its first, one per evaluation,
    or its area (`over`, or NAME@area)."""
    if metric.endswith(AREA):
        metric, over = metric.removesuffix(AREA), "area"
    if over in ("every_evaluation", "first"):
        return [_number(e.get(metric)) for e in record["history"]][:1 if over == "first" else None]
    return [area(record["history"], metric) if over == "area" else _number(record["final"].get(metric))]


def compare(condition: dict, runs: list[dict], min_runs: int, op: str, threshold: str) -> dict:
    """A comparison: the mean over the `where` runs of each run's value (final, first or area; the
    mean of its evaluations under every_evaluation) divided by the same mean over the `than` runs,
    tested. A diverged `where` run contradicts it (unless `diverged: true`); a diverged `than` run
    has no value and only leaves its side with fewer runs. Decided when every selected job of both
    sides has finished with at least min_runs values a side and both means are positive."""
    sides = [[r for r in runs if _matches(r, condition[key])] for key in ("where", "than")]

    def value_of(r: dict) -> float | None:
        values = [v for v in measured(r, condition["metric"], condition.get("over", "final")) if v is not None]
        return statistics.mean(values) if values else None

    values = [[v for r in side if r["status"] == COMPLETED and (v := value_of(r)) is not None] for side in sides]
    diverged = [sum(r["status"] == DIVERGED for r in side) for side in sides]
    means = [statistics.mean(v) if v else None for v in values]
    done = all(r["status"] in (COMPLETED, DIVERGED) for side in sides for r in side)
    ratio = means[0] / means[1] if None not in means and means[0] > 0 and means[1] > 0 else None
    if diverged[0] and not condition.get("diverged", False):
        result = FAILS
    elif not done or ratio is None or min(len(v) for v in values) < min_runs:
        result = TOO_FEW
    else:
        result = HOLDS if OPS[op](ratio, float(threshold)) else FAILS
    return {"condition": condition, "selected": sum(map(len, sides)), "finished": sum(map(len, values)),
            "passed": None, "means": means, "n": [len(v) for v in values], "diverged": diverged, "ratio": ratio,
            "verdict": result}


def check(condition: dict, runs: list[dict], min_runs: int, cell) -> dict:
    """One condition of a rule on the runs it selects: how many finished runs passed, and its verdict.
    It is decided when every selected job has finished and each table cell (`cell(run)`) among them
    has min_runs finished runs, or earlier when a finished run already contradicts it."""
    op, threshold = TEST.fullmatch(condition["test"].strip()).group(1, 2)
    if condition.get("than"):
        return compare(condition, runs, min_runs, op, threshold)
    selected = [r for r in runs if _matches(r, condition["where"])]
    passed = finished = 0
    per_cell = {cell(r): 0 for r in selected}
    for r in selected:
        if r["status"] == DIVERGED:
            ok = bool(condition.get("diverged", False))
        elif r["status"] == COMPLETED:
            values = measured(r, condition["metric"], condition.get("over", "final"))
            ok = bool(values) and all(v is not None and OPS[op](v, float(threshold)) for v in values)
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
    return {"condition": condition, "selected": len(selected), "finished": finished, "passed": passed,
            "verdict": result}


def verdict(claim: dict, runs: list[dict]) -> tuple[str, list[dict]]:
    """The claim's verdict: it holds when every condition does; too few runs when none fails but one
    is not decided yet (check)."""
    def cell(r: dict) -> tuple[str, str]:
        return value(r, claim["rows"]), value(r, claim.get("cols"))

    checks = [check(c, runs, claim.get("min_runs", 3), cell) for c in claim["rule"]]
    verdicts = {c["verdict"] for c in checks}
    return (FAILS if FAILS in verdicts else TOO_FEW if TOO_FEW in verdicts else HOLDS), checks


def _label(claim: dict, v: str) -> str:
    return claim.get("labels", {}).get(v, v)


def _cell(runs: list[dict], metric: str) -> str:
    values = [v for r in runs if r["status"] == COMPLETED for v in measured(r, metric) if v is not None]
    text = "–"
    if values:
        mean = statistics.mean(values)
        text = f"{mean:.4g}" + (f" ± {statistics.stdev(values):.2g}" if len(values) > 1 else "") + f" (n={len(values)})"
    bad = {s: sum(r["status"] == s for r in runs) for s in STATUSES if s != COMPLETED}
    return text + "".join(f", {k} {s}" for s, k in bad.items() if k)


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
            lines += [f"**{metric.removesuffix(AREA)}** ({kind}; rows {rows}, columns {cols})", "",
                      "| " + " | ".join([rows, "paper", *(f"{cols}={_label(claim, c)}" for c in col_values)]) + " |",
                      "|" + "---|" * (2 + len(col_values))]
            for rv in row_values:
                paper = reported.get(rv, {}).get(metric, "")
                cells = [_cell([r for r in runs if value(r, rows) == rv and value(r, cols) == cv], metric)
                         for cv in col_values]
                lines.append("| " + " | ".join([_label(claim, rv), str(paper), *cells]) + " |")
            lines.append("")
    else:
        shown = [m for m in metrics if any(m in reported.get(rv, {}) for rv in row_values)]
        lines.append("| " + " | ".join([rows, *(f"paper: {m}" for m in shown), *(f"ours: {m}" for m in metrics)]) + " |")
        lines.append("|" + "---|" * (1 + len(shown) + len(metrics)))
        for rv in row_values:
            selected = [r for r in runs if value(r, rows) == rv]
            lines.append("| " + " | ".join([_label(claim, rv), *(str(reported.get(rv, {}).get(m, "")) for m in shown),
                                            *(_cell(selected, m) for m in metrics)]) + " |")
        lines.append("")
    return "\n".join(lines)


def _condition_text(claim: dict, c: dict) -> str:
    cond = c["condition"]

    def runs_of(where: dict) -> str:
        return ", ".join(claim.get("labels", {}).get(str(v), f"{k}={v}") for k, v in where.items()) or "all runs"

    where = runs_of(cond["where"])
    over = "area" if cond["metric"].endswith(AREA) else cond.get("over", "final")
    if cond.get("than"):
        means = " / ".join(("–" if m is None else f"{m:.4g} (n={n})") + (f", {d} diverged" if d else "")
                           for m, n, d in zip(c["means"], c["n"], c["diverged"]))
        ratio = "–" if c["ratio"] is None else f"{c['ratio']:.3g}"
        return (f"{where} against {runs_of(cond['than'])}: mean {cond['metric']}{' (area)' if over == 'area' else ''} "
                f"{means}, ratio {ratio}, must be {cond['test']}: **{c['verdict']}**")
    when = {"every_evaluation": " at every evaluation", "first": " at the first evaluation",
            "area": " in area under its curve"}.get(over, " at the end")
    diverged = " (a diverged run counts as passing)" if cond.get("diverged") else ""
    need = {"all": "every run", "none": "no run", "most": "more than half of the runs"}[cond.get("runs", "all")]
    return (f"{where}: {cond['metric']} {cond['test']}{when} in {need}{diverged} — {c['passed']} of "
            f"{c['finished']} finished runs ({c['selected']} found) pass: **{c['verdict']}**")


def classifier_note(claim: dict, runs: list[dict]) -> str | None:
    """Which classifier the claim's classifier metrics (FID, IS, stacked modes) were computed with: a
    classifier FID is comparable only between numbers from the same classifier."""
    from .metrics import METRICS, NO_EMA

    names = {m.removesuffix(AREA).removesuffix(NO_EMA) for m in [*claim["metrics"], *(c["metric"] for c in claim["rule"])]}
    if not any(m.needs == "classifier" and names & m.values.keys() for m in METRICS.values()):
        return None
    used = set()
    for r in runs:
        c = r["config"].get("metrics", {}).get("classifier", {})
        used.add(f"the weights file {c['weights_path']}" if c.get("weights_path") else
                 f"the runner's own classifier (trained on the run's training split: {c.get('epochs')} epochs, batch "
                 f"{c.get('batch_size')}, lr {c.get('lr')}; its test accuracy is in each job's train.log)")
    return ("The classifier metrics were computed with " + "; and ".join(sorted(used))
            + ": their scale is that classifier's, so they compare with a paper's only as an order.")


def timing(out: Path, runs: list[dict]) -> dict:
    """The jobs' own training time summed (results.json: over all their attempts), the span from the
    first job's start to the last one's end (their latest attempts), the reproduce invocations logged
    in the sweep directory, and the machines."""
    logged = invocations(out)
    starts = [r["started"] for r in runs if r.get("started")]
    ends = [r["ended"] for r in runs if r.get("ended")]
    hosts = sorted({f"{r['host'].get('name', '?')} ({r['device'].get('name', r['device'].get('device', '?'))}, "
                    f"{r['host'].get('torch_threads', '?')} torch threads per job)" for r in runs if r.get("host")})
    return {"job_s": sum(r["wall_time_s"] or 0 for r in runs),
            "span_s": max(ends) - min(starts) if starts and ends else None,
            "invoked_s": sum(i["ended"] - i["started"] for i in logged) if logged else None, "machines": hosts}


def _minutes(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds / 60:.1f} min"


def figure(claim: dict, runs: list[dict], out: Path) -> Path | None:
    """figure.png: the paper's picture of it. `snapshots`: rows the row values (their lowest seeds),
    columns the sample pictures the runs saved at each step; `curves`: the first metric against
    gradient passes (extragradient takes two per iteration), one panel per column value, one line
    (mean, min-max band) per row value, log scale."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    rows, cols, metric = claim["rows"], claim.get("cols"), claim["metrics"][0].removesuffix(AREA)
    done = [r for r in runs if r["status"] in (COMPLETED, DIVERGED)]
    if not done:
        return None
    path = out / "figure.png"
    if claim.get("figure", "snapshots") == "snapshots":
        def seed(r: dict) -> int:
            v = value(r, "trainer.seed")
            return int(v) if v.isdigit() else 0

        chosen = []
        for rv in ordered(value(r, rows) for r in done):
            chosen += sorted((r for r in done if value(r, rows) == rv), key=seed)[:3]
        pictures = [sorted((Path(r["dir"]) / "samples").glob("step_*.png")) for r in chosen]
        n_cols = max(len(p) for p in pictures)
        if not n_cols:
            return None
        fig = Figure(figsize=(2.2 * n_cols, 2.3 * len(chosen)), dpi=100)
        FigureCanvasAgg(fig)
        for i, (r, pics) in enumerate(zip(chosen, pictures)):
            for j, pic in enumerate(pics):
                ax = fig.add_subplot(len(chosen), n_cols, i * n_cols + j + 1)
                ax.imshow(Image.open(pic))
                ax.set_xticks([]), ax.set_yticks([])
                if i == 0:
                    ax.set_title(f"step {int(pic.stem.split('_')[-1])}", fontsize=9)
                if j == 0:
                    ax.set_ylabel(f"{_label(claim, value(r, rows))}\nseed {seed(r)}", fontsize=8)
    else:
        col_values = ordered(value(r, cols) for r in done) if cols else [""]
        fig = Figure(figsize=(4 * len(col_values), 3.4), dpi=100)
        FigureCanvasAgg(fig)
        for j, cv in enumerate(col_values):
            ax = fig.add_subplot(1, len(col_values), j + 1)
            for rv in ordered(value(r, rows) for r in done):
                curves = [r["history"] for r in done if value(r, rows) == rv and (not cols or value(r, cols) == cv)]
                per_step = 2 if any(value(r, "optimizer.extragradient") == "True" for r in done
                                    if value(r, rows) == rv) else 1
                steps = sorted({e["step"] for h in curves for e in h})
                if not steps:
                    continue
                values = np.array([[next((e.get(metric, math.nan) for e in h if e["step"] == s), math.nan)
                                    for s in steps] for h in curves], dtype=float)
                x = np.array(steps) * per_step
                ax.plot(x, np.nanmean(values, 0), label=_label(claim, rv))
                ax.fill_between(x, np.nanmin(values, 0), np.nanmax(values, 0), alpha=0.2)
            ax.set(yscale="log", xlabel="passes (iterations; extragradient: 2 each)", ylabel=metric,
                   title=_label(claim, cv) if cols else metric)
            ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    return path


def report(out: Path, claim: dict | None = None, command: str = "", finished: bool = False) -> tuple[str, str]:
    """(the console text, the verdict); writes REPORT.md and figure.png into the sweep directory `out`.
    The claim defaults to the one the jobs recorded; `finished`: the sweep has ended (a job without
    results.json then failed)."""
    runs = records(out, finished)
    if not runs:
        raise ConfigError(f"{out} holds no job of a sweep (no .hydra/overrides.yaml below it): nothing to report.")
    claim = claim or next((r["config"]["claim"] for r in runs if isinstance(r["config"].get("claim"), dict)), None)
    if claim is None:
        raise ConfigError(f"The jobs in {out} record no claim: they were not run from an experiment preset "
                          "(use gan-runner-table for a plain sweep).")
    result, checks = verdict(claim, runs)
    t = timing(out, runs)
    counts = ", ".join(f"{sum(r['status'] == s for r in runs)} {s}" for s in STATUSES if any(r["status"] == s for r in runs))
    fig = figure(claim, runs, out)
    text = "\n".join([
        f"# {claim['paper']}", "", f"**Claim.** {claim['statement']}", "",
        *([f"**Command.** `{command}`", ""] if command else []),
        f"**Runs.** {len(runs)} jobs in {out}: {counts}; on {'; '.join(t['machines']) or 'an unrecorded machine'}. "
        f"Time: the jobs' own training time summed {_minutes(t['job_s'])}; first job start to last job end "
        f"(their latest attempts: a continued job's are the continuation's) "
        f"{_minutes(t['span_s'])}"
        + (f"; the reproduce commands that ran it {_minutes(t['invoked_s'])}." if t["invoked_s"] is not None else "."), "",
        f"**Paper vs ours.** The paper's numbers: {claim['source']}.", "",
        *([f"**Classifier.** {note}", ""] if (note := classifier_note(claim, runs)) else []), table(claim, runs),
        f"**Rule.** The claim {claim['rule_text']}.", "",
        *(f"- {_condition_text(claim, c)}" for c in checks), "",
        f"**Verdict: {SAID[result]}.**", "",
        *([f"![{claim['figure']}](figure.png)", ""] if fig else []),
    ])
    write_text(out / "REPORT.md", text)
    return text, result


# --- the command -----------------------------------------------------------------------------

def listing(config_dir: str | None = None) -> str:
    lines = []
    for name in presets(config_dir):
        try:
            claim = claim_of(name, config_dir)
        except ConfigError as e:
            lines.append(f"{name}: {e}")
            continue
        lines.append(f"{name}: {claim['statement']}\n  {claim['paper']}")
        for scale in SCALES:
            s = claim["scales"].get(scale)
            if s is not None:
                extra = " ".join(s["overrides"]) or "the paper's setup as it is"
                here = invocations(sweep_dir(name, scale, []))
                local = (f"; the reproduce commands logged in outputs/reproduce/{name}/{scale}: "
                         f"{_minutes(sum(i['ended'] - i['started'] for i in here))}" if here else "")
                lines.append(f"  --scale {scale}: {extra}; measured: {s.get('measured') or 'not yet'}{local}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(
        prog="gan-runner-reproduce",
        description="Reproduce a published claim: run its experiment preset's sweep (any launcher: overrides such "
                    "as hydra/launcher=gpu_pool pass through), then print the paper's table beside ours with the "
                    "verdict and write REPORT.md and figure.png into the sweep directory. The same command "
                    "again continues an interrupted reproduction.")
    p.add_argument("name", nargs="?", help="the claim: an experiment preset (see --list)")
    p.add_argument("overrides", nargs="*", help="gan-runner overrides, e.g. hydra/launcher=gpu_pool")
    p.add_argument("--scale", choices=SCALES, default="quick",
                   help="quick: sized for a 2-core machine (--list says how long each took); paper: the paper's "
                        "budget (default quick)")
    p.add_argument("--report", type=Path, metavar="DIR", help="re-tabulate a (partly) finished sweep; no training")
    p.add_argument("--list", action="store_true", help="every claim, its scales and their measured time")
    p.add_argument("--config-dir", help="a directory of your own configs and presets (as gan-runner's)")
    a = p.parse_intermixed_args(argv)
    config_dir = str(Path(a.config_dir).expanduser().absolute()) if a.config_dir else None
    try:
        if a.list:
            print(listing(config_dir))
            return 0
        if a.report is not None:
            if not a.report.is_dir():
                p.error(f"--report: not a directory: {a.report}")
            print(report(a.report, claim_of(a.name, config_dir) if a.name else None)[0])
            return 0
        if not a.name:
            p.error("name a claim (gan-runner-reproduce --list shows them)")
        claim = claim_of(a.name, config_dir)
        if a.scale not in claim["scales"]:
            p.error(f"{a.name} has no {a.scale} scale; it has: {', '.join(claim['scales'])}")
        out = sweep_dir(a.name, a.scale, a.overrides)
        command = " ".join(["gan-runner-reproduce", a.name, "--scale", a.scale, *a.overrides])
        started = time.time()
        status = run(a.name, claim, a.scale, a.overrides, out, config_dir, command)
        if not any(out.rglob(".hydra/overrides.yaml")):
            return status or 1  # the sweep refused its config: its message said why
        text, _ = report(out, claim, command, finished=True)
        print(text)
        print(f"(this command: {_minutes(time.time() - started)}; REPORT.md and figure.png in {out})")
        return status
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 1
