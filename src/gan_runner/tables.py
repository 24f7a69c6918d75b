"""`gan-runner-table`: tables and curves from run directories (sweeps). A cell holds the runs that
share its row and column values and differ in nothing else that describes the experiment but their
seed (and the keys the user lets pool): the mean ± sample std of a final (or best) metric over its
completed runs, with its diverged / interrupted / failed runs counted. A cell whose runs differ in
another setting is refused (MixedSettings), naming the keys and their values."""

import csv
import io
import statistics
import textwrap
from collections import defaultdict
from pathlib import Path

from .errors import UserError
from .run_dir import COMPLETED, STATUSES, protocol_at

NOT_AVERAGED = [s for s in STATUSES if s != COMPLETED]

# Keys (and everything under them: `claim.rule`, a group `hydra/launcher`) that never make two runs
# different experiments, whatever is tabulated: a cell pools runs that differ in them.
NOT_SETTINGS = {
    "trainer.seed": "the repeats a cell averages over",
    "resume": "a continued run is the same run",
    "trainer.device": "where it ran",
    "trainer.compile": "how fast it ran",
    "trainer.threads": "how many CPU threads it used",
    "metrics.cache_dir": "where classifiers and reference statistics are cached",
    "metrics.objective": "what a sweeper is told, not what is measured",
    "dataset.download": "whether the data could be fetched",
    "trainer.sample_every": "how often pictures are saved",
    "trainer.ckpt_every": "how often checkpoints are saved",
    "claim": "how a reproduction judges its runs",
    "hydra": "Hydra's own settings: launcher, sweeper, directories",
}
# Keys that change only some numbers: reporting cadence and what an evaluation computes. They count
# as settings where they change the number tabulated, and are pooled elsewhere.
CADENCE = {
    # the training statistics (train_*) are means over the iterations since the last log line or
    # evaluation
    "trainer.log_every": lambda metric, best: metric.startswith("train_"),
    # best: the best of the evaluations, ranked by the metrics computed; a final value is computed
    # at the end of the run whatever the cadence
    "trainer.eval_every": lambda metric, best: best or metric.startswith("train_"),
    "metrics.names": lambda metric, best: best,
}
# Keys the summary (summary.csv/.md) leaves out of its columns: where and how a run ran, not what it
# was (the seed, which names a repeat, and the cadence stay).
NOT_SUMMARISED = [
    k
    for k in NOT_SETTINGS
    if k not in ("trainer.seed", "trainer.sample_every", "trainer.ckpt_every")
]


class MixedSettings(UserError):
    """A cell would average runs of different settings (not only seeds): which keys, which values."""


def under(key: str, prefixes) -> bool:
    """Whether `key` is one of `prefixes` or lies under one (`a.b` or the group `a/b` under `a`)."""
    return any(key == p or key.startswith((p + ".", p + "/")) for p in prefixes)


def value(record: dict, key: str | None) -> str:
    """The run's value of `key`: the config group it used, else the value in its composed config, else
    its override (a run that never composed one), so a run that took the default shares a cell with
    one that asked for it, and `1e-4` with `0.0001`."""
    if key is None:
        return ""
    if key in record["choices"]:
        return str(record["choices"][key])
    node = record["config"]
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is not None:
        return str(node)
    return record["overrides"].get(key, "(default)")


def keys(records: list[dict]) -> list[str]:
    """What --rows/--cols can name (what `value` reads): a config group, a path in a composed
    config or an override key of some run."""

    def paths(node: dict, prefix: str = ""):
        for k, v in node.items():
            yield prefix + str(k)
            if isinstance(v, dict):
                yield from paths(v, f"{prefix}{k}.")

    return sorted(
        {k for r in records for k in (*r["choices"], *paths(r["config"]), *r["overrides"])}
    )


def _results(record: dict, best: bool) -> dict:
    """The run's final metrics, or those of its best evaluation ({} when it had none)."""
    return record["best"].get("metrics", {}) if best else record["final"]


