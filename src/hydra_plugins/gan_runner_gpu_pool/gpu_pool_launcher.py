"""`hydra/launcher=gpu_pool`: runs a sweep's jobs concurrently, each in a fresh process of its own.

With `gpus=[0,1,...]` there are `jobs_per_gpu` slots per GPU; a job's process starts with
CUDA_VISIBLE_DEVICES set to its slot's GPU (so torch sees only that one) and, when it ends, the
slot goes to the next job. Without `gpus` there are `n_jobs` CPU slots, and no GPU is visible to
them. Either way each job gets an equal share of this process's cores as torch threads. (Hydra's
joblib launcher reuses its workers, so it cannot pin a GPU; submitit_local puts every job on GPU 0.)
While a slot's job runs, the process for the slot's next job is already started and has imported
torch, Hydra and gan-runner (worker.py), so a slot that frees starts its next job at once; a job
still gets a process of its own, fresh but for those imports.

A job is the application itself (`sys.argv[0]`, e.g. gan-runner) run with the job's overrides and
the sweep's own hydra overrides, in its sweep directory, its output in `launcher.log` there. A
failing job does not stop the others. SIGINT, SIGTERM, SIGUSR1 and SIGUSR2 are passed on to the
running jobs (which save and stop) and no further job starts; those never started are reported
`cancelled`. SIGHUP (a closed terminal or ssh session) does the same, passed on as SIGTERM: a HUP
would kill a job without a save (the jobs have sessions of their own, so the terminal's HUP does not
reach them directly). Each job's status comes from the results.json it wrote (one older than the job
is an earlier attempt's: it does not count); a job that ended without one (killed, out of memory,
refused) gets one saying `failed`, how it ended (its exit code or signal) and the last lines of its
launcher.log. The sweep's summary is kept up to date as jobs end (gan_runner.summary, whose callback
also sets the sweep's exit status).
"""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from gan_runner.console import count
from gan_runner.errors import UserError
from gan_runner.run_dir import (
    CANCELLED,
    FAILED,
    INTERRUPTED,
    RunDir,
    config_dirs,
    quoted,
    read_results,
    report,
)

from . import jobs

log = logging.getLogger(__name__)
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP)
# the sweep's hydra overrides that are not a job's business
SWEEP_ONLY = (
    "hydra/launcher",
    "hydra.launcher",
    "hydra/sweeper",
    "hydra.sweeper",
    "hydra.sweep",
    "hydra.mode",
    "hydra.run",
)


@dataclass
class GPUPoolConf:
    _target_: str = "hydra_plugins.gan_runner_gpu_pool.gpu_pool_launcher.GPUPoolLauncher"
    gpus: Optional[List[int]] = (
        None  # CUDA device ids (of those this process sees); null: CPU slots
    )
    jobs_per_gpu: int = 1
    n_jobs: int = 2  # CPU slots, when gpus is null


ConfigStore.instance().store(
    group="hydra/launcher", name="gpu_pool", node=GPUPoolConf, provider="gan_runner"
)


