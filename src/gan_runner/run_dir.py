"""The run directory: where everything a run leaves behind lives, its results.json, and the one
vocabulary of statuses a run (or a sweep's job) ends with. No torch here: the launchers and the
sweep summary read run directories without it.

    <run>/.hydra/{config,hydra,overrides}.yaml   Hydra's record of the composed run
    <run>/checkpoints/last.pt                     everything needed to continue bit for bit
    <run>/results.json                            how the run ended (write_results)
    <run>/samples/, train.log, events.out.*       what it showed on the way
    <run>/eval.json                               gan-runner-eval's metrics
    <run>/launcher.log                            a gpu_pool job's console
"""

import json
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from .files import write_json, write_text
from .metrics import best

# A run ends completed, diverged (a result, not a failure), interrupted (saved; it resumes) or
# failed. A sweep's job may also be cancelled (never started) or, while the sweep runs, running.
COMPLETED, DIVERGED, INTERRUPTED, FAILED, CANCELLED, RUNNING = STATUSES = (
    "completed", "diverged", "interrupted", "failed", "cancelled", "running")
UNFINISHED = (INTERRUPTED, FAILED, CANCELLED)  # a sweep with one of these exits 1


def override_key(override: str) -> str:
    """The key a recorded (or command-line) override sets: `+a.b=1` -> `a.b`."""
    return override.split("=", 1)[0].lstrip("+~")


def quoted(value: Path | str) -> str:
    """A path as a quoted value in Hydra's override grammar (spaces, quotes, backslashes, non-ASCII)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def config_dirs(hydra: DictConfig) -> list[str]:
    """The --config-dir a run was composed with: Hydra records it among its config sources."""
    return [s.path for s in hydra.runtime.get("config_sources", []) if s.provider == "command-line"]


class RunDir:
    """The paths of one run directory."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.hydra = self.path / ".hydra"
        self.overrides = self.hydra / "overrides.yaml"
        self.config = self.hydra / "config.yaml"
        self.hydra_yaml = self.hydra / "hydra.yaml"
        self.checkpoint = self.path / "checkpoints" / "last.pt"
        self.results = self.path / "results.json"
        self.previous_results = self.path / "results.previous.json"
        self.samples = self.path / "samples"
        self.eval = self.path / "eval.json"
        self.launcher_log = self.path / "launcher.log"

    def __str__(self) -> str:
        return str(self.path)


def write_results(run: RunDir, status: str, *, note: str = "", overrides: list[str], step: int | None = None,
                  steps: int | None = None, wall_time: float | None = None, history: list[dict] = (),
                  started: float | None = None, host: dict | None = None, device: dict | None = None) -> dict:
    """results.json: how the run ended, its final metrics, its best evaluation (metrics.best) with
    every metric at that step, the history, and this attempt's times and machine."""
    now = time.time()
    results = {
        "status": status,
        "step": step,
        "steps": steps,
        "wall_time_s": None if wall_time is None else round(wall_time, 3),
        "final": {k: v for k, v in history[-1].items() if k != "step"} if history else {},
        "best": best(list(history)),
        "history": list(history),
        "overrides": list(overrides),
        "note": note,
        # this attempt (a resumed run has had several): when, where, on what
        "started": started or now,
        "ended": now,
        "host": host or {},
        "device": device or {},
    }
    write_json(run.results, results)
    return results


def read_results(run: RunDir) -> dict[str, Any] | None:
    """The run's results.json, or None when it has none yet."""
    return json.loads(run.results.read_text()) if run.results.exists() else None


def report(run: RunDir, status: str, note: str, overrides: list[str]) -> None:
    """results.json for a job whose run could not report: one that failed before it could (a refused
    job among them) or one the sweep never started ("cancelled"). A run's own report already there
    (an earlier attempt's) is kept as results.previous.json: nothing a run reported is lost."""
    earlier = read_results(run)
    if earlier is not None and earlier.get("step") is not None:  # reports like this one have no step
        run.results.replace(run.previous_results)
    write_results(run, status, note=note, overrides=overrides)


def last_line(log_file: Path) -> str:
    """What a job said last (gpu_pool keeps each job's console in its launcher.log)."""
    lines = log_file.read_text(errors="replace").strip().splitlines() if log_file.exists() else []
    return lines[-1] if lines else ""


def record(run: RunDir, task: DictConfig, hydra: DictConfig) -> None:
    """Hydra's record of the composed run (.hydra/config.yaml, hydra.yaml, overrides.yaml), written
    by the run itself once its pre-flight has passed (conf/train.yaml turns Hydra's own writing
    off), so that a job refused in a directory holding another run leaves that run's record alone."""
    for path, node in ((run.config, task), (run.hydra_yaml, OmegaConf.create({"hydra": hydra})),
                       (run.overrides, OmegaConf.create(list(hydra.overrides.task)))):
        write_text(path, OmegaConf.to_yaml(node))


def add_evaluation(run: RunDir, step: int, metrics: dict, overrides: list[str]) -> dict:
    """eval.json: the metrics of the checkpoint's step (an evaluation of other metrics of the same
    step adds to them) and every evaluation, with its overrides. An unreadable eval.json is kept
    aside as eval.unreadable.json, not lost."""
    earlier: dict = {}
    if run.eval.exists():
        try:
            earlier = json.loads(run.eval.read_text())
        except (ValueError, UnicodeDecodeError):
            run.eval.replace(run.path / "eval.unreadable.json")
    same = earlier.get("step") == step
    report = {"step": step, "metrics": {**(earlier.get("metrics", {}) if same else {}), **metrics},
              "evaluations": [*earlier.get("evaluations", []),
                              {"step": step, "metrics": metrics, "overrides": list(overrides), "time": time.time()}]}
    write_json(run.eval, report)
    return report