def protocols(record: dict, metric: str, best: bool | None) -> list:
    """How the run measured `metric` (results.json's protocols): at its final evaluation, its best
    (`best`), or at every evaluation (None: a curve); [None] for a run recorded before protocols."""
    if not record.get("protocols"):
        return [None]
    if best is None:
        return [seg["values"].get(metric) for seg in record["protocols"]]
    return [
        protocol_at(record["protocols"], record["best"].get("step") if best else None).get(metric)
    ]


def protocol_differences(found: list) -> dict[str, list[str]]:
    """{field: its values} in which protocols differ (a run recorded without any differs in all)."""
    if None in found and any(p is not None for p in found):  # some ran before protocols were kept
        return {"protocol": ["recorded", "not recorded (an older run)"]}
    found = [p for p in found if p is not None]
    fields = dict.fromkeys(k for p in found for k in p)
    return {
        k: ordered(str(p.get(k, "(none)")) for p in found)
        for k in fields
        if len({str(p.get(k, "(none)")) for p in found}) > 1
    }


def metrics(records: list[dict], best: bool = False) -> list[str]:
    """What --metric can name: the metrics some run has."""
    return sorted({m for r in records for m in _results(r, best)})


def ordered(values) -> list[str]:
    """Numbers by value (9 before 10), then the rest alphabetically."""

    def order(v: str):
        try:
            return 0, float(v), ""
        except ValueError:
            return 1, 0.0, v

    return sorted(set(values), key=order)


def cells(
    records: list[dict], rows: str | None, cols: str | None, metric: str, best: bool = False
) -> dict:
    """{(row value, column value): {"values": [...], "runs": [the averaged records], "members": [the
    records the cell shows: averaged or counted], <status>: count, ...}}."""
    out: dict = defaultdict(
        lambda: {"values": [], "runs": [], "members": [], **{s: 0 for s in STATUSES}}
    )
    for r in records:
        cell = out[(value(r, rows), value(r, cols))]
        cell[r["status"]] += 1
        if r["status"] == COMPLETED and metric in _results(r, best):
            cell["values"].append(_results(r, best)[metric])
            cell["runs"].append(r)
        if r["status"] != COMPLETED or metric in _results(r, best):
            cell["members"].append(r)  # a completed run without the metric is not in the cell
    return out


def _leaves(node: dict, prefix: str = ""):
    for k, v in node.items():
        if isinstance(v, dict) and v:
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield prefix + str(k), v


def settings(record: dict) -> dict[str, str]:
    """The run's settings as text: its config groups and every leaf of its composed config (null for
    None); a run that never composed one: its overrides and groups."""
    out = {k: "null" if v is None else str(v) for k, v in _leaves(record["config"])}
    if not record["config"]:
        out.update(record["overrides"])
    out.update({k: str(v) for k, v in record["choices"].items()})
    return out


def differences(runs: list[dict], pooled=(), axes=()) -> dict[str, list[str]]:
    """{key: its values} for each setting the runs do not share, but those that never make different
    experiments (NOT_SETTINGS), those `pooled` (each with everything under it) and the `axes` (the
    table's rows and columns, which a cell shares by construction). A key a composed run
    lacks is "(unset)"; one a run that never composed did not override is "(default)", or unknown
    beside composed runs. A key equal to each run's trainer.seed is the seed (dataset.seed of the
    bilinear game is `${trainer.seed}`); keys under a config group that differs are left to the
    group's name."""
    composed = any(r["config"] for r in runs)
    each = [settings(r) for r in runs]
    out = {}
    for key in sorted(set().union(*each)):
        if key in axes or under(key, [*NOT_SETTINGS, *pooled]):
            continue
        seen = set()
        for r, s in zip(runs, each):
            if key in s:
                seen.add(s[key])
            elif r["config"]:
                seen.add("(unset)")
            elif not composed:
                seen.add("(default)")
        follows_seed = all(key in s and s[key] == s.get("trainer.seed") for s in each)
        if len(seen) > 1 and not follows_seed:
            out[key] = ordered(seen)
    groups = [k.replace("/", ".") for k in out if any(k in r["choices"] for r in runs)]
    return {k: v for k, v in out.items() if not any(k.startswith(g + ".") for g in groups)}


