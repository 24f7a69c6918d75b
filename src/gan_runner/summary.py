"""The summary of a sweep: summary.csv and summary.md in the sweep directory, one row per job (its
overrides, status, step, wall time, final metrics and note), kept up to date as jobs end by a Hydra
callback whatever the launcher, and written by `gan-runner-table` too.

A run directory is any directory holding `.hydra/overrides.yaml`; its results come from
`results.json`.
"""

import csv
import io
import time
from collections import Counter
from pathlib import Path

import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from .console import count, say
from .files import write_text
from .run_dir import (
    FAILED,
    RUNNING,
    STATUSES,
    UNFINISHED,
    RunDir,
    last_lines,
    override_key,
    read_results,
    report,
)
from .tables import NOT_SUMMARISED, under


def runs(directories: list[Path], finished: bool = True) -> list[dict]:
    """One record per run directory under `directories`: its overrides (key → value), the config
    groups it used (`choices`) and its composed `config` (empty for a run that never composed one),
    status, step, wall time, final metrics, note and directory. A run without results.json is
    "failed" once its sweep has `finished`, "running" before."""
    found = []
    for top in directories:
        for marker in sorted(Path(top).rglob(".hydra/overrides.yaml")):
            run = RunDir(marker.parent.parent)
            recorded = _yaml(marker)
            overrides = {
                override_key(o): o.split("=", 1)[1] if "=" in o else ""
                for o in (recorded if isinstance(recorded, list) else [])
                if isinstance(o, str)
            }
            hydra_yaml, config = _yaml(run.hydra_yaml), _yaml(run.config)
            results = read_results(run) or (
                {"status": FAILED, "note": last_lines(run.launcher_log) or "no results.json"}
                if finished
                else {"status": RUNNING, "note": ""}
            )
            found.append(
                {
                    "dir": str(run),
                    "overrides": overrides,
                    "choices": _get(hydra_yaml, "hydra", "runtime", "choices"),
                    "config": config if isinstance(config, dict) else {},
                    "status": results["status"],
                    "step": results.get("step"),
                    "wall_time_s": results.get("wall_time_s"),
                    "final": results.get("final", {}),
                    "best": results.get("best", {}),
                    "protocols": results.get("protocols", []),
                    "note": results["note"],
                }
            )
    return found


def _yaml(path: Path):
    """A run's YAML record, or {} when it is missing or unreadable (the table still lists the run)."""
    try:
        return yaml.safe_load(path.read_text()) if path.exists() else {}
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return {}


def _get(tree, *keys) -> dict:
    for key in keys:
        tree = tree.get(key) if isinstance(tree, dict) else None
    return tree if isinstance(tree, dict) else {}


def counts(records: list[dict]) -> str:
    """e.g. "5 completed, 1 failed"."""
    n = Counter(r["status"] for r in records)
    return ", ".join(f"{n[s]} {s}" for s in STATUSES if n[s])


def summary(records: list[dict]) -> tuple[str, str]:
    """(CSV, Markdown) with one row per run: job, overrides, status, step, wall time, final metrics and
    note. The Markdown keeps the overrides that vary as columns and lists the shared ones once. The
    overrides that say where and how a run ran, not what it was (tables.NOT_SUMMARISED: resume=,
    trainer.device, hydra.*, ...), are no columns."""
    keys = sorted({k for r in records for k in r["overrides"] if not under(k, NOT_SUMMARISED)})
    metrics = sorted({m for r in records for m in r["final"]})

    def rows(keys_):
        return [
            [
                Path(r["dir"]).name,
                *(r["overrides"].get(k, "") for k in keys_),
                r["status"],
                r["step"],
                r["wall_time_s"],
                *(_short(r["final"].get(m)) for m in metrics),
                r["note"],
            ]
            for r in records
        ]

    columns = ["status", "step", "wall_time_s", *metrics, "note"]
    out = io.StringIO()
    csv.writer(out).writerows([["run", *keys, *columns], *rows(keys)])
    shared = [k for k in keys if len({r["overrides"].get(k) for r in records}) == 1]
    varying = [k for k in keys if k not in shared]
    header = ["run", *varying, *columns]
    md = [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}"]
    md += [f"| {' | '.join(_cell(v) for v in row)} |" for row in rows(varying)]
    md.append(f"\n{count(len(records), 'run')}: {counts(records)}")
    if shared:
        md.append("All runs: " + " ".join(f"`{k}={records[0]['overrides'][k]}`" for k in shared))
    return out.getvalue(), "\n".join(md) + "\n"


def write_summary(sweep_dir: Path, finished: bool = True) -> list[dict]:
    records = runs([sweep_dir], finished)
    text_csv, text_md = summary(records)
    write_text(sweep_dir / "summary.csv", text_csv)
    write_text(sweep_dir / "summary.md", text_md)
    return records


def _cell(value) -> str:
    """A value as one Markdown table cell: a note of several lines (a job's last lines) on one."""
    return "" if value is None else " ⏎ ".join(str(value).replace("|", "/").splitlines())


def _short(value):
    return round(value, 6) if isinstance(value, float) else value


class SweepSummary(Callback):
    """Keeps summary.csv / summary.md in a sweep's directory up to date as its jobs end (whichever
    launcher ran them), and at the end of the sweep exits 1 if a job failed, was interrupted or was
    never started."""

    def on_job_start(self, config: DictConfig, **kwargs) -> None:
        self.job_started = time.time()

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs) -> None:
        run = RunDir(HydraConfig.get().runtime.output_dir)
        results = read_results(run)
        reported = (
            results is not None and results.get("ended", 0) >= self.job_started
        )  # by this attempt
        if job_return.status == JobStatus.FAILED and not reported:
            error = job_return._return_value  # the exception; .return_value would raise it
            report(
                run, FAILED, f"{type(error).__name__}: {error}", list(job_return.overrides or [])
            )
        if config.hydra.mode == RunMode.MULTIRUN:
            write_summary(Path(HydraConfig.get().sweep.dir), finished=False)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        records = write_summary(Path(config.hydra.sweep.dir))
        say(
            f"sweep {config.hydra.sweep.dir}: {counts(records)}; summary.md there"
        )  # a console gone: still exits 1
        if any(r["status"] in UNFINISHED for r in records):
            raise SystemExit(1)  # a callback's exceptions are warnings to Hydra; SystemExit is not
