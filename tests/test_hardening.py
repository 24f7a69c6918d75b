"""Faults and bad files: unreadable checkpoints and run records, code smuggled into a run directory,
paths that need quoting, Ctrl-C during start-up, a corrupted metrics cache, temporary files of a
killed write, a degenerate run, folders that became read-only. Each ends in one message, with
nothing lost and nothing run that a file says."""

import json
import os
import pickle
import shutil
import subprocess
import time

import pytest
import torch

from conftest import FAST, make_cfg, run_cli
from gan_runner.metrics import cache
from gan_runner.trainer import train


def one_paragraph(proc: subprocess.CompletedProcess, phrase: str) -> None:
    assert proc.returncode not in (0, None), proc.stdout + proc.stderr
    assert phrase in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 20, proc.stderr


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("hardening")
    run_cli(*FAST, "trainer.steps=20", "hydra.run.dir=run", cwd=cwd, check=True)
    return cwd / "run"


@pytest.fixture
def run_copy(finished_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    return copy


def garble_checkpoint(path, how: str) -> None:
    data = path.read_bytes()
    if how == "zero bytes":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbled":
        path.write_bytes(data[:100] + bytes(b ^ 0x5A for b in data[100:2000]) + data[2000:])
    else:  # a pickle weights_only refuses: loaded without it, it would create PWNED beside the run

        class Payload:
            def __reduce__(self):
                return open, (str(path.parent.parent.parent / "PWNED"), "w")

        torch.save({"objects": {}, "rng": {}, "meta": Payload()}, path, pickle_module=pickle)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["zero bytes", "truncated", "garbled", "unsafe pickle"])
def test_an_unreadable_checkpoint_is_named_everywhere_and_nothing_changes(run_copy, how, tmp_path):
    garble_checkpoint(run_copy / "checkpoints" / "last.pt", how)
    before = {p: p.read_bytes() for p in run_copy.rglob("*") if p.is_file()}
    phrase = "will not unpickle" if how == "unsafe pickle" else "Cannot read the checkpoint"
    cases = {
        "resume": ([f"resume={run_copy}", "trainer.steps=40"], "gan-runner"),
        "pre-flight": ([*FAST, "trainer.steps=40", f"hydra.run.dir={run_copy}"], "gan-runner"),
        "sample": ([str(run_copy), "--out", str(tmp_path / "s.npy")], "gan-runner-sample"),
        "eval": ([str(run_copy)], "gan-runner-eval"),
    }
    for name, (args, tool) in cases.items():
        proc = run_cli(*args, cwd=tmp_path, tool=tool)
        one_paragraph(proc, phrase)
        assert "does not match this run's config" not in proc.stderr, name
    after = {p: p.read_bytes() for p in run_copy.rglob("*") if p.is_file()}
    assert (
        after == before and not (tmp_path / "PWNED").exists()
    )  # the completed results.json included
    assert json.loads((run_copy / "results.json").read_text())["status"] == "completed"


@pytest.mark.slow
@pytest.mark.parametrize(
    "file,content,phrase",
    [
        (".hydra/overrides.yaml", "- [unclosed\n  : :", "overrides.yaml is missing or unreadable"),
        (".hydra/overrides.yaml", "just: a mapping\n", "record (.hydra/) is garbled"),
        (
            ".hydra/hydra.yaml",
            "hydra:\n  runtime: {cwd: /tmp\n",
            "hydra.yaml is missing or unreadable",
        ),
        (".hydra/config.yaml", "model: [1, 2\n", "config.yaml is missing or unreadable"),
    ],
)
def test_corrupt_run_records_are_one_message(run_copy, tmp_path, file, content, phrase):
    (run_copy / file).write_text(content)
    tools = (
        [("gan-runner-sample", [str(run_copy), "--out", str(tmp_path / "s.npy")])]
        if "config" in file
        else [("gan-runner", [f"resume={run_copy}"]), ("gan-runner-eval", [str(run_copy)])]
    )
    for tool, args in tools:
        one_paragraph(run_cli(*args, cwd=tmp_path, tool=tool), phrase)