def mixed(
    records: list[dict],
    rows: str | None,
    cols: str | None,
    metric: str,
    best: bool = False,
    pool=(),
) -> str | None:
    """None when every cell's runs differ in their seed alone (or in what never makes different
    experiments: NOT_SETTINGS, the CADENCE keys where they do not change the number, the keys in
    `pool`); else one paragraph naming the cells, the keys and their values, and how to proceed."""
    pooled = [*pool, *(k for k, counts in CADENCE.items() if not counts(metric, best))]
    grid = cells(records, rows, cols, metric, best)
    row_values, col_values = ordered(r for r, _ in grid), ordered(c for _, c in grid)
    found = []
    for rv, cv in sorted(grid, key=lambda c: (row_values.index(c[0]), col_values.index(c[1]))):
        if diff := differences(grid[(rv, cv)]["members"], pooled, (rows, cols)):
            axes = ", ".join(f"{k}={v}" for k, v in ((rows, rv), (cols, cv)) if k)
            found.append((f"the runs of cell {axes}" if axes else "the runs", diff))
    if not found:
        return _protocols_mixed(grid, metric, best, (rows, cols))
    names = list(dict.fromkeys(k for _, diff in found for k in diff))

    def listed(diff: dict) -> str:
        shown = [f"{k} ({_values(v)})" for k, v in list(diff.items())[:6]]
        return ", ".join(shown) + (f" and {len(diff) - 6} more keys" if len(diff) > 6 else "")

    said = [f"{where} differ in {listed(diff)}" for where, diff in found[:3]]
    if len(found) > 3:
        said.append(f"so do those of {len(found) - 3} more cell{'s' * (len(found) > 4)}")
    free = [flag for flag, k in (("--rows", rows), ("--cols", cols)) if not k]
    axis = " or ".join(f"{flag} {names[0]}" for flag in free)
    return (
        f"a cell averages runs that differ only in their seed, but {'; '.join(said)}. Put such a "
        f"key on an axis{f' ({axis})' if axis else ''}, table the runs of one setting, or average "
        f"over it anyway with --pool {','.join(names)}."
    )


def _protocols_mixed(grid: dict, metric: str, best: bool | None, axes) -> str | None:
    """None when every cell's values of `metric` share one protocol; else `protocols_mixed`'s
    paragraph for the first cell that does not. No flag pools them."""
    for (rv, cv), cell in grid.items():
        at = ", ".join(f"{k}={v}" for k, v in zip(axes, (rv, cv)) if k)
        if text := protocols_mixed(cell["runs"], metric, best, f" of cell {at}" if at else ""):
            return text
    return None


def protocols_mixed(
    runs: list[dict], metric: str, best: bool | None, where: str = ""
) -> str | None:
    """None when the runs measured `metric` by one protocol (results.json's `protocols`; `best`:
    `protocols`'), else one paragraph naming the fields that differ."""
    if not (diff := protocol_differences([p for r in runs for p in protocols(r, metric, best)])):
        return None
    shown = "; ".join(f"{k}: {_values(v)}" for k, v in list(diff.items())[:4])
    shared = (
        " (a classifier each machine trained for itself differs: share one file with "
        "metrics.classifier.weights_path)"
        if "weights_sha256" in diff
        else ""
    )
    return (
        f"the runs{where} measured {metric} by different protocols ({shown}). Values of "
        "different protocols are not comparable (docs/metrics.md), and no flag averages them: "
        f"evaluate the runs again under one (gan-runner-eval RUN_DIR with the same metrics.* "
        f"settings{shared}), or table them apart."
    )


def _values(values: list[str]) -> str:
    shown = [v if len(v) <= 40 else v[:39] + "…" for v in values[:5]]
    return ", ".join(shown) + (f", … ({len(values)} values)" if len(values) > 5 else "")


def check(
    records: list[dict],
    rows: str | None,
    cols: str | None,
    metric: str,
    best: bool = False,
    pool=(),
) -> None:
    """Raises MixedSettings (its message: `mixed`'s) when a cell would average different settings."""
    if text := mixed(records, rows, cols, metric, best, pool):
        raise MixedSettings(text)


