"""`gan-runner-table`: tables and curves from run directories (sweeps). A cell holds the runs that
share its row and column values, every other key (seeds, ...) pooled: the mean ± sample std of a
final (or best) metric over its completed runs, with its diverged / interrupted / failed runs counted."""

import csv
import io
import statistics
from collections import defaultdict
from pathlib import Path

from .run_dir import COMPLETED, STATUSES

NOT_AVERAGED = [s for s in STATUSES if s != COMPLETED]
# Runs that differ in these are different experiments, not repeats: pooling them is worth a warning.
POOL_CHECKED = ("dataset", "trainer.steps")


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
    """{(row value, column value): {"values": [...], "runs": [the averaged records], <status>: count, ...}}."""
    out: dict = defaultdict(lambda: {"values": [], "runs": [], **{s: 0 for s in STATUSES}})
    for r in records:
        cell = out[(value(r, rows), value(r, cols))]
        cell[r["status"]] += 1
        if r["status"] == COMPLETED and metric in _results(r, best):
            cell["values"].append(_results(r, best)[metric])
            cell["runs"].append(r)
    return out


def pooled(
    records: list[dict], rows: str | None, cols: str | None, metric: str, best: bool = False
) -> list[str]:
    """A warning for each cell whose mean mixes runs of different POOL_CHECKED values (not on an axis)."""
    out = []
    for (rv, cv), cell in cells(records, rows, cols, metric, best).items():
        name = ", ".join(f"{k}={v}" for k, v in ((rows, rv), (cols, cv)) if k) or "all runs"
        for key in POOL_CHECKED:
            seen = ordered(value(r, key) for r in cell["runs"])
            if key not in (rows, cols) and len(seen) > 1:
                out.append(
                    f"warning: cell ({name}) pools runs of different {key}: {', '.join(seen)}"
                )
    return out


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
) -> str:
    """Markdown or LaTeX: a grid of cells; CSV: one line per cell, with mean, std, n and the counts.
    `best`: each run's best evaluation instead of its final one."""
    grid = cells(records, rows, cols, metric, best)
    row_values, col_values = ordered(r for r, _ in grid), ordered(c for _, c in grid)
    if fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out)
        name = f"best_{metric}" if best else metric  # CSV has no footer to say which
        w.writerow([rows or "", cols or "", f"{name}_mean", f"{name}_std", "n", *NOT_AVERAGED])
        for rv, cv in sorted(grid, key=lambda c: (row_values.index(c[0]), col_values.index(c[1]))):
            cell = grid[(rv, cv)]
            mean, std = _stats(cell["values"]) if cell["values"] else (None, None)
            w.writerow([rv, cv, mean, std, len(cell["values"]), *(cell[s] for s in NOT_AVERAGED)])
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


def curves(records: list[dict], rows: str | None, cols: str | None, metric: str, out: Path) -> Path:
    """PNG of `series`: one panel per row value, one line per column value, each with a ±std band."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = series(records, rows, cols, metric)
    if not data:
        raise ValueError(f"no completed run logged metrics/{metric} to TensorBoard")
    row_values = ordered(rv for rv, _ in data)
    fig = Figure(figsize=(6, 3.5 * len(row_values)), dpi=100)
    FigureCanvasAgg(fig)
    for i, rv in enumerate(row_values):
        ax = fig.add_subplot(len(row_values), 1, i + 1)
        for cv in ordered(cv for rv2, cv in data if rv2 == rv):
            steps, mean, std = data[(rv, cv)]
            # markers: a curve of one evaluation is a single point, invisible as a bare line
            ax.plot(steps, mean, marker="o", label=f"{cols}={cv}" if cols else metric)
            ax.fill_between(steps, mean - std, mean + std, alpha=0.25)
        ax.set(xlabel="step", ylabel=metric, title=f"{rows}={rv}" if rows else metric)
        ax.legend(fontsize="small")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