@pytest.mark.slow
def test_a_run_started_in_a_directory_that_is_gone_still_resumes(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    run_cli(*FAST, "trainer.steps=20", f"hydra.run.dir={tmp_path / 'run'}", cwd=gone, check=True)
    gone.rmdir()
    proc = run_cli(f"resume={tmp_path / 'run'}", "trainer.steps=30", cwd=tmp_path, check=True)
    assert f"was started in {gone}, which does not exist here" in proc.stderr
    assert "completed at step 30" in proc.stdout


def test_a_truncated_results_json_is_a_failed_row_not_a_crash(finished_run, tmp_path):
    sweep = tmp_path / "sweep"
    for job in "01":
        shutil.copytree(finished_run, sweep / job)
    (sweep / "1" / "results.json").write_text('{"status": "compl')
    proc = run_cli(str(sweep), "--metric", "kl", cwd=tmp_path, tool="gan-runner-table")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "(n=1) [1 failed]" in proc.stdout
    assert (
        "unreadable results.json"
        in run_cli(str(sweep), cwd=tmp_path, tool="gan-runner-table", check=True).stdout
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["it's a run", "ünïcödé run"])
def test_resume_paths_that_need_quoting(tmp_path, name):
    run = tmp_path / name
    run_cli(
        *FAST,
        "trainer.steps=20",
        f"hydra.run.dir='{str(run).replace(chr(39), chr(92) + chr(39))}'",
        cwd=tmp_path,
        check=True,
    )
    proc = run_cli(f"resume={run}", "trainer.steps=30", cwd=tmp_path, check=True)
    assert f"completed at step 30. Outputs in {run}" in proc.stdout


@pytest.mark.slow
def test_resume_replays_only_the_runs_own_settings(run_copy, tmp_path):
    """A recorded override that would instantiate something (here: open a file for writing), or set
    Hydra's own behaviour (here: where it writes its record), is not replayed, and resume says so;
    the run resumes from its own settings."""
    victim = tmp_path / "victim.txt"
    recorded = (run_copy / ".hydra" / "overrides.yaml").read_text()
    evil = [
        "+hydra.callbacks.x._target_=builtins.open",
        f"+hydra.callbacks.x._args_=['{victim}','w']",
        "+loss._target_=builtins.print",
        "hydra.output_subdir=smuggled",
    ]
    (run_copy / ".hydra" / "overrides.yaml").write_text(
        recorded + "".join(f"- {line}\n" for line in evil)
    )
    for tool, args in (
        ("gan-runner-eval", [str(run_copy)]),
        ("gan-runner", [f"resume={run_copy}", "trainer.steps=30"]),
    ):
        proc = run_cli(*args, cwd=tmp_path, tool=tool, check=True)
        assert not victim.exists()
        for line in evil:
            assert f"not replaying the recorded override {line!r}" in proc.stderr
    assert "completed at step 30" in proc.stdout and not (run_copy / "smuggled").exists()
    assert (
        "_target_" not in (run_copy / ".hydra" / "overrides.yaml").read_text()
    )  # the record is clean again


@pytest.mark.slow
def test_sample_refuses_a_config_that_names_other_code(run_copy, tmp_path):
    config = run_copy / ".hydra" / "config.yaml"
    config.write_text(config.read_text().replace("gan_runner.models.mlp.build", "os.system"))
    one_paragraph(
        run_cli(
            str(run_copy), "--out", str(tmp_path / "s.npy"), cwd=tmp_path, tool="gan-runner-sample"
        ),
        "model._target_='os.system' is not one of gan-runner's own targets",
    )


@pytest.mark.slow
def test_sample_refuses_a_foreign_target_inside_a_list(run_copy, tmp_path):
    """A list of the config (G's hidden widths) is instantiated item by item: a target in it is refused
    before anything is built, and the file it would open is never made."""
    config, victim = run_copy / ".hydra" / "config.yaml", tmp_path / "victim.txt"
    text = config.read_text()
    assert "    hidden:\n    - 128\n" in text
    config.write_text(
        text.replace(
            "    hidden:\n    - 128\n",
            f"    hidden:\n    - _target_: builtins.open\n      file: {victim}\n      mode: w\n",
            1,
        )
    )
    proc = run_cli(
        str(run_copy), "--out", str(tmp_path / "s.npy"), cwd=tmp_path, tool="gan-runner-sample"
    )
    one_paragraph(
        proc,
        "model.generator.hidden.0._target_='builtins.open' is not one of gan-runner's own targets",
    )
    assert not victim.exists() and not (tmp_path / "s.npy").exists()


# gan-runner, with a Ctrl-C (SIGINT to itself) at the start of one phase of its start-up
AT_PHASE = """import os, signal, sys
phase = sys.argv.pop(1)

def ctrl_c(then):
    def wrapped(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return then(*args, **kwargs)
    return wrapped

if phase == "importing torch":  # the task imports the trainer (torch) lazily: the signal lands inside that import
    import importlib.abc
    class Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch":
                os.kill(os.getpid(), signal.SIGINT)
    sys.meta_path.insert(0, Hook())
elif phase == "composing":
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    ConfigLoaderImpl.load_configuration = ctrl_c(ConfigLoaderImpl.load_configuration)
elif phase == "checking":
    from gan_runner.preflight import Preflight
    Preflight.on_run_start = ctrl_c(Preflight.on_run_start)
elif phase == "building the players":  # in the pre-flight, which hands them to the trainer
    from gan_runner import game
    game.players = ctrl_c(game.players)
else:
    from gan_runner import trainer
    trainer.Evaluator = ctrl_c(trainer.Evaluator)
from gan_runner import cli
cli.train()
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "phase",
    ["composing", "checking", "importing torch", "building the players", "preparing the metrics"],
)
def test_ctrl_c_during_start_up_exits_quietly(phase, tmp_path):
    """A Ctrl-C at each phase of start-up ends the command at once with the shell's status for it
    (130), no traceback, and no checkpoint or results written."""
    import sys

    (tmp_path / "at_phase.py").write_text(AT_PHASE)
    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "at_phase.py"), phase, *FAST, f"hydra.run.dir={run}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 130, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "KeyboardInterrupt" not in proc.stderr, proc.stderr
    assert not (run / "checkpoints").exists() and not (run / "results.json").exists()


@pytest.mark.parametrize("kind", ["statistics (.npz)", "classifier (.pt)"])
def test_a_corrupt_metrics_cache_entry_is_recomputed_once(tmp_path, caplog, kind):
    """With the cache's real formats: reference statistics (numpy) and classifiers (torch)."""
    import numpy as np

    calls = []

    def compute():
        calls.append(1)
        return (
            {"mu": np.arange(3.0), "sigma": np.eye(3)}
            if suffix == ".npz"
            else {"sigma": torch.eye(3), "classes": 10}
        )

    suffix = ".npz" if kind.startswith("statistics") else ".pt"
    if suffix == ".npz":
        suffix, save, load = ".npz", (lambda v, f: np.savez(f, **v)), (lambda p: dict(np.load(p)))
    else:
        suffix, save, load = (
            ".pt",
            (lambda v, f: torch.save(v, f)),
            (lambda p: torch.load(p, weights_only=True)),
        )
    path = cache.entry(tmp_path, "entry", {"k": 1}, suffix)
    first = cache.get_or_compute(path, {"k": 1}, compute, save, load)
    path.write_bytes(
        path.read_bytes()[: len(path.read_bytes()) // 2]
    )  # truncated by a killed machine
    with caplog.at_level("WARNING", logger="gan_runner"):
        again = cache.get_or_compute(path, {"k": 1}, compute, save, load)
        third = cache.get_or_compute(path, {"k": 1}, compute, save, load)
    assert len(calls) == 2  # computed once more, then read from the replaced entry
    for value in (again, third, load(path)):
        assert np.array_equal(np.asarray(value["sigma"]), np.asarray(first["sigma"]))
    assert len(caplog.records) == 1 and "unreadable" in caplog.records[0].message


def test_temporary_files_of_a_killed_write_are_removed_on_the_next_start(run_copy):
    stale = [run_copy / "checkpoints" / ".last.pt.ab12cd", run_copy / ".results.json.x9y8z7"]
    for path in stale:
        path.write_bytes(b"\0" * 1000)
        os.utime(path, (time.time() - 3600,) * 2)  # an hour old: its writer is long gone
    live = run_copy / ".eval.json.q1w2e3"  # a gan-runner-eval writing right now
    keep = run_copy / ".notes.txt"  # not ours
    for path in (live, keep):
        path.write_text("mine")
    train(make_cfg("trainer.steps=30"), run_copy)
    assert not any(p.exists() for p in stale) and live.exists() and keep.exists()


def test_a_degenerate_run_is_diverged_not_completed(tmp_path):
    """lr = 1e4: within 100 steps Adam's second moment overflows; the run reported completed before
    the optimizers' state was checked."""
    out = train(
        make_cfg(
            "optimizer.d.lr=1e4",
            "optimizer.g.lr=1e4",
            "trainer.batch_size=512",
            "trainer.steps=100",
            "trainer.log_every=100",
            "trainer.eval_every=0",
            "trainer.sample_every=0",
        ),
        tmp_path,
    )
    assert (
        out.status == "diverged"
        and "non-finite loss, parameter or optimizer state at step" in out.note
    )


def test_health_reads_what_the_next_step_reads():
    """Finite losses and weights, an inf in Adam's state: not healthy (one check, no per-step sync)."""
    from gan_runner.trainer import Health

    net = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 2)).sum().backward()
    opt.step()
    health = Health([net], [opt], step=0)
    health.track({"loss/D": torch.tensor(1e13), "loss/G": torch.tensor(1.0)})
    assert health.problem(5) == ""
    opt.state[net.weight]["exp_avg_sq"][0, 0] = float("inf")
    assert "optimizer state at step 6 (all finite at step 5)" in health.problem(6)