def _stats(values: list[float]) -> tuple[float, float | None]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else None


def _cell_text(cell: dict, pm: str) -> str:
    text = "–"
    if cell["values"]:
        mean, std = _stats(cell["values"])
        text = (
            f"{mean:.4g}"
            + (f"{pm}{std:.2g}" if std is not None else "")
            + f" (n={len(cell['values'])})"
        )
    bad = [f"{cell[s]} {s}" for s in NOT_AVERAGED if cell[s]]
    return text + (f" [{', '.join(bad)}]" if bad else "")


def table(
    records: list[dict],
    rows: str | None,
    cols: str | None,
    metric: str,
    fmt: str = "md",
    best: bool = False,
    pool=(),
) -> str:
    """Markdown or LaTeX: a grid of cells; CSV: one line per cell, a column per axis (none without
    --rows/--cols), then mean, std, n and the counts. `best`: each run's best evaluation instead of
    its final one. Raises MixedSettings when a cell's runs differ in more than their seed and `pool`."""
    check(records, rows, cols, metric, best, pool)
    grid = cells(records, rows, cols, metric, best)
    row_values, col_values = ordered(r for r, _ in grid), ordered(c for _, c in grid)
    if fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out)
        name = f"best_{metric}" if best else metric  # CSV has no footer to say which
        axes = [k for k in (rows, cols) if k]
        w.writerow([*axes, f"{name}_mean", f"{name}_std", "n", *NOT_AVERAGED])
        for rv, cv in sorted(grid, key=lambda c: (row_values.index(c[0]), col_values.index(c[1]))):
            cell = grid[(rv, cv)]
            mean, std = _stats(cell["values"]) if cell["values"] else (None, None)
            at = [v for k, v in ((rows, rv), (cols, cv)) if k]
            w.writerow([*at, mean, std, len(cell["values"]), *(cell[s] for s in NOT_AVERAGED)])
        return out.getvalue()
    header = [
        f"{rows} \\ {cols}" if rows and cols else rows or cols or "",
        *(c or metric for c in col_values),
    ]
    pm = r" $\pm$ " if fmt == "latex" else " ± "
    body = [
        [
            rv or "all",
            *(_cell_text(grid[(rv, cv)], pm) if (rv, cv) in grid else "" for cv in col_values),
        ]
        for rv in row_values
    ]
    if fmt == "latex":
        lines = [
            r"\begin{tabular}{l" + "c" * len(col_values) + "}",
            r"\toprule",
            " & ".join(_latex(h) for h in header) + r" \\",
            r"\midrule",
        ]
        lines += [
            " & ".join(_latex(v) if i == 0 else v for i, v in enumerate(row)) + r" \\"
            for row in body
        ]
        return "\n".join([*lines, r"\bottomrule", r"\end{tabular}"]) + "\n"
    lines = [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}"]
    lines += [f"| {' | '.join(row)} |" for row in body]
    which = "best" if best else "final"
    return (
        "\n".join(lines)
        + f"\n\n{which} {metric}: mean ± sample std over the completed runs of each cell (n).\n"
    )


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _latex(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in text)


def series(records: list[dict], rows: str | None, cols: str | None, metric: str) -> dict:
    """{(row value, column value): (steps, mean, std)} of `metrics/<metric>` from the TensorBoard events
    of each cell's completed runs (as the table); at each step, over the runs that logged it."""
    import numpy as np
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logged: dict = defaultdict(list)
    for r in records:
        if r["status"] != COMPLETED:
            continue
        ea = EventAccumulator(r["dir"], size_guidance={"scalars": 0}).Reload()
        if f"metrics/{metric}" in ea.Tags()["scalars"]:
            logged[(value(r, rows), value(r, cols))].append(
                {e.step: e.value for e in ea.Scalars(f"metrics/{metric}")}
            )
    out = {}
    for cell, curves_ in logged.items():
        steps = sorted(set().union(*curves_))
        at = [[c[s] for c in curves_ if s in c] for s in steps]
        out[cell] = (
            steps,
            np.array([np.mean(v) for v in at]),
            np.array([np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in at]),
        )
    return out


