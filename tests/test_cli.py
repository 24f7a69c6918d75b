"""The command line end to end: a run's directory, gan-runner-sample, --cfg, SIGTERM and resume."""

import json
import re
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import BIN, FAST, assert_same_tensors, load_state, run_cli
from gan_runner.errors import UserError


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("cli")
    proc = run_cli(*FAST, cwd=cwd, check=True)
    where = re.search(r"completed at step 40\. Outputs in (\S+)", proc.stdout)
    assert where, proc.stdout
    path = cwd / where.group(1)
    assert path.parent.parent == cwd / "outputs"  # outputs/<date>/<time>
    return path


@pytest.mark.slow
def test_a_run_directory_holds_everything(run_dir):
    for name in (
        ".hydra/config.yaml",
        ".hydra/overrides.yaml",
        "train.log",
        "results.json",
        "checkpoints/last.pt",
        "samples/step_0000040.png",
    ):
        assert (run_dir / name).is_file(), name
    assert list(run_dir.glob("events.out.tfevents.*"))
    assert (
        "step 40/40" in (run_dir / "train.log").read_text()
    )  # plain log lines when not on a terminal


@pytest.mark.slow
def test_sample_writes_npy_and_png(run_dir, tmp_path):
    run_cli(
        str(run_dir),
        "--num",
        "300",
        "--out",
        str(tmp_path / "s.npy"),
        cwd=tmp_path,
        tool="gan-runner-sample",
        check=True,
    )
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (300, 2) and np.isfinite(x).all()
    run_cli(
        str(run_dir),
        "--num",
        "300",
        "--out",
        str(tmp_path / "s.png"),
        cwd=tmp_path,
        tool="gan-runner-sample",
        check=True,
    )
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    bad = run_cli(str(tmp_path), "--out", "x.npy", cwd=tmp_path, tool="gan-runner-sample")
    assert (
        bad.returncode != 0
        and "holds no trained run" in bad.stderr
        and "Traceback" not in bad.stderr
    )


def test_cfg_job_shows_the_composed_config(tmp_path):
    proc = run_cli("--cfg", "job", "loss=lsgan", cwd=tmp_path, check=True)
    assert "_target_: gan_runner.losses.lsgan" in proc.stdout and "d_steps: 1" in proc.stdout
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_resume_continues_a_finished_run_with_more_steps(run_dir):
    proc = run_cli(f"resume={run_dir}", "trainer.steps=60", cwd=run_dir.parent, check=True)
    assert f"completed at step 60. Outputs in {run_dir}" in proc.stdout
    results = json.loads((run_dir / "results.json").read_text())
    assert results["step"] == 60 and "trainer.batch_size=64" in results["overrides"]
    assert "resumed from" in (run_dir / "train.log").read_text()


@pytest.mark.slow
def test_a_rejected_resume_leaves_the_run_as_it_was(run_dir):
    files = [
        run_dir / "results.json",
        run_dir / ".hydra" / "overrides.yaml",
        run_dir / ".hydra" / "config.yaml",
    ]
    before = [f.read_bytes() for f in files]
    for args, phrase in (
        (["loss=hinge"], "holds a checkpoint trained with other settings (loss._target_"),
        (["trainer.steps=5"], "beyond trainer.steps=5"),
        (["optimizer.d.lr=-1"], "must be a finite number > 0"),
    ):
        proc = run_cli(f"resume={run_dir}", *args, cwd=run_dir.parent)
        assert proc.returncode != 0 and phrase in proc.stderr and "Traceback" not in proc.stderr, (
            proc.stderr
        )
    assert [f.read_bytes() for f in files] == before


