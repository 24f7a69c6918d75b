"""The gpu_pool launcher: concurrent jobs in their own processes and slots, failures that stop
nothing, and the sweep's summary."""

import csv
import fcntl
import json
import os
import pty
import signal
import subprocess
import termios
import time
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.plugins.launcher import Launcher
from hydra.utils import instantiate

from conftest import BIN, job_dir, run_cli
from gan_runner.cli import CONF_DIR

# a toy run long enough that jobs started together overlap, short enough for the suite
JOB = [
    "trainer.steps=600",
    "trainer.log_every=200",
    "trainer.sample_every=600",
    "trainer.eval_every=600",
    "trainer.ckpt_every=600",
    "metrics.n_samples=500",
    "trainer.device=auto",
    "hydra/launcher=gpu_pool",
]
# a job that trains until it is stopped, and says so every 10 steps
ENDLESS = ["trainer.steps=100000", "trainer.batch_size=64", "trainer.log_every=10"]


def _results(sweep, jobs: list[list[str]]) -> dict[int, dict]:
    """The results.json of each job that wrote one, by its number (its place in `jobs`, each job's overrides)."""
    paths = {i: job_dir(sweep, i, *job) / "results.json" for i, job in enumerate(jobs)}
    assert set(sweep.glob("*/results.json")) <= set(paths.values()), (
        "a job directory not named by its overrides"
    )
    return {i: json.loads(p.read_text()) for i, p in paths.items() if p.exists()}


def _processes_in(directory: Path) -> dict[int, str]:
    """pid -> command line of the processes running with `directory` in their arguments."""
    found = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:  # it ended meanwhile
            continue
        if any(str(directory) in arg for arg in args):
            found[int(cmdline.parent.name)] = " ".join(args)
    return found


def _warm_processes(cwd: Path) -> list[int]:
    """The gpu_pool warm processes (worker.py) started from `cwd` still running."""
    found = []
    for pid in _processes_in(Path("hydra_plugins.gan_runner_gpu_pool.worker")):
        try:
            if Path(f"/proc/{pid}/cwd").resolve() == cwd.resolve():
                found.append(pid)
        except OSError:  # it ended meanwhile
            pass
    return found


def _in_a_terminal(args: list[str], cwd: Path) -> tuple[subprocess.Popen, int]:
    """`args` started as a login shell starts a command: in a session of its own, on a terminal (a
    pseudo-terminal) that it controls. Closing the returned terminal end hangs it up, as a closed
    terminal window or ssh session does: the kernel sends the command SIGHUP, and its console is gone."""
    terminal, console = pty.openpty()
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        stdin=console,
        stdout=console,
        stderr=console,
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(console)
    return proc, terminal


def _wait_for(what: str, found, timeout: float = 120):
    end = time.time() + timeout
    while not (result := found()):
        assert time.time() < end, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    now = most = 0
    for _, change in events:
        now += change
        most = max(most, now)
    return most


@pytest.mark.slow
def test_cpu_slots_run_two_jobs_at_a_time(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m",
        "trainer.seed=0,1,2,3",
        *JOB,
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        check=True,
    )
    assert "4 completed; summary.md there" in proc.stdout
    jobs = [[f"trainer.seed={i}", *JOB] for i in range(4)]
    results = _results(sweep, jobs)
    assert sorted(results) == [0, 1, 2, 3] and {r["status"] for r in results.values()} == {
        "completed"
    }
    # measured from the jobs' own clocks: two train at once, never more
    assert _most_at_once([(r["started"], r["ended"]) for r in results.values()]) == 2
    # each slot is offered half the cores (OMP_NUM_THREADS); the toy nets take one (trainer.threads)
    assert {r["host"]["torch_threads"] for r in results.values()} == {1}
    assert [r["overrides"][0] for r in (results[i] for i in range(4))] == [
        f"trainer.seed={i}" for i in range(4)
    ]
    assert (
        (job_dir(sweep, 0, *jobs[0]) / "launcher.log")
        .read_text()
        .rstrip()
        .endswith(f"Outputs in {job_dir(sweep, 0, *jobs[0])}")
    )