def wrap(text: str, width: int = 28) -> str:
    """A label on lines of `width` characters, for a figure."""
    return "\n".join(textwrap.wrap(text, width)) or text


def _layout(data: dict, rows: str | None, cols: str | None) -> tuple[str | None, str | None, dict]:
    """(the panels' key, the lines' key, {panel value: {line value: (row, column) of `data`}}): one
    panel, a line per value of the one axis given; with both, a panel per column value, a line per
    row value."""
    panel_key, line_key = (cols, rows) if rows and cols else (None, rows or cols)
    out: dict = defaultdict(dict)
    for rv, cv in data:
        panel, line = (cv, rv) if rows and cols else ("", rv if rows else cv)
        out[panel][line] = (rv, cv)
    return panel_key, line_key, out


def sparse(data: dict, rows: str | None, cols: str | None, metric: str) -> list[str]:
    """A warning when a curve of `series` has under three evaluations (a dot or a segment, no curve)."""
    few = []
    for rv, cv in sorted(data):
        if (n := len(data[(rv, cv)][0])) < 3:
            name = ", ".join(f"{k}={v}" for k, v in ((rows, rv), (cols, cv)) if k) or "all runs"
            few.append(f"{name}: {n}")
    if not few:
        return []
    return [
        f"warning: the {metric} curve has under three evaluations ({'; '.join(few)}): set "
        "trainer.eval_every lower for a curve (a tenth of trainer.steps gives ten points)"
    ]


def plot(data: dict, rows: str | None, cols: str | None, metric: str):
    """The matplotlib Figure of `series`: one panel, a line per value of the axis given (mean, ±std
    band, a marker at each evaluation); with both axes a panel per column value, a line per row value,
    the panels sharing their y-axis; the legend beside the panels, its labels wrapped."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panel_key, line_key, panels = _layout(data, rows, cols)
    panel_values = ordered(panels)
    n_cols = min(len(panel_values), 4)
    n_rows = -(-len(panel_values) // n_cols)
    fig = Figure(figsize=(4.2 * n_cols, 3.4 * n_rows), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_rows, n_cols, sharey=True, squeeze=False).ravel()
    line_values = ordered(lv for lines in panels.values() for lv in lines)
    drawn = {}  # a line per value, the same colour in every panel
    for ax, pv in zip(axes, panel_values):
        for lv in ordered(panels[pv]):
            steps, mean, std = data[panels[pv][lv]]
            color = f"C{line_values.index(lv) % 10}"
            # markers: a curve of one evaluation is a single point, invisible as a bare line
            (drawn[lv],) = ax.plot(steps, mean, marker="o", markersize=3, color=color)
            ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.25)
        ax.set_title(wrap(f"{panel_key}={pv}" if panel_key else metric, 40), fontsize=10)
        ax.set_xlabel("step")
    for ax in axes[::n_cols]:
        ax.set_ylabel(metric)
    for ax in axes[len(panel_values) :]:
        ax.set_visible(False)
    if line_key:  # beside the panels (savefig's bbox_inches="tight" keeps it), labels wrapped
        fig.legend(
            [drawn[lv] for lv in line_values],
            [wrap(lv) for lv in line_values],
            title=wrap(line_key),
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
            fontsize="small",
        )
    fig.tight_layout()
    return fig


def curves(
    records: list[dict],
    rows: str | None,
    cols: str | None,
    metric: str,
    out: Path,
    pool=(),
) -> tuple[Path, list[str]]:
    """PNG of `series` (`plot`), and the warnings (`sparse`). Raises MixedSettings as `table` does,
    ValueError when no completed run logged the metric."""
    check(records, rows, cols, metric, None, pool)  # every evaluation's protocol
    data = series(records, rows, cols, metric)
    if not data:
        raise ValueError(f"no completed run logged metrics/{metric} to TensorBoard")
    fig = plot(data, rows, cols, metric)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")  # the legend beside the panels, labels whole
    return out, sparse(data, rows, cols, metric)
