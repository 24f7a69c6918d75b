"""From run directories to tables: the summary of a sweep (summary.csv and summary.md in the sweep
directory, one row per job) and `gan-runner-table`'s mean ± std tables and curves.

A run directory is any directory holding `.hydra/overrides.yaml`; its results come from
`results.json` (a run without one is counted as failed).
"""

import csv
import io
import json
import statistics
from collections import defaultdict
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from .checkpoint import atomic_write

STATUSES = ("completed", "diverged", "interrupted", "failed", "running")


def runs(directories: list[Path], finished: bool = True) -> list[dict]:
    """One record per run directory under `directories`: its overrides (key → value), status, step,
    wall time and final metrics, and the directory. A run without results.json is "failed" once its
    sweep has `finished`, "running" before."""
    found = []
    for top in directories:
        for marker in sorted(Path(top).rglob(".hydra/overrides.yaml")):
            run_dir = marker.parent.parent
            overrides = {}
            for o in OmegaConf.load(marker):
                key, _, value = str(o).partition("=")
                overrides[key.lstrip("+~")] = value
            results_file = run_dir / "results.json"
            results = json.loads(results_file.read_text()) if results_file.exists() else {
                "status": "failed" if finished else "running", "note": _last_line(run_dir / "launcher.log")}
            found.append({"dir": str(run_dir), "overrides": overrides, "status": results["status"],
                          "step": results.get("step"), "wall_time_s": results.get("wall_time_s"),
                          "final": results.get("final", {}), "note": results["note"]})
    return found


def _last_line(log: Path) -> str:
    """What a run that wrote no results said last (gpu_pool keeps each job's output), for the summary."""
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    return lines[-1] if lines else "no results.json"


def summary(records: list[dict]) -> tuple[str, str]:
    """(CSV, Markdown) with one row per run: job, overrides, status, step, wall time, final metrics and
    note. The Markdown keeps the overrides that vary as columns and lists the shared ones once."""
    keys = sorted({k for r in records for k in r["overrides"]})
    metrics = sorted({m for r in records for m in r["final"]})

    def rows(keys_):
        return [[Path(r["dir"]).name, *(r["overrides"].get(k, "") for k in keys_), r["status"], r["step"],
                 r["wall_time_s"], *(_short(r["final"].get(m)) for m in metrics), r["note"]] for r in records]

    columns = ["status", "step", "wall_time_s", *metrics, "note"]
    out = io.StringIO()
    csv.writer(out).writerows([["run", *keys, *columns], *rows(keys)])
    shared = [k for k in keys if len({r["overrides"].get(k) for r in records}) == 1]
    varying = [k for k in keys if k not in shared]
    header = ["run", *varying, *columns]
    md = [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}"]
    md += [f"| {' | '.join('' if v is None else str(v).replace('|', '/') for v in row)} |" for row in rows(varying)]
    counts = {s: sum(r["status"] == s for r in records) for s in STATUSES}
    md.append(f"\n{len(records)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    if shared:
        md.append("All runs: " + " ".join(f"`{k}={records[0]['overrides'][k]}`" for k in shared))
    return out.getvalue(), "\n".join(md) + "\n"


def write_summary(sweep_dir: Path, finished: bool = True) -> list[dict]:
    records = runs([sweep_dir], finished)
    text_csv, text_md = summary(records)
    atomic_write(sweep_dir / "summary.csv", lambda f: f.write(text_csv.encode()))
    atomic_write(sweep_dir / "summary.md", lambda f: f.write(text_md.encode()))
    return records


def _short(value):
    return round(value, 6) if isinstance(value, float) else value


class SweepSummary(Callback):
    """Keeps summary.csv / summary.md in a sweep's directory up to date as its jobs end (whichever
    launcher ran them), and at the end of the sweep exits non-zero if any job failed."""

    def on_job_end(self, config: DictConfig, **kwargs) -> None:
        if config.hydra.mode == RunMode.MULTIRUN:
            write_summary(Path(HydraConfig.get().sweep.dir), finished=False)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        records = write_summary(Path(config.hydra.sweep.dir))
        counts = {s: sum(r["status"] == s for r in records) for s in STATUSES}
        print(f"sweep {config.hydra.sweep.dir}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
              + f"; summary.md there")
        if counts["failed"]:
            raise SystemExit(1)  # a callback's exceptions are warnings to Hydra; SystemExit is not


# --- gan-runner-table ------------------------------------------------------------------------

def _label(record: dict, key: str | None) -> str:
    return "" if key is None else record["overrides"].get(key, "(default)")


def cells(records: list[dict], rows: str | None, cols: str | None, metric: str) -> dict:
    """{(row value, column value): {"values": [...], "diverged": n, "failed": n, ...}}; every other
    key (seeds, ...) is pooled into the cell."""
    out: dict = defaultdict(lambda: {"values": [], **{s: 0 for s in STATUSES}})
    for r in records:
        cell = out[(_label(r, rows), _label(r, cols))]
        cell[r["status"]] += 1
        if r["status"] == "completed" and metric in r["final"]:
            cell["values"].append(r["final"][metric])
    return out


def _cell_text(cell: dict, fmt: str) -> str:
    values = cell["values"]
    if values:
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        pm = r" $\pm$ " if fmt == "latex" else " ± "
        text = f"{statistics.mean(values):.4g}{pm}{std:.2g} (n={len(values)})"
    else:
        text = "–"
    bad = [f"{cell[s]} {s}" for s in ("diverged", "interrupted", "failed") if cell[s]]
    return text + (f" [{', '.join(bad)}]" if bad else "")


def table(records: list[dict], rows: str | None, cols: str | None, metric: str, fmt: str = "md") -> str:
    grid = cells(records, rows, cols, metric)
    row_values = sorted({r for r, _ in grid})
    col_values = sorted({c for _, c in grid})
    header = [f"{rows} \\ {cols}" if rows and cols else rows or cols or "", *(c or metric for c in col_values)]
    body = [[rv or "all", *(_cell_text(grid[(rv, cv)], fmt) if (rv, cv) in grid else "" for cv in col_values)]
            for rv in row_values]
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out).writerows([header, *body])
        return out.getvalue()
    if fmt == "latex":
        lines = [r"\begin{tabular}{l" + "c" * len(col_values) + "}", r"\toprule",
                 " & ".join(_latex(h) for h in header) + r" \\", r"\midrule"]
        lines += [" & ".join(_latex(v) if i == 0 else v for i, v in enumerate(row)) + r" \\" for row in body]
        return "\n".join([*lines, r"\bottomrule", r"\end{tabular}"]) + "\n"
    lines = [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}"]
    lines += [f"| {' | '.join(row)} |" for row in body]
    return "\n".join(lines) + f"\n\n{metric}: mean ± std over runs (completed ones); n = runs.\n"