@pytest.mark.parametrize("folder", ["checkpoints", "samples"])
def test_a_folder_the_run_cannot_write_in_is_found_before_training(run_copy, tmp_path, folder):
    """Root ignores permissions, so the folder is made unwritable for anyone: it points into /proc."""
    shutil.rmtree(run_copy / folder)
    (run_copy / folder).symlink_to("/proc/1")
    before = (run_copy / "results.json").read_bytes()
    one_paragraph(
        run_cli(f"resume={run_copy}", "trainer.steps=40", cwd=tmp_path),
        f"Cannot write in {run_copy / folder}",
    )
    assert (run_copy / "results.json").read_bytes() == before


def test_a_decompression_bomb_is_skipped_like_any_unreadable_image(tmp_path, monkeypatch):
    """PIL refuses an image over twice MAX_IMAGE_PIXELS (a bomb) with its own error, which is not an
    OSError: it is skipped with a warning, as a truncated file is. (The limit is lowered here so a
    100x100 image counts as a bomb.)"""
    from PIL import Image

    from gan_runner.data.folder import image_folder

    for i, size in enumerate((8, 100, 8)):
        Image.new("RGB", (size, size), (200, 0, 0)).save(tmp_path / f"img{i}.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.warns(UserWarning, match=r"skipping unreadable image .*img1\.png"):
        data = image_folder(
            str(tmp_path),
            resolution=8,
            channels=3,
            range=[-1, 1],
            in_memory=True,
            memory_gb=1,
            workers=0,
        )
    assert len(data) == 3 and torch.equal(data.images[1], data.images[2])  # its neighbour stood in


@pytest.mark.parametrize("where", ["primary config", "preset", "preset, --config-name given"])
def test_a_recorded_config_dir_cannot_run_code(run_copy, tmp_path, where):
    """hydra.yaml says which --config-dir and config name a run was composed from, and resume uses
    them; a config there that sets Hydra's callbacks (instantiated before any check) is refused."""
    victim, evil = tmp_path / "victim.txt", run_copy / "evil"
    callback = f"hydra:\n  callbacks:\n    x:\n      _target_: builtins.open\n      _args_: ['{victim}', 'w']\n"
    (evil / "experiment").mkdir(parents=True)
    (evil / "evil.yaml").write_text("defaults:\n  - train\n  - _self_\n" + callback)
    (evil / "experiment" / "evil.yaml").write_text("# @package _global_\n" + callback)
    hydra_yaml = run_copy / ".hydra" / "hydra.yaml"
    text = hydra_yaml.read_text().replace(
        "provider: main\n",
        f"provider: main\n    - path: {evil}\n      schema: file\n      provider: command-line\n",
        1,
    )
    if where == "primary config":
        text = text.replace("config_name: train", "config_name: evil")
    else:
        (run_copy / ".hydra" / "overrides.yaml").write_text(
            (run_copy / ".hydra" / "overrides.yaml").read_text() + "- +experiment=evil\n"
        )
    hydra_yaml.write_text(text)
    name = (
        ["--config-name", "train"] if "given" in where else []
    )  # the directory is still the record's
    proc = run_cli(*name, f"resume={run_copy}", "trainer.steps=30", cwd=tmp_path)
    one_paragraph(proc, "changes Hydra's callbacks or logging")
    assert not victim.exists()


@pytest.mark.slow
def test_an_interpolation_cannot_build_a_target(run_copy, tmp_path):
    """check_targets reads the config as instantiation would: resolved (oc.create builds nodes)."""
    config = run_copy / ".hydra" / "config.yaml"
    config.write_text(
        config.read_text().replace(
            "dataset:\n",
            "dataset:\n  x: \"${oc.create:'{_target_: builtins.print, _args_: [PWNED]}'}\"\n",
            1,
        )
    )
    proc = run_cli(
        str(run_copy), "--out", str(tmp_path / "s.npy"), cwd=tmp_path, tool="gan-runner-sample"
    )
    one_paragraph(
        proc, "dataset.x._target_='builtins.print' is not one of gan-runner's own targets"
    )
    assert "PWNED" not in proc.stdout
    from omegaconf import OmegaConf

    from gan_runner.config.rules import validate
    from gan_runner.errors import UserError

    with pytest.raises(
        UserError,
        match=r"lens.x._target_='builtins.print' is not one of gan-runner's own targets",
    ):
        validate(
            OmegaConf.create({"lens": {"x": "${oc.create:'{_target_: builtins.print}'}"}})
        )  # checked first


def test_every_missing_file_is_named_at_once_with_the_offline_ways(tmp_path):
    """CIFAR-10's files and the Inception weights both missing: one paragraph names both, and how to
    do without a download (the TorchScript Inception, the offline digits for MNIST)."""
    from gan_runner.config.compose import compose
    from gan_runner.errors import UserError
    from gan_runner.preflight import check

    cfg = compose(
        [
            "dataset=cifar10",
            "model=resnet",
            f"dataset.root={tmp_path}",
            f"metrics.fid.weights_path={tmp_path / 'absent.pth'}",
        ]
    )
    with pytest.raises(UserError) as e:
        check(cfg, scope="data")
    message = str(e.value)
    assert message.startswith("2 things stop this run: (1) ") and "\n" not in message
    assert "metrics.fid.backend=torchscript" in message and "cifar-10-batches-py" in message
    cfg = compose(["dataset=mnist", "model=dcgan28", f"dataset.root={tmp_path}"])
    with pytest.raises(UserError, match="gan-runner-digits writes 5,000 real MNIST digits"):
        check(cfg, scope="data")
