"""A job of a gpu_pool sweep: the process that runs it, how it ended, its record when it wrote none,
and what it returns to the sweeper. Nothing heavy at import: Hydra imports every module of its plugin
packages when it scans them."""

import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig, OmegaConf

from gan_runner.files import write_text
from gan_runner.objective import objective_value
from gan_runner.run_dir import RunDir, last_lines

PASSED_ON_AS = {
    signal.SIGHUP: signal.SIGTERM
}  # a job would die of a HUP; on a TERM it saves (gan_runner.signals)


@dataclass
class Running:
    process: subprocess.Popen
    idx: int
    overrides: Sequence[str]
    sweep_config: DictConfig
    job_dir: Path
    start: float  # time.time() when it started


def passed_on(received: int | str) -> signal.Signals:
    """The signal the running jobs get for one the sweep got (by number or name)."""
    received = signal.Signals[received] if isinstance(received, str) else signal.Signals(received)
    return PASSED_ON_AS.get(received, received)


def ended(returncode: int) -> str:
    """How a job's process ended: "exit 1", "killed by SIGKILL"."""
    if returncode >= 0:
        return f"exit {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"


def without_results(ended: str, run: RunDir) -> str:
    """The note of a job that ended without a results.json: how, and what it said last."""
    why = " (by hand, or by the out-of-memory killer)" if ended == "killed by SIGKILL" else ""
    said = last_lines(run.launcher_log)
    return f"{ended}{why} without writing results.json; " + (
        f"the last lines of its launcher.log:\n{said}" if said else "its launcher.log is empty"
    )


def describe(job_dir: Path, overrides: Sequence[str]) -> None:
    """The job's overrides where its run records them, so that a job that fails before then (in the
    pre-flight), or never starts, is in the sweep's summary all the same. A directory that already
    holds a run's record keeps it: should the job be refused there, the run is as it was."""
    run = RunDir(job_dir)
    if not run.overrides.exists():
        write_text(run.overrides, OmegaConf.to_yaml(OmegaConf.create(list(overrides))))


def job_return(
    sweep_config: DictConfig,
    overrides: Sequence[str],
    job_dir: Path,
    status: str,
    results: Optional[dict],
) -> JobReturn:
    """What the task would have returned in this process: the run's objective, for a sweeper (the
    worst when the job did not complete, as its exit status or its report says, or wrote no results)."""
    ret = JobReturn()
    ret.overrides, ret.working_dir, ret.task_name = (
        list(overrides),
        str(job_dir),
        sweep_config.hydra.job.name,
    )
    ret.hydra_cfg, ret.cfg = sweep_config, sweep_config
    # a failed job is reported by the sweep summary, not raised: Hydra would stop at it
    ret.status, ret.return_value = (
        JobStatus.COMPLETED,
        objective_value(sweep_config, status, (results or {}).get("final")),
    )
    return ret