@pytest.mark.slow
def test_sigterm_saves_and_the_run_resumes_to_the_same_numbers(tmp_path):
    args = [
        *FAST,
        "trainer.steps=4000",
        "trainer.log_every=50",
        "trainer.eval_every=1000",
        "trainer.sample_every=0",
        "trainer.ckpt_every=1000",
    ]
    ref = tmp_path / "ref"
    run_cli(*args, f"hydra.run.dir={ref}", cwd=tmp_path, check=True)

    run = tmp_path / "run"
    proc = subprocess.Popen(
        [str(BIN / "gan-runner"), *args, f"hydra.run.dir={run}"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in proc.stdout:
        if "step 300/4000" in line:
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.stdout.read()
    assert proc.wait(timeout=120) == 0, rest
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "interrupted" and 300 <= results["step"] < 4000, results
    assert "SIGTERM" in results["note"]
    assert load_state(run)["meta"]["step"] == results["step"]

    run_cli(f"resume={run}", cwd=tmp_path, check=True)
    assert json.loads((run / "results.json").read_text())["status"] == "completed"
    assert_same_tensors(load_state(ref)["objects"], load_state(run)["objects"])


@pytest.mark.slow
def test_a_closed_console_changes_nothing_the_run_records(tmp_path):
    """`gan-runner ... | head -12`: the run goes on to the end and reports completed. A line every
    step: far more than a pipe's buffer (64 KiB), so the run does write to the closed pipe."""
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [
            str(BIN / "gan-runner"),
            *FAST,
            "trainer.steps=2000",
            "trainer.log_every=1",
            f"hydra.run.dir={run}",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    for _ in range(12):
        proc.stdout.readline()
    proc.stdout.close()  # as head does when it has its lines
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and b"Traceback" not in err, err.decode()
    results = json.loads((run / "results.json").read_text())
    assert (results["status"], results["step"]) == ("completed", 2000)


@pytest.fixture(scope="module")
def preset_run(tmp_path_factory):
    """A run composed from a user's own --config-dir preset."""
    cwd = tmp_path_factory.mktemp("presets")
    (cwd / "mine" / "experiment").mkdir(parents=True)
    (cwd / "mine" / "experiment" / "small_lsgan.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /loss: lsgan\ntrainer:\n  steps: 20\n  batch_size: 32\n"
    )
    run_cli(
        "-cd",
        "mine",
        "+experiment=small_lsgan",
        *FAST[3:],
        "trainer.steps=20",
        "hydra.run.dir=run",
        cwd=cwd,
        check=True,
    )
    return cwd, cwd / "run"


@pytest.mark.slow
@pytest.mark.parametrize(
    "before,after",
    [(["--cfg", "job"], []), (["-cd", "mine"], []), ([], ["--config-dir", "mine"]), ([], [])],
)
def test_resume_takes_hydras_flags_and_the_runs_own_config_dir(preset_run, before, after, tmp_path):
    """Started from elsewhere, with or without Hydra's flags on either side: the run's recorded config
    dir (or the one given, relative to where the command runs) makes it compose as it did."""
    cwd, run = preset_run
    (tmp_path / "mine").symlink_to(cwd / "mine")  # a relative -cd means the caller's directory
    recorded = yaml.safe_load((run / ".hydra" / "hydra.yaml").read_text())["hydra"]["runtime"][
        "config_sources"
    ]
    proc = run_cli(*before, f"resume={run}", *after, "trainer.steps=30", cwd=tmp_path, check=True)
    if before == ["--cfg", "job"]:
        assert "_target_: gan_runner.losses.lsgan" in proc.stdout and "steps: 30" in proc.stdout
    else:
        assert f"completed at step 30. Outputs in {run}" in proc.stdout, proc.stdout
        assert "gan_runner.losses.lsgan" in (run / ".hydra" / "config.yaml").read_text()
        given = (
            str(tmp_path / "mine")
            if "mine" in before + after
            else next(s["path"] for s in recorded if s["provider"] == "command-line")
        )
        assert (
            f"path: {given}\n" in (run / ".hydra" / "hydra.yaml").read_text()
        )  # and recorded for next time


@pytest.mark.slow
def test_eval_of_a_run_composed_from_a_users_config_dir(preset_run, tmp_path):
    _, run = preset_run
    proc = run_cli(
        str(run), "metrics.n_samples=100", cwd=tmp_path, tool="gan-runner-eval", check=True
    )
    assert set(json.loads(proc.stdout)["metrics"]) == {
        "modes",
        "high_quality",
        "kl",
        "modes_near",
        "clumps",
    }


def test_the_device_is_recorded(run_dir):
    results = json.loads((run_dir / "results.json").read_text())
    assert results["device"]["device"] == "cpu" and results["device"]["name"]
    assert f"device: cpu ({results['device']['name']})" in (run_dir / "train.log").read_text()


@pytest.mark.slow
def test_an_interrupted_run_says_how_to_resume(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [
            str(BIN / "gan-runner"),
            *FAST,
            "trainer.steps=100000",
            "trainer.log_every=50",
            f"hydra.run.dir={run}",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in proc.stdout:
        if "step 100/" in line:
            proc.send_signal(signal.SIGINT)
            break
    last = proc.stdout.read().strip().splitlines()[-1]
    assert proc.wait(timeout=120) == 0
    assert last.startswith("interrupted at step") and last.endswith(
        f"Continue it with: gan-runner resume='{run}'"
    )


def test_the_renamed_order_key(tmp_path):
    """trainer.update is now trainer.order: refused where it is set (the command line, a preset),
    with the new name, before anything is made."""
    (tmp_path / "mine" / "experiment").mkdir(parents=True)
    (tmp_path / "mine" / "experiment" / "old.yaml").write_text(
        "# @package _global_\ntrainer:\n  update: simultaneous\n"
    )
    for args in (["trainer.update=simultaneous"], ["-cd", "mine", "+experiment=old"]):
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "trainer.update='simultaneous': was renamed trainer.order" in proc.stderr
    assert not (tmp_path / "outputs").exists()


TYPOS = {  # an override's mistake -> what the one paragraph must say
    ("loss=lsgann",): "loss has no option 'lsgann'. Did you mean lsgan?",
    ("+experiment=unroled_ring",): "Did you mean unrolled_ring?",
    ("trainer.step=10",): "Unknown key 'trainer.step'. Did you mean trainer.steps",
    ("+trainer.step=10",): "Unknown key 'trainer.step'. Did you mean trainer.steps",
    ("trainer.steps=ten",): "trainer.steps=ten: trainer.steps takes an integer.",
    ("trainer.order=simultanous",): "takes one of alternating, simultaneous",
    ("loss.a=-1",): "loss.a belongs to loss=lsgan: pick it first, e.g. loss=lsgan loss.a=-1.",
    ("lens.K=3",): "lens.K belongs to lens=tempered",
    ("los=lsgan",): "Did you mean loss?",
    ("trainer.steps=[1",): "Cannot read the override 'trainer.steps=[1'",
}


@pytest.mark.parametrize("overrides", list(TYPOS))
def test_a_typo_gets_one_paragraph_that_says_what_was_meant(overrides):
    from gan_runner.config.compose import compose
    from gan_runner.config.rules import validate

    with pytest.raises(UserError) as e:
        validate(compose(list(overrides)))
    message = str(e.value)
    assert TYPOS[overrides] in message and "\n" not in message, message
    assert "update" not in message  # the retired name is not offered


def test_the_command_line_says_it_too_and_a_sweeps_typo_stops_it_at_once(tmp_path):
    for args in (["loss=lsgann"], ["-m", "loss=lsgan,hinge", "trainer.stepz=3"]):
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 1 and "Did you mean" in proc.stderr, proc.stderr
        assert "HYDRA_FULL_ERROR" not in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("launcher", ["basic", "gpu_pool"])
def test_every_point_of_a_sweep_is_checked_before_its_first_job(tmp_path, launcher):
    """A bad value in the sweep's last point stops it before job 0 trains, under any launcher."""
    proc = run_cli(
        "-m",
        f"hydra/launcher={launcher}",
        "trainer.ema=0.5,1.5",
        *FAST,
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "point 2 of 2 (trainer.ema=1.5) is refused, before any job starts" in proc.stderr
    assert "trainer.ema=1.5: must be null (off) or in (0, 1)" in proc.stderr
    assert not (tmp_path / "sweep").exists()


def test_every_command_has_help_with_usage_and_examples(tmp_path):
    """`--help` of every command exits 0 and shows how to use it, with examples; gan-runner's lists the
    groups to pick from (not the schema's internal nodes), the presets and the other commands."""
    import tomllib

    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
        "scripts"
    ]
    for command in scripts:
        proc = run_cli("--help", cwd=tmp_path, tool=command)
        assert proc.returncode == 0, f"{command} --help: {proc.stderr}"
        assert "usage:" in proc.stdout and "examples:" in proc.stdout, f"{command}:\n{proc.stdout}"
    text = run_cli("--help", cwd=tmp_path).stdout
    assert "schema" not in text and "+experiment=NAME" in text and "unrolled_ring" in text
    assert "loss       hinge, lsgan, minimax, nonsaturating*, wgan_gp" in text
    assert all(c in text for c in scripts)


def test_a_single_runs_directory_is_named_by_its_overrides(tmp_path):
    """TensorBoard names a run by its directory: a single run's says its time and its overrides, as
    a sweep job's does; resume finds it by that name."""
    run_cli("loss=lsgan", *FAST, cwd=tmp_path, check=True)
    (run,) = (tmp_path / "outputs").glob("*/*")
    assert re.fullmatch(
        r"\d\d-\d\d-\d\d_loss=lsgan,metrics.n_samples=500,.*trainer.steps=40.*", run.name
    )
    proc = run_cli(f"resume={run}", "trainer.steps=50", cwd=tmp_path, check=True)
    assert "completed at step 50" in proc.stdout


def test_resume_keeps_the_defaults_a_run_had_when_they_have_changed_since(tmp_path):
    """The batch size, length and intervals follow the data and a later version may change their
    defaults: a run resumed without them continues with its own (its recorded config), not refused."""
    run = tmp_path / "run"
    run_cli(*FAST, "trainer.batch_size=32", f"hydra.run.dir={run}", cwd=tmp_path, check=True)
    overrides = run / ".hydra" / "overrides.yaml"  # as if 32 had been the default it ran with
    overrides.write_text(
        yaml.safe_dump([o for o in yaml.safe_load(overrides.read_text()) if "batch" not in o])
    )
    proc = run_cli(f"resume={run}", "trainer.steps=50", cwd=tmp_path, check=True)
    assert "completed at step 50" in proc.stdout
    assert json.loads((run / "results.json").read_text())["step"] == 50
