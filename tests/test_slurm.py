"""Against a real Slurm (`make slurm-up` starts one on this machine; CI does so before the tests):
a sweep through hydra/launcher=slurm, one of whose jobs is warned of its time limit while it trains
(SIGUSR2: it saves, submitit requeues it) and another pre-empted (SIGTERM, then SIGKILL, and Slurm
requeues it); each resumes from its checkpoint to the same parameters as a run never interrupted.
Without Slurm these tests fail: they are not optional."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN, assert_same_tensors, job_dir, load_state, run_cli

pytestmark = pytest.mark.slurm  # `make test-slurm`: a Slurm must run (it starts a local one)

JOB = [
    "trainer.steps=3000",
    "trainer.log_every=250",
    "trainer.sample_every=3000",
    "trainer.eval_every=3000",
    "trainer.ckpt_every=250",
    "metrics.n_samples=500",
    "trainer.device=cpu",
]
# the local node has no GPU and little to spare
SLURM = [
    "hydra/launcher=slurm",
    "hydra.launcher.gpus_per_node=null",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
    "hydra.launcher.timeout_min=10",
]


def _squeue(cwd, *fields: str) -> list[list[str]]:
    """This sweep's jobs (those submitted from `cwd`), one list of `fields` (squeue format codes) each."""
    out = subprocess.run(
        ["squeue", "-h", "-o", " ".join(["%Z", *fields])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.split()[1:] for line in out.splitlines() if line.split()[0] == str(cwd)]


def _scontrol(*args: str) -> str:
    return subprocess.run(["scontrol", *args], capture_output=True, text=True, check=True).stdout


def _steps(log: Path) -> list[int]:
    """The steps a run's train.log reports, in order (every attempt's)."""
    return [int(s) for s in re.findall(r"step (\d+)/", log.read_text())] if log.exists() else []


def _wait(what: str, until, sweep: subprocess.Popen, timeout: float = 300):
    end = time.time() + timeout
    while time.time() < end:
        if found := until():
            return found
        if sweep.poll() is not None:
            raise AssertionError(
                f"the sweep ended while waiting for {what}:\n{sweep.stdout.read()}"
            )
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The sweep, once jobs 0 and 1 have trained 1000 steps: job 0 sent SIGUSR2 (submitit's time-limit
    warning, as Slurm sends it signal_delay_s before the limit), job 1 pre-empted (`scontrol requeue`:
    Slurm sends SIGTERM, which submitit ignores, then SIGKILL, and queues the job again)."""
    if not shutil.which("sinfo"):
        pytest.fail("Slurm is not installed: run `make slurm-up` (scripts/slurm_local.sh up)")
    state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True).stdout
    if not re.search(r"idle|mix|alloc", state):
        pytest.fail(
            f"Slurm has no node up (sinfo: {state.strip() or 'no answer'}): run `make slurm-up`"
        )
    cwd = tmp_path_factory.mktemp("slurm")
    dir_ = cwd / "sweep"
    proc = subprocess.Popen(
        [
            str(BIN / "gan-runner"),
            "-m",
            "trainer.seed=0,1,2",
            *JOB,
            *SLURM,
            f"hydra.sweep.dir={dir_}",
        ],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"},
    )  # the job's own
    try:
        logs = [job_dir(dir_, i, f"trainer.seed={i}", *JOB) / "train.log" for i in (0, 1)]
        _wait(
            "jobs 0 and 1 to train 1000 steps",
            lambda: all(1000 in _steps(log) for log in logs),
            proc,
        )
        jobs = {
            int(m[1]): job for [job] in _squeue(cwd, "%i") if (m := re.fullmatch(r"\d+_(\d+)", job))
        }
        subprocess.run(["scancel", "--signal=USR2", jobs[0]], check=True)
        _scontrol("requeue", jobs[1])
        requeued_at = _steps(logs[1])[-1]
        # Slurm's SIGKILL comes KillWait (30 s) after its SIGTERM: sooner here, once job 1 has shown that
        # the SIGTERM did not stop it (500 steps more), so that it dies mid-run however fast this machine
        _wait(
            "job 1 to train on after the SIGTERM",
            lambda: _steps(logs[1])[-1] >= requeued_at + 500,
            proc,
        )
        [task] = re.findall(
            r"^JobId=(\d+)", _scontrol("show", "job", jobs[1]), re.M
        )  # listpids wants this id
        for pid in [line.split()[0] for line in _scontrol("listpids", task).splitlines()[1:]]:
            os.kill(
                int(pid), signal.SIGKILL
            )  # what Slurm's kill does: the job's processes, as it lists them
        for i in (
            0,
            1,
        ):  # Slurm holds a requeued job back (about two minutes) before it may start again
            _wait(
                f"job {i} to be requeued",
                lambda: re.search(
                    r"JobState=PENDING .*\n.*Restarts=[1-9]", _scontrol("show", "job", jobs[i])
                ),
                proc,
            )
            _scontrol("update", f"JobId={jobs[i]}", "StartTime=now")  # let it start now
        out, _ = proc.communicate(timeout=600)
    finally:
        proc.kill()
        for [job] in _squeue(cwd, "%i"):  # a failure here leaves nothing queued
            subprocess.run(["scancel", job])
    return {
        "dir": dir_,
        "cwd": cwd,
        "returncode": proc.returncode,
        "output": out,
        "jobs": jobs,
        "requeued_at": requeued_at,
    }


def test_sweep_completes_with_its_summary(sweep):
    assert sweep["returncode"] == 0, sweep["output"]
    assert "3 completed; summary.md there" in sweep["output"]
    summary = (sweep["dir"] / "summary.md").read_text()
    assert "3 runs: 3 completed" in summary
    for i in range(3):
        results = json.loads(
            (job_dir(sweep["dir"], i, f"trainer.seed={i}", *JOB) / "results.json").read_text()
        )
        assert results["status"] == "completed" and results["step"] == 3000
        assert results["host"]["SLURM_JOB_ID"] and results["host"]["torch_threads"] == 1


def _assert_as_if_never_interrupted(run: Path, seed: int, tmp_path: Path) -> None:
    """The run's final parameters and state are bit for bit those of a local run never interrupted."""
    ref = tmp_path / "ref"
    run_cli(
        f"trainer.seed={seed}",
        *JOB,
        f"hydra.run.dir={ref}",
        cwd=tmp_path,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert_same_tensors(load_state(ref)["objects"], load_state(run)["objects"])


def test_a_job_warned_of_its_time_limit_resumes_to_the_uninterrupted_parameters(sweep, tmp_path):
    run = job_dir(sweep["dir"], 0, "trainer.seed=0", *JOB)
    results = json.loads((run / "results.json").read_text())
    assert results["host"]["SLURM_RESTART_COUNT"] == "1"  # it ran twice: warned, requeued
    log = (run / "train.log").read_text()
    stopped = re.search(r"SIGUSR2: stopped after step (\d+); checkpoint saved", log)
    assert stopped and 1000 <= int(stopped.group(1)) < 3000, log  # saved, then requeued
    assert f"resumed from {run / 'checkpoints' / 'last.pt'} at step {stopped.group(1)}" in log
    _assert_as_if_never_interrupted(run, 0, tmp_path)


def test_a_preempted_job_resumes_from_its_last_periodic_checkpoint_to_the_uninterrupted_parameters(
    sweep, tmp_path
):
    run = job_dir(sweep["dir"], 1, "trainer.seed=1", *JOB)
    results = json.loads((run / "results.json").read_text())
    assert (
        results["status"] == "completed" and results["host"]["SLURM_RESTART_COUNT"] == "1"
    )  # killed, requeued
    job = sweep["jobs"][1]
    assert (
        "Bypassing signal SIGTERM"
        in (sweep["dir"] / ".submitit" / job / f"{job}_0_log.err").read_text()
    )
    log = (run / "train.log").read_text()
    assert "stopped after step" not in log, (
        log
    )  # the SIGTERM neither stopped nor saved the run: it trained on
    resumed = re.search(
        rf"resumed from {re.escape(str(run / 'checkpoints' / 'last.pt'))} at step (\d+)", log
    )
    assert resumed, log
    # from the last periodic checkpoint before the kill (every 250 steps, saved after the step's log
    # line: the last step logged, or the one before), written after the SIGTERM
    step, logged = (
        int(resumed.group(1)),
        int(re.findall(r"step (\d+)/", log[: resumed.start()])[-1]),
    )
    assert step in (logged, logged - 250) and step > sweep["requeued_at"], (
        step,
        logged,
        sweep["requeued_at"],
        log,
    )
    _assert_as_if_never_interrupted(run, 1, tmp_path)