@pytest.mark.slow
def test_a_slots_next_job_starts_in_a_warm_process_with_the_same_numbers(tmp_path):
    """While a slot's job runs, its next job's process imports torch, Hydra and gan-runner; the job it
    then runs is the same run a fresh process makes (bit for bit: job 2 repeats job 0's settings), and
    no warm process outlives the sweep. The sweep's directory is relative: a warm job runs where the
    sweep was started, as a fresh one does."""
    from conftest import assert_same_tensors, load_state

    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m",
        "trainer.seed=0,1,0",
        "trainer.steps=60",
        "trainer.batch_size=64",
        "metrics.n_samples=500",
        "trainer.device=cpu",
        "hydra/launcher=gpu_pool",
        "hydra.launcher.n_jobs=1",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
        check=True,
    )
    out = proc.stdout + proc.stderr
    assert (
        "#0 on slot 0 (pid" in out and ", warm)" not in out.split("#1 on slot")[0]
    )  # the first: a fresh process
    assert all(
        f"#{i} on slot 0 (pid" in out
        and out.split(f"#{i} on slot 0 (pid")[1].split(")")[0].endswith(", warm")
        for i in (1, 2)
    )
    jobs = [
        [
            f"trainer.seed={i}",
            "trainer.steps=60",
            "trainer.batch_size=64",
            "metrics.n_samples=500",
            "trainer.device=cpu",
        ]
        for i in (0, 1, 0)
    ]
    results = _results(sweep, jobs)
    assert [results[i]["status"] for i in range(3)] == ["completed"] * 3
    assert results[2]["history"] == results[0]["history"]
    cold, warm = load_state(job_dir(sweep, 0, *jobs[0])), load_state(job_dir(sweep, 2, *jobs[2]))
    assert_same_tensors(cold["objects"], warm["objects"])
    other = load_state(job_dir(sweep, 1, *jobs[1]))["objects"]["G"]
    assert not all(
        torch.equal(other[k], cold["objects"]["G"][k]) for k in other
    )  # a seed of its own
    assert (
        "Outputs in" in (job_dir(sweep, 2, *jobs[2]) / "launcher.log").read_text()
    )  # its output where a job's goes
    for i in range(3):
        hydra = yaml.safe_load((job_dir(sweep, i, *jobs[i]) / ".hydra" / "hydra.yaml").read_text())[
            "hydra"
        ]
        assert hydra["runtime"]["cwd"] == str(tmp_path)
    assert _warm_processes(tmp_path) == []


@pytest.mark.slow
@pytest.mark.slow
def test_a_warm_worker_runs_its_job_in_the_directory_the_job_names(tmp_path):
    """The worker is started elsewhere (here: /); its job's relative log file and the application's
    working directory are the sweep's, as a fresh job process's would be."""
    import json
    import subprocess
    import sys

    (tmp_path / "app.py").write_text(
        "import os\nopen('where.txt', 'w').write(os.getcwd())\nprint('ran')\n"
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "hydra_plugins.gan_runner_gpu_pool.worker"],
        cwd="/",
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    job = {"argv": [str(tmp_path / "app.py")], "log": "job.log", "cwd": str(tmp_path)}
    worker.communicate(json.dumps(job).encode() + b"\n", timeout=120)
    assert worker.returncode == 0
    assert (tmp_path / "where.txt").read_text() == str(tmp_path)
    assert (tmp_path / "job.log").read_text() == "ran\n"