def _latex(text: str) -> str:
    return text.replace("_", r"\_").replace("\\ ", r"$\backslash$ ")


def series(records: list[dict], rows: str | None, cols: str | None, metric: str) -> dict:
    """{(row value, column value): (steps, mean, std)} of `metrics/<metric>` from each run's
    TensorBoard events, over the cell's runs, at the steps all of them logged."""
    import numpy as np
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logged: dict = defaultdict(list)
    for r in records:
        ea = EventAccumulator(r["dir"], size_guidance={"scalars": 0}).Reload()
        if f"metrics/{metric}" in ea.Tags()["scalars"]:
            logged[(_label(r, rows), _label(r, cols))].append({e.step: e.value for e in ea.Scalars(f"metrics/{metric}")})
    out = {}
    for cell, runs_ in sorted(logged.items()):
        steps = sorted(set.intersection(*(set(s) for s in runs_)))
        values = np.array([[s[step] for step in steps] for s in runs_])
        out[cell] = (steps, values.mean(axis=0), values.std(axis=0, ddof=1) if len(values) > 1 else 0 * values[0])  # as the table
    return out


def curves(records: list[dict], rows: str | None, cols: str | None, metric: str, out: Path) -> Path:
    """PNG of `series`: one panel per row value, one line per column value, each with a ±std band."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = series(records, rows, cols, metric)
    if not data:
        raise ValueError(f"no run logged metrics/{metric} to TensorBoard")
    row_values = sorted({rv for rv, _ in data})
    fig = Figure(figsize=(6, 3.5 * len(row_values)), dpi=100)
    FigureCanvasAgg(fig)
    for i, rv in enumerate(row_values):
        ax = fig.add_subplot(len(row_values), 1, i + 1)
        for (rv2, cv), (steps, mean, std) in data.items():
            if rv2 == rv:
                ax.plot(steps, mean, label=f"{cols}={cv}" if cols else metric)
                ax.fill_between(steps, mean - std, mean + std, alpha=0.25)
        ax.set(xlabel="step", ylabel=metric, title=f"{rows}={rv}" if rows else metric)
        ax.legend(fontsize="small")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
