"""Against a real Slurm (`make slurm-up` starts one on this machine; CI does so before the tests):
a sweep through hydra/launcher=slurm, one of whose jobs is pre-empted while it trains, requeued, and
resumes from its checkpoint to the same parameters as a run never interrupted. Without Slurm these
tests fail: they are not optional."""

import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import BIN, assert_same_tensors, load_state, run_cli

JOB = ["trainer.steps=3000", "trainer.log_every=250", "trainer.sample_every=3000", "trainer.eval_every=3000",
       "trainer.ckpt_every=0", "metrics.n_samples=500", "trainer.device=cpu"]  # checkpoints: at the stop
# the local node has no GPU and little to spare
SLURM = ["hydra/launcher=slurm", "hydra.launcher.gpus_per_node=null", "hydra.launcher.cpus_per_task=1",
         "hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=10"]


def _squeue(cwd, *fields: str) -> list[list[str]]:
    """This sweep's jobs (those submitted from `cwd`), one list of `fields` (squeue format codes) each."""
    out = subprocess.run(["squeue", "-h", "-o", " ".join(["%Z", *fields])], capture_output=True, text=True,
                         check=True).stdout
    return [line.split()[1:] for line in out.splitlines() if line.split()[0] == str(cwd)]


def _wait(what: str, until, sweep: subprocess.Popen, timeout: float = 300):
    end = time.time() + timeout
    while time.time() < end:
        if found := until():
            return found
        if sweep.poll() is not None:
            raise AssertionError(f"the sweep ended while waiting for {what}:\n{sweep.stdout.read()}")
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The sweep, with job 0 sent SIGUSR2 (submitit's time-limit / pre-emption warning, as Slurm sends
    it signal_delay_s before the limit) once it has trained 1000 steps."""
    if not shutil.which("sinfo"):
        pytest.fail("Slurm is not installed: run `make slurm-up` (scripts/slurm_local.sh up)")
    state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True).stdout
    if not re.search(r"idle|mix|alloc", state):
        pytest.fail(f"Slurm has no node up (sinfo: {state.strip() or 'no answer'}): run `make slurm-up`")
    cwd = tmp_path_factory.mktemp("slurm")
    dir_ = cwd / "sweep"
    proc = subprocess.Popen([str(BIN / "gan-runner"), "-m", "trainer.seed=0,1,2", *JOB, *SLURM,
                             f"hydra.sweep.dir={dir_}"], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"})  # the job's own
    try:
        log = dir_ / "0" / "train.log"
        _wait("job 0 to train 1000 steps", lambda: log.exists() and "step 1000/3000" in log.read_text(), proc)
        [[job]] = [j for j in _squeue(cwd, "%i") if j[0].endswith("_0")]
        subprocess.run(["scancel", "--signal=USR2", job], check=True)
        # Slurm holds a requeued job back (about two minutes) before it may start again; let it start now
        _wait("job 0 to be requeued", lambda: re.search(r"JobState=PENDING .*\n.*Restarts=[1-9]", subprocess.run(
            ["scontrol", "show", "job", job], capture_output=True, text=True).stdout), proc)
        subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
        out, _ = proc.communicate(timeout=600)
    finally:
        proc.kill()
    return {"dir": dir_, "cwd": cwd, "returncode": proc.returncode, "output": out, "job": job}


def test_sweep_completes_with_its_summary(sweep):
    assert sweep["returncode"] == 0, sweep["output"]
    assert "3 completed; summary.md there" in sweep["output"]
    summary = (sweep["dir"] / "summary.md").read_text()
    assert "3 runs: 3 completed" in summary
    for i in range(3):
        results = json.loads((sweep["dir"] / str(i) / "results.json").read_text())
        assert results["status"] == "completed" and results["step"] == 3000
        assert results["host"]["SLURM_JOB_ID"] and results["host"]["torch_threads"] == 1


def test_preempted_job_resumes_to_the_uninterrupted_parameters(sweep, tmp_path):
    run = sweep["dir"] / "0"
    results = json.loads((run / "results.json").read_text())
    assert results["host"]["SLURM_RESTART_COUNT"] == "1"  # it ran twice: pre-empted, requeued
    log = (run / "train.log").read_text()
    stopped = re.search(r"SIGUSR2: stopped after step (\d+); checkpoint saved", log)
    assert stopped and 1000 <= int(stopped.group(1)) < 3000, log  # saved, then requeued
    assert f"resumed from {run / 'checkpoints' / 'last.pt'} at step {stopped.group(1)}" in log
    ref = tmp_path / "ref"
    run_cli("trainer.seed=0", *JOB, f"hydra.run.dir={ref}", cwd=tmp_path, check=True, env={
        **os.environ, "OMP_NUM_THREADS": "1"})
    assert_same_tensors(load_state(ref)["objects"], load_state(run)["objects"])