class GPUPoolLauncher(Launcher):
    def __init__(
        self, gpus: Optional[List[int]] = None, jobs_per_gpu: int = 1, n_jobs: int = 2
    ) -> None:
        self.gpus, self.jobs_per_gpu, self.n_jobs = gpus, jobs_per_gpu, n_jobs
        self.stop: Optional[str] = None  # the name of the signal that stopped the sweep

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        # checked here, before any job starts or the sweep's directory is made, as bad input (Hydra
        # wraps what __init__ raises in a traceback-like "Error in call to target")
        if self.gpus is not None and not self.gpus:
            raise UserError(
                "hydra.launcher.gpus=[] names no GPU: give the ids of the GPUs to share out (e.g. "
                "hydra.launcher.gpus=[0,1]), or leave gpus out for CPU slots (hydra.launcher.n_jobs)."
            )
        if self.gpus is not None and self.jobs_per_gpu < 1:
            raise UserError(
                f"hydra.launcher.jobs_per_gpu={self.jobs_per_gpu} leaves the GPUs no slot: "
                "it is the number of jobs that share each GPU at once, at least 1."
            )
        if self.gpus is None and self.n_jobs < 1:
            raise UserError(
                f"hydra.launcher.n_jobs={self.n_jobs} leaves the sweep no slot: it is the number "
                "of jobs that run at once on CPU slots, at least 1 (with hydra.launcher.gpus set, "
                "hydra.launcher.jobs_per_gpu per GPU instead)."
            )
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")  # ids are of these, as torch numbers them
        devices = visible.split(",") if visible else None
        if self.gpus is not None:
            seen = len(devices) if devices else _gpu_count()
            if max(self.gpus) >= seen or min(self.gpus) < 0:
                where = f"CUDA_VISIBLE_DEVICES={visible}" if devices else "as PyTorch counts them"
                raise UserError(
                    f"hydra.launcher.gpus={list(self.gpus)} names GPUs this machine does not have: "
                    f"this process sees {seen} GPU{'s' * (seen != 1)} ({where}), numbered from 0. "
                    "Pick ids below that, or leave gpus out for CPU slots (hydra.launcher.n_jobs)."
                )
        self.slots = (
            [devices[g] if devices else str(g) for g in self.gpus for _ in range(self.jobs_per_gpu)]
            if self.gpus is not None
            else [""] * self.n_jobs
        )  # "": no GPU visible
        self.threads = max(1, len(os.sched_getaffinity(0)) // len(self.slots))

    def _job(self, idx: int, overrides: Sequence[str]) -> tuple[DictConfig, Path]:
        sweep_config = self.hydra_context.config_loader.load_sweep_config(
            self.config, list(overrides)
        )
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = idx
            sweep_config.hydra.job.num = idx
        return sweep_config, Path(sweep_config.hydra.sweep.dir) / str(
            sweep_config.hydra.sweep.subdir
        )

    def _command(self, idx: int, overrides: Sequence[str], job_dir: Path) -> list[str]:
        """The application as this sweep was started (config name and dirs, hydra overrides), for one job."""
        h = self.config.hydra
        hydra_overrides = [
            o
            for o in OmegaConf.to_container(h.overrides.hydra)  # as typed: `${...}` is the job's
            if not o.lstrip("+~").startswith(SWEEP_ONLY)
        ]
        return [
            sys.executable,
            sys.argv[0],
            f"--config-name={h.job.config_name}",
            *(f"--config-dir={d}" for d in config_dirs(h)),
            *overrides,
            *hydra_overrides,
            f"hydra.run.dir={quoted(job_dir)}",
            f"hydra.job.num={idx}",
            f"hydra.job.id={idx}",
        ]

    def _env(self, slot: str) -> dict[str, str]:
        return {
            **os.environ,
            "CUDA_VISIBLE_DEVICES": slot,
            **{var: str(self.threads) for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        }

    def _start(
        self, s: int, idx: int, overrides: Sequence[str], job_dir: Path
    ) -> tuple[subprocess.Popen, bool]:
        """The job's process on slot `s`: the slot's warm one where it is alive, else a fresh one.
        Returns it and whether it was warm."""
        jobs.describe(job_dir, overrides)
        command, log_file = self._command(idx, overrides, job_dir), RunDir(job_dir).launcher_log
        warm = self.warm.pop(s, None)
        if warm is not None and warm.poll() is None:
            try:
                job = {
                    "argv": command[1:],
                    "log": str(log_file),
                    "cwd": os.getcwd(),
                }  # paths are relative to it
                warm.stdin.write(json.dumps(job).encode() + b"\n")
                warm.stdin.close()
                return warm, True
            except OSError:  # it died just now: start afresh
                warm.wait()
        with open(log_file, "ab") as out:
            return subprocess.Popen(
                command,
                env=self._env(self.slots[s]),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            ), False  # signals: only ours

    def _drop_warm(self) -> None:
        for warm in self.warm.values():  # no job will come for them
            warm.kill()
            warm.wait()
        self.warm.clear()

    def _warm_up(self, s: int) -> None:
        """Start slot `s`'s next job's process now: it imports while the slot's job runs."""
        self.warm[s] = subprocess.Popen(
            [sys.executable, "-m", "hydra_plugins.gan_runner_gpu_pool.worker"],
            env=self._env(self.slots[s]),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _forward(self, signum: int, frame) -> None:
        self.stop = self.stop or signal.Signals(signum).name
        for job in self.running.values():
            job.process.send_signal(jobs.passed_on(signum))

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        where = f"GPUs {self.slots}" if self.slots[0] else f"{len(self.slots)} CPU slots"
        log.info(
            f"gpu_pool: {count(len(job_overrides), 'job')} on {where}, "
            f"{count(self.threads, 'thread')} each"
        )
        pending = deque(enumerate(job_overrides, initial_job_idx))
        self.running: dict[int, jobs.Running] = {}  # slot index -> its job
        self.warm: dict[
            int, subprocess.Popen
        ] = {}  # slot index -> the process waiting for its next job
        returns: dict[int, JobReturn] = {}
        previous = {s: signal.signal(s, self._forward) for s in FORWARDED}
        try:
            while pending or self.running:
                if self.stop and pending:
                    passed_on = jobs.passed_on(self.stop).name
                    log.info(
                        f"gpu_pool: {self.stop}; passed on to the running jobs"
                        f"{'' if passed_on == self.stop else ' as ' + passed_on}, {len(pending)} not started"
                    )
                    self._cancel(pending, returns)
                self._start_free_slots(pending, returns)
                time.sleep(0.1)
                self._collect(returns, sweep_dir)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            for (
                job
            ) in self.running.values():  # only after an error here: do not leave them orphaned
                job.process.terminate()
                job.process.wait()
            self._drop_warm()
        return [returns[i] for i in sorted(returns)]

    def _start_free_slots(self, pending: deque, returns: dict) -> None:
        for s in range(len(self.slots)):
            if s in self.running or not pending or self.stop:
                continue
            idx, overrides = pending.popleft()
            sweep_config, job_dir = self._job(idx, overrides)
            start = time.time()
            try:
                process, warm = self._start(s, idx, overrides, job_dir)
            except (
                OSError
            ) as e:  # this job cannot start (a full disk, no processes left): the others may
                report(RunDir(job_dir), FAILED, f"could not start: {e}", list(overrides))
                returns[idx] = jobs.job_return(sweep_config, overrides, job_dir, FAILED, None)
                continue
            self.running[s] = jobs.Running(process, idx, overrides, sweep_config, job_dir, start)
            if self.stop:  # the signal came while it started
                process.send_signal(jobs.passed_on(self.stop))
            log.info(
                f"\t#{idx} on slot {s} (pid {process.pid}{', warm' if warm else ''}): "
                f"{' '.join(filter_overrides(overrides))}"
            )
            if (
                not pending
            ):  # the last job has started: the warm processes left would wait for nothing
                self._drop_warm()
            elif not self.stop:  # whichever slot frees first finds its next job's process ready
                try:
                    self._warm_up(s)
                except OSError as e:  # the slot's next job starts cold
                    log.warning(f"gpu_pool: no warm process for slot {s}: {e}")

    def _collect(self, returns: dict, sweep_dir: Path) -> None:
        from gan_runner.summary import (
            write_summary,  # not at import: Hydra imports every plugin at start-up
        )

        for s, job in list(self.running.items()):
            if job.process.poll() is None:
                continue
            del self.running[s]
            run = RunDir(job.job_dir)
            results = read_results(run)
            if results is not None and results.get("ended", 0) < job.start:
                results = None  # an earlier attempt's
            ended = jobs.ended(job.process.returncode)
            if (
                results is None
            ):  # the job wrote nothing: stopped before it could train, or refused, or killed
                status, note = (
                    (INTERRUPTED, f"{self.stop} while starting ({ended})")
                    if self.stop
                    else (FAILED, jobs.without_results(ended, run))
                )
                report(run, status, note, list(job.overrides))
            else:
                status = (
                    FAILED
                    if job.process.returncode and results["status"] != INTERRUPTED
                    else results["status"]
                )
            log.info(f"\t#{job.idx} {status} ({ended}, {time.time() - job.start:.1f} s)")
            returns[job.idx] = jobs.job_return(
                job.sweep_config, job.overrides, job.job_dir, status, results
            )
            try:
                write_summary(sweep_dir, finished=False)
            except OSError as e:  # a summary is not worth the sweep; the next one may succeed
                log.warning(f"gpu_pool: summary not written: {e}")

    def _cancel(self, pending: deque, returns: dict) -> None:
        while pending:
            idx, overrides = pending.popleft()
            sweep_config, job_dir = self._job(idx, overrides)
            jobs.describe(job_dir, overrides)
            report(
                RunDir(job_dir),
                CANCELLED,
                f"not started: the sweep got {self.stop}",
                list(overrides),
            )
            returns[idx] = jobs.job_return(sweep_config, overrides, job_dir, CANCELLED, None)


def _gpu_count() -> int:
    import torch  # here: only a GPU pool needs it, and it is slow to import

    return torch.cuda.device_count()
