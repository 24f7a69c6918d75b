"""The summary of a sweep: summary.csv and summary.md in the sweep directory, one row per job (its
overrides, status, step, wall time, final metrics and note), kept up to date as jobs end by a Hydra
callback whatever the launcher, and written by `gan-runner-table` too.

A run directory is any directory holding `.hydra/overrides.yaml`; its results come from
`results.json`.
"""

import csv
import io
import json
import time
from collections import Counter
from pathlib import Path

import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from .cli import override_key

# a run's own statuses (results.py); then a job that ended without a report, one the sweep never
# started, and one without a report yet
STATUSES = ("completed", "diverged", "interrupted", "failed", "cancelled", "running")
UNFINISHED = ("interrupted", "failed", "cancelled")  # the sweep's exit status is 1 when a job ends so


def runs(directories: list[Path], finished: bool = True) -> list[dict]:
    """One record per run directory under `directories`: its overrides (key → value), the config
    groups it used (`choices`) and its composed `config` (empty for a run that never composed one),
    status, step, wall time, final metrics, note and directory. A run without results.json is
    "failed" once its sweep has `finished`, "running" before."""
    found = []
    for top in directories:
        for marker in sorted(Path(top).rglob(".hydra/overrides.yaml")):
            hydra_dir, run_dir = marker.parent, marker.parent.parent
            overrides = {override_key(o): o.split("=", 1)[1] if "=" in o else ""
                         for o in yaml.safe_load(marker.read_text()) or []}
            hydra_yaml, config = _yaml(hydra_dir / "hydra.yaml"), _yaml(hydra_dir / "config.yaml")
            results_file = run_dir / "results.json"
            results = json.loads(results_file.read_text()) if results_file.exists() else (
                {"status": "failed", "note": _last_line(run_dir / "launcher.log")} if finished else
                {"status": "running", "note": ""})
            found.append({"dir": str(run_dir), "overrides": overrides,
                          "choices": hydra_yaml["hydra"]["runtime"]["choices"] if hydra_yaml else {},
                          "config": config, "status": results["status"], "step": results.get("step"),
                          "wall_time_s": results.get("wall_time_s"), "final": results.get("final", {}),
                          "note": results["note"]})
    return found


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) if path.exists() else {}


def _last_line(log: Path) -> str:
    """What a job that wrote no results said last (gpu_pool keeps each job's output), for the summary."""
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    return lines[-1] if lines else "no results.json"


def counts(records: list[dict]) -> str:
    """e.g. "5 completed, 1 failed"."""
    n = Counter(r["status"] for r in records)
    return ", ".join(f"{n[s]} {s}" for s in STATUSES if n[s])


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
    md.append(f"\n{len(records)} runs: {counts(records)}")
    if shared:
        md.append("All runs: " + " ".join(f"`{k}={records[0]['overrides'][k]}`" for k in shared))
    return out.getvalue(), "\n".join(md) + "\n"


def write_summary(sweep_dir: Path, finished: bool = True) -> list[dict]:
    from .checkpoint import atomic_write  # here: torch, which it imports, is not needed to start a sweep

    records = runs([sweep_dir], finished)
    text_csv, text_md = summary(records)
    atomic_write(sweep_dir / "summary.csv", lambda f: f.write(text_csv.encode()))
    atomic_write(sweep_dir / "summary.md", lambda f: f.write(text_md.encode()))
    return records


def _short(value):
    return round(value, 6) if isinstance(value, float) else value


def report(run_dir: Path, status: str, note: str, overrides: list[str]) -> None:
    """results.json for a job whose run could not report: one that failed before it could (or left an
    older attempt's), or one the sweep never started ("cancelled")."""
    from .checkpoint import write_json

    now = time.time()
    write_json(run_dir / "results.json", {"status": status, "step": None, "final": {}, "note": note,
                                          "overrides": overrides, "started": now, "ended": now})


class SweepSummary(Callback):
    """Keeps summary.csv / summary.md in a sweep's directory up to date as its jobs end (whichever
    launcher ran them), and at the end of the sweep exits 1 if a job failed, was interrupted or was
    never started."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs) -> None:
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        results = run_dir / "results.json"
        if job_return.status == JobStatus.FAILED and (
                not results.exists() or json.loads(results.read_text())["status"] in ("completed", "diverged")):
            error = job_return._return_value  # the exception; .return_value would raise it
            report(run_dir, "failed", f"{type(error).__name__}: {error}", list(job_return.overrides or []))
        if config.hydra.mode == RunMode.MULTIRUN:
            write_summary(Path(HydraConfig.get().sweep.dir), finished=False)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        records = write_summary(Path(config.hydra.sweep.dir))
        print(f"sweep {config.hydra.sweep.dir}: {counts(records)}; summary.md there")
        if any(r["status"] in UNFINISHED for r in records):
            raise SystemExit(1)  # a callback's exceptions are warnings to Hydra; SystemExit is not
