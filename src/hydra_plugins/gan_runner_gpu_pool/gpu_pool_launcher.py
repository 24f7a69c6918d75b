"""`hydra/launcher=gpu_pool`: runs a sweep's jobs concurrently, each in a fresh process of its own.

With `gpus=[0,1,...]` there are `jobs_per_gpu` slots per GPU; a job's process starts with
CUDA_VISIBLE_DEVICES set to its slot's GPU (so torch sees only that one) and, when it ends, the
slot goes to the next job. With no `gpus`, there are `n_jobs` CPU slots and each job gets
cores / n_jobs torch threads. (Hydra's joblib launcher reuses its workers, so it cannot pin a
GPU; submitit_local puts every job on GPU 0.)

A job is the application itself (`sys.argv[0]`, e.g. gan-runner) run with the job's overrides
in its sweep directory, its output in `launcher.log` there. A failing job does not stop the others;
each job's status comes from its results.json, the sweep's summary is kept up to date as jobs end,
and the sweep ends non-zero if any job failed (gan_runner.tables.SweepSummary).
"""

import logging
import os
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)


@dataclass
class GPUPoolConf:
    _target_: str = "hydra_plugins.gan_runner_gpu_pool.gpu_pool_launcher.GPUPoolLauncher"
    gpus: Optional[List[int]] = None  # CUDA device ids; null: CPU slots
    jobs_per_gpu: int = 1
    n_jobs: int = 2  # CPU slots, when gpus is null


ConfigStore.instance().store(group="hydra/launcher", name="gpu_pool", node=GPUPoolConf, provider="gan_runner")


class GPUPoolLauncher(Launcher):
    def __init__(self, gpus: Optional[List[int]] = None, jobs_per_gpu: int = 1, n_jobs: int = 2) -> None:
        if gpus is not None and (not gpus or jobs_per_gpu < 1):
            raise ValueError("hydra.launcher.gpus needs at least one GPU id and jobs_per_gpu >= 1")
        if gpus is None and n_jobs < 1:
            raise ValueError("hydra.launcher.n_jobs must be >= 1")
        self.slots = [str(g) for g in gpus for _ in range(jobs_per_gpu)] if gpus is not None else [None] * n_jobs
        self.threads = None if gpus is not None else max(1, (os.cpu_count() or 1) // n_jobs)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config

    def _job(self, idx: int, overrides: Sequence[str]) -> tuple[DictConfig, Path]:
        sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = idx
            sweep_config.hydra.job.num = idx
        return sweep_config, Path(sweep_config.hydra.sweep.dir) / str(sweep_config.hydra.sweep.subdir)

    def _start(self, slot: Optional[str], overrides: Sequence[str], job_dir: Path) -> subprocess.Popen:
        env = dict(os.environ)
        if slot is not None:
            env["CUDA_VISIBLE_DEVICES"] = slot
        else:
            for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                env[var] = str(self.threads)
        # Hydra writes this too when the run starts; written first, a job that fails before then (in the
        # pre-flight) is still in the sweep's summary
        (job_dir / ".hydra").mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create(list(overrides)), job_dir / ".hydra" / "overrides.yaml")
        with open(job_dir / "launcher.log", "wb") as out:
            return subprocess.Popen([sys.executable, sys.argv[0], *overrides, f"hydra.run.dir={job_dir}"],
                                    env=env, stdout=out, stderr=subprocess.STDOUT)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        where = f"GPUs {self.slots}" if self.slots[0] is not None else f"{len(self.slots)} CPU slots x {self.threads} threads"
        log.info(f"gpu_pool: {len(job_overrides)} jobs on {where}")
        pending = deque(enumerate(job_overrides, initial_job_idx))
        running: dict[int, tuple] = {}  # slot index -> (process, job index, overrides, sweep config, job dir, start)
        returns: dict[int, JobReturn] = {}
        while pending or running:
            try:
                self._start_free_slots(pending, running)
                time.sleep(0.1)
                self._collect(running, returns, sweep_dir)
            except KeyboardInterrupt:  # the jobs got Ctrl-C too: start no more, let the running ones save
                log.info("gpu_pool: interrupted; waiting for the running jobs to save")
                pending.clear()
        return [returns[i] for i in sorted(returns)]

    def _start_free_slots(self, pending: deque, running: dict) -> None:
        for s in range(len(self.slots)):
            if s not in running and pending:
                idx, overrides = pending.popleft()
                sweep_config, job_dir = self._job(idx, overrides)
                running[s] = (self._start(self.slots[s], overrides, job_dir), idx, overrides, sweep_config, job_dir,
                              time.perf_counter())
                log.info(f"\t#{idx} on slot {s}: {' '.join(filter_overrides(overrides))}")

    def _collect(self, running: dict, returns: dict, sweep_dir: Path) -> None:
        from gan_runner.tables import write_summary  # not at import: Hydra imports every plugin at start-up

        for s, (proc, idx, overrides, sweep_config, job_dir, start) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[s]
            status = _status(job_dir, proc.returncode)
            log.info(f"\t#{idx} {status} (exit {proc.returncode}, {time.perf_counter() - start:.1f} s)")
            returns[idx] = _job_return(sweep_config, overrides, job_dir, status)
            write_summary(sweep_dir, finished=False)


def _status(job_dir: Path, returncode: int) -> str:
    import json

    results = job_dir / "results.json"
    status = json.loads(results.read_text())["status"] if results.exists() else "failed"
    return "failed" if returncode and status != "interrupted" else status


def _job_return(sweep_config: DictConfig, overrides: Sequence[str], job_dir: Path, status: str) -> JobReturn:
    ret = JobReturn()
    ret.overrides, ret.working_dir, ret.task_name = list(overrides), str(job_dir), sweep_config.hydra.job.name
    ret.hydra_cfg, ret.cfg = sweep_config, sweep_config
    # a failed job is reported by the sweep summary, not raised: Hydra would stop at it
    ret.status, ret.return_value = JobStatus.COMPLETED, status
    return ret