def test_gpu_slots_and_a_failing_job(tmp_path):
    sweep = tmp_path / "sweep"
    jobs = [[f"trainer.steps={n}", *JOB[1:]] for n in (600, 610, 620, 630)]
    job_dir(sweep, 3, *jobs[3]).mkdir(parents=True)  # an earlier attempt's report, not this one's
    (job_dir(sweep, 3, *jobs[3]) / "results.json").write_text(
        '{"status": "completed", "step": 600, "note": "", "ended": 0}'
    )
    (job_dir(sweep, 3, *jobs[3]) / "checkpoints").mkdir()
    (job_dir(sweep, 3, *jobs[3]) / "checkpoints" / "last.pt").write_bytes(b"garbled")
    # every point's config is sound (the sweep's pre-flight lets it start); job 3's unreadable
    # checkpoint fails its own pre-flight: one failed job of four.
    # The launcher was given GPUs 5 and 7 (as by Slurm): its ids 0 and 1 are those (no GPU needed here).
    proc = run_cli(
        "-m",
        "trainer.steps=600,610,620,630",
        *JOB[1:],
        "hydra.launcher.gpus=[0,1]",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": "5,7"},
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "3 completed, 1 failed; summary.md there" in proc.stdout
    results = _results(sweep, jobs)
    assert {i: r["status"] for i, r in results.items()} == {
        0: "completed",
        1: "completed",
        2: "completed",
        3: "failed",
    }
    results.pop(3)
    # each job saw only its own slot's GPU; two jobs that ran at the same time had different ones
    slots = {i: r["host"]["CUDA_VISIBLE_DEVICES"] for i, r in results.items()}
    assert set(slots.values()) <= {"5", "7"}
    for i in results:
        for j in results:
            if (
                i < j
                and _most_at_once([(results[k]["started"], results[k]["ended"]) for k in (i, j)])
                == 2
            ):
                assert slots[i] != slots[j]
    assert _most_at_once([(r["started"], r["ended"]) for r in results.values()]) == 2
    rows = {r["run"]: r for r in csv.DictReader((sweep / "summary.csv").open())}
    names = [job_dir(sweep, i, *job).name for i, job in enumerate(jobs)]
    assert [rows[n]["status"] for n in names] == ["completed", "completed", "completed", "failed"]
    assert (
        "checkpoint" in rows[names[3]]["note"] and rows[names[3]]["trainer.steps"] == "630"
    )  # why, from its log
    assert "4 runs: 3 completed, 1 failed" in (sweep / "summary.md").read_text()
    assert (job_dir(sweep, 3, *jobs[3]) / "results.previous.json").exists()


@pytest.mark.parametrize("launcher", ["gpu_pool", "slurm"])
def test_launcher_configs_compose(launcher):
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("train", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    assert isinstance(instantiate(cfg.hydra.launcher), Launcher)
    if launcher == "slurm":  # requeued on time-out, one GPU per job
        assert cfg.hydra.launcher.max_num_timeout > 0 and cfg.hydra.launcher.gpus_per_node == 1


@pytest.mark.parametrize(
    "bad,message",
    [
        (["hydra.launcher.gpus=[]"], "hydra.launcher.gpus=[] names no GPU: give the ids"),
        (["hydra.launcher.n_jobs=0"], "hydra.launcher.n_jobs=0 leaves the sweep no slot"),
        (
            ["hydra.launcher.gpus=[0]", "hydra.launcher.jobs_per_gpu=0"],
            "hydra.launcher.jobs_per_gpu=0 leaves the GPUs no slot",
        ),
    ],
)
def test_gpu_pool_rejects_empty_pools(tmp_path, bad, message):
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m",
        "trainer.seed=0,1",
        "hydra/launcher=gpu_pool",
        *bad,
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    paragraph, *rest = proc.stderr.strip().split("\n\n")  # one paragraph, then at most Hydra's hint
    assert paragraph.startswith(message) and "\n" not in paragraph, proc.stderr
    assert all(
        hint.startswith("Set the environment variable HYDRA_FULL_ERROR=1") for hint in rest
    ), proc.stderr
    assert "Traceback" not in proc.stderr and "Error in call to target" not in proc.stderr
    assert not sweep.exists() and os.listdir(tmp_path) == []  # nothing started, nothing made


@pytest.mark.slow
def test_gpus_shared_by_several_jobs(tmp_path):
    # one GPU with two slots, the launcher given GPU 5 (as by Slurm): two jobs at once, both on it
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m",
        "trainer.seed=0,1",
        *JOB,
        "hydra.launcher.gpus=[0]",
        "hydra.launcher.jobs_per_gpu=2",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        check=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": "5"},
    )
    threads = max(1, os.cpu_count() // 2)
    offered = f"{threads} thread{'s' * (threads > 1)} each"
    assert f"gpu_pool: 2 jobs on GPUs ['5', '5'], {offered}" in proc.stdout + proc.stderr
    results = _results(sweep, [[f"trainer.seed={i}", *JOB] for i in range(2)])
    assert sorted(results) == [0, 1] and {r["status"] for r in results.values()} == {"completed"}
    assert {r["host"]["CUDA_VISIBLE_DEVICES"] for r in results.values()} == {"5"}
    assert {r["host"]["torch_threads"] for r in results.values()} == {1}  # the toy nets' default
    assert _most_at_once([(r["started"], r["ended"]) for r in results.values()]) == 2


@pytest.mark.slow
def test_a_job_killed_without_a_report_is_failed_with_how_and_its_last_lines(tmp_path):
    # job 0 is killed (kill -9, as by the out-of-memory killer) while it trains; job 1 runs all the same
    sweep, out = tmp_path / "sweep", tmp_path / "out.txt"
    with open(out, "w") as console:
        proc = subprocess.Popen(
            [
                str(BIN / "gan-runner"),
                "-m",
                "trainer.steps=100000,20",
                *ENDLESS[1:],
                "metrics.n_samples=100",
                "hydra/launcher=gpu_pool",
                "hydra.launcher.n_jobs=1",
                f"hydra.sweep.dir={sweep}",
            ],
            cwd=tmp_path,
            stdout=console,
            stderr=subprocess.STDOUT,
        )
    jobs = [[f"trainer.steps={n}", *ENDLESS[1:], "metrics.n_samples=100"] for n in (100000, 20)]
    try:
        log = job_dir(sweep, 0, *jobs[0]) / "train.log"
        _wait_for("job 0 to train", lambda: log.exists() and "step 20/" in log.read_text())
        [pid] = _processes_in(
            job_dir(sweep, 0, *jobs[0])
        )  # the job (its hydra.run.dir), a child of the launcher
        os.kill(pid, signal.SIGKILL)
        assert proc.wait(timeout=120) == 1, out.read_text()
    finally:
        proc.kill()
    results = _results(sweep, jobs)
    assert results[1]["status"] == "completed"
    assert results[0]["status"] == "failed" and results[0]["overrides"][0] == "trainer.steps=100000"
    how, said = results[0]["note"].split("\n", 1)
    assert how == (
        "killed by SIGKILL (by hand, or by the out-of-memory killer) without writing results.json; "
        "the last lines of its launcher.log:"
    )
    console_lines = [
        line
        for line in (job_dir(sweep, 0, *jobs[0]) / "launcher.log").read_text().splitlines()
        if line.strip()
    ]
    assert (
        said.splitlines() == console_lines[-5:] and "step 20/100000" in said
    )  # a few lines, not one
    assert (
        f"#0 on slot 0 (pid {pid})" in out.read_text()
        and "#0 failed (killed by SIGKILL" in out.read_text()
    )
    [row] = [
        line
        for line in (sweep / "summary.md").read_text().splitlines()
        if line.startswith(f"| {job_dir(sweep, 0, *jobs[0]).name} |")
    ]
    assert (
        "| failed |" in row and "killed by SIGKILL" in row and " ⏎ " in row
    )  # the lines, in one row
    assert "2 runs: 1 completed, 1 failed" in (sweep / "summary.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize(
    "when,how",
    [
        ("training", "SIGTERM"),
        ("training", "SIGINT"),
        ("training", "SIGUSR1"),
        ("training", "SIGUSR2"),
        ("training", "a closed terminal"),
        ("starting", "SIGTERM"),
    ],
)
def test_a_stopped_sweep_saves_its_running_job_and_cancels_the_rest(tmp_path, when, how):
    """A signal to the launcher alone (kill -TERM/-INT/-USR1/-USR2 PID), or the hang-up of the terminal
    it runs in (SIGHUP, passed on to the jobs as SIGTERM: a HUP would kill them unsaved), stops the
    sweep: the running job saves, the others are cancelled, nothing is left running."""
    sweep = tmp_path / "sweep"
    args = [
        str(BIN / "gan-runner"),
        "-m",
        "trainer.seed=0,1,2",
        *ENDLESS,
        "hydra/launcher=gpu_pool",
        "hydra.launcher.n_jobs=1",
        f"hydra.sweep.dir={sweep}",
    ]
    if how == "a closed terminal":
        proc, terminal = _in_a_terminal(args, tmp_path)
    else:
        proc = subprocess.Popen(
            args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    jobs = [[f"trainer.seed={i}", *ENDLESS] for i in range(3)]
    log = job_dir(sweep, 0, *jobs[0]) / ("train.log" if when == "training" else "launcher.log")
    _wait_for(
        f"job 0 {when}",
        lambda: log.exists() and (when == "starting" or "step 10/" in log.read_text()),
    )
    if how == "a closed terminal":
        os.close(terminal)  # the launcher gets SIGHUP, and its console is gone
        out, received, passed_on = "", "SIGHUP", "SIGTERM"
        proc.wait(timeout=120)
    else:
        proc.send_signal(getattr(signal, how))
        out, _ = proc.communicate(timeout=120)
        received = passed_on = how
    assert proc.returncode == 1, out
    results = _results(sweep, jobs)
    assert (
        results[0]["status"] == "interrupted"
    )  # saved, or (starting) stopped before it could train
    if when == "training":
        assert results[0]["note"].startswith(f"{passed_on}: stopped after step")
    assert [results[i]["status"] for i in (1, 2)] == ["cancelled", "cancelled"]
    assert {results[i]["note"] for i in (1, 2)} == {f"not started: the sweep got {received}"}
    assert "3 runs: 1 interrupted, 2 cancelled" in (sweep / "summary.md").read_text()
    assert (
        _processes_in(sweep) == {} and _warm_processes(tmp_path) == []
    )  # no job left running, nor a warm one


@pytest.mark.slow
def test_a_stop_reaches_a_job_running_in_a_warm_process(tmp_path):
    """Job 1 runs in the process that warmed up during job 0: a SIGTERM to the launcher reaches it
    (it saves), job 2 is cancelled, and neither a job nor a warm process is left."""
    sweep = tmp_path / "sweep"
    proc = subprocess.Popen(
        [
            str(BIN / "gan-runner"),
            "-m",
            "trainer.steps=20,100000,100000",
            *ENDLESS[1:],
            "hydra/launcher=gpu_pool",
            "hydra.launcher.n_jobs=1",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    jobs = [[f"trainer.steps={n}", *ENDLESS[1:]] for n in (20, 100000, 100000)]
    log = job_dir(sweep, 1, *jobs[1]) / "train.log"
    _wait_for("job 1 to train", lambda: log.exists() and "step 10/" in log.read_text())
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out
    assert out.split("#1 on slot 0 (pid")[1].split(")")[0].endswith(", warm")
    results = _results(sweep, jobs)
    assert [results[i]["status"] for i in range(3)] == ["completed", "interrupted", "cancelled"]
    assert results[1]["note"].startswith("SIGTERM: stopped after step")
    assert _processes_in(sweep) == {} and _warm_processes(tmp_path) == []


@pytest.mark.slow
def test_jobs_get_the_sweeps_hydra_settings(tmp_path):
    sweep = tmp_path / "sweep"
    run_cli(
        "-m",
        "trainer.seed=0,1",
        "trainer.steps=20",
        "hydra/launcher=gpu_pool",
        "hydra.job.name=ring",
        "hydra.sweep.subdir=job${hydra.job.num}",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        check=True,
    )
    for seed in (0, 1):
        job = sweep / f"job{seed}"
        assert (job / "ring.log").exists() and json.loads((job / "results.json").read_text())[
            "status"
        ] == "completed"
        assert f"num: {seed}" in (job / ".hydra" / "hydra.yaml").read_text()


def test_job_directory_names():
    from gan_runner.run_dir import job_dirname

    assert (
        job_dirname("loss=lsgan,trainer.seed=0", 3) == "3_loss=lsgan,trainer.seed=0"
        and job_dirname("", 3) == "3"
    )
    assert (
        job_dirname("+experiment/lens=tempered,dataset.root=/data/x", 0)
        == "0_+experiment.lens=tempered,dataset.root=.data.x"
    )
    long = [job_dirname(f"{'optimizer.g.lr=0.001,' * 12}trainer.seed={i}", 0) for i in (0, 1)]
    assert long[0] != long[1] and all(
        len(n.encode()) <= 200 for n in long
    )  # cut, and still one per job
    assert len(job_dirname("dataset.root=" + "é" * 180, 7).encode()) <= 200  # bytes, not characters


@pytest.mark.slow
def test_basic_launcher_sweep_summary_names_the_failure(tmp_path):
    sweep = tmp_path / "sweep"
    # a sound config whose job fails its own pre-flight (no such device: the sweep's check of its
    # points is the config's; the machine's is the job's)
    devices = ("cpu", "mps")  # Apple's GPU, refused on Linux by the job's pre-flight
    proc = run_cli(
        "-m",
        "trainer.steps=5",
        "trainer.device=cpu,mps",
        "metrics.n_samples=100",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    jobs = [["trainer.steps=5", f"trainer.device={d}", "metrics.n_samples=100"] for d in devices]
    results = _results(sweep, jobs)
    assert results[0]["status"] == "completed"
    assert results[1]["status"] == "failed" and "trainer.device=mps" in results[1]["note"]
    assert "2 runs: 1 completed, 1 failed" in (sweep / "summary.md").read_text()


@pytest.mark.slow
def test_gpus_this_machine_lacks_are_refused_before_the_sweep_starts(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    proc = run_cli(
        "-m",
        "trainer.seed=0,1",
        "hydra/launcher=gpu_pool",
        "hydra.launcher.gpus=[0,1,2,3]",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
        env=env,
    )
    import torch

    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert (
        f"hydra.launcher.gpus=[0, 1, 2, 3] names GPUs this machine does not have: this process sees "
        f"{torch.cuda.device_count()} GPU" in proc.stderr
    )
    assert not (tmp_path / "sweep").exists()  # nothing started, nothing made


def test_slurm_where_there_is_none_is_one_paragraph(tmp_path):
    bin_dir = tmp_path / "bin"  # a PATH without sbatch
    bin_dir.mkdir()
    proc = run_cli(
        "-m",
        "trainer.seed=0",
        "hydra/launcher=slurm",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
        env={**os.environ, "PATH": str(bin_dir)},
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert (
        "hydra/launcher=slurm submits through sbatch, which is not on this machine's PATH"
        in proc.stderr
    )
    assert not (tmp_path / "sweep").exists()


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["basic", "gpu_pool"])
def test_a_sweep_job_never_continues_another_experiments_checkpoint(tmp_path, launcher):
    """A job whose directory holds another config's checkpoint is refused like a single run: the run
    there keeps its record, checkpoint and report (kept aside); the sweep says why and exits 1."""
    sweep = tmp_path / "sweep"
    common = [
        "trainer.steps=20",
        "metrics.n_samples=100",
        f"hydra/launcher={launcher}",
        f"hydra.sweep.dir={sweep}",
        "hydra.sweep.subdir=${hydra.job.num}",
    ]  # numbered job directories: the second sweep meets the first's
    run_cli("-m", "loss=minimax", *common, cwd=tmp_path, check=True)
    job = sweep / "0"
    kept = {
        p: p.read_bytes() for p in [*(job / ".hydra").iterdir(), job / "checkpoints" / "last.pt"]
    }
    first = (job / "results.json").read_bytes()
    proc = run_cli("-m", "loss=lsgan", *common, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert {
        p: p.read_bytes() for p in kept
    } == kept  # the minimax run's record and weights, untouched
    assert (job / "results.previous.json").read_bytes() == first
    results = json.loads((job / "results.json").read_text())
    assert (
        results["status"] == "failed"
        and "holds a checkpoint trained with other settings (loss._target_: "
        "gan_runner.losses.minimax -> gan_runner.losses.lsgan"
        in results["note"]
    )
    assert "1 run: 1 failed" in (sweep / "summary.md").read_text()
    assert "resumed from" not in (job / "train.log").read_text()


def test_a_stopped_continuation_leaves_finished_jobs_finished(tmp_path):
    """A continued sweep that is stopped before it gets to a job that had finished says nothing over
    that job's report (it is still finished); a job it never started and that had not finished is
    reported cancelled, its earlier report kept aside."""
    from gan_runner.run_dir import CANCELLED, RunDir, read_results, report, write_results

    done, cut = RunDir(tmp_path / "0"), RunDir(tmp_path / "1")
    for run, status in ((done, "completed"), (cut, "interrupted")):
        run.path.mkdir()
        write_results(
            run,
            status,
            overrides=["trainer.seed=0"],
            step=10,
            steps=20,
            history=[{"step": 10, "kl": 1.0}],
        )
    for run in (done, cut):
        report(run, CANCELLED, "not started: the sweep got SIGTERM", ["trainer.seed=0"])
    assert read_results(done)["status"] == "completed" and not done.previous_results.exists()
    assert read_results(cut)["status"] == "cancelled"
    assert json.loads(cut.previous_results.read_text())["status"] == "interrupted"
