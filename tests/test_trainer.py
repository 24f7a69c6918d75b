"""The training loop: Algorithm 1, what a run writes, exact resume, divergence and failure."""

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from conftest import assert_same_tensors, load_state, make_cfg, run_cli
from gan_runner import losses, signals
from gan_runner.data.mixtures import GaussianMixture
from gan_runner.errors import UserError
from gan_runner.game import gan_game, players
from gan_runner.models.mlp import Generator
from gan_runner.trainer import train


def test_a_short_ring_run_writes_events_samples_results_and_checkpoint(tmp_path):
    out = train(make_cfg(), tmp_path, overrides=["trainer.steps=40"])
    assert (out.status, out.step) == ("completed", 40)

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "completed" and results["step"] == results["steps"] == 40
    assert set(results["final"]) == {
        "modes",
        "high_quality",
        "kl",
        "modes_near",
        "clumps",  # the modes metric's
        "train_loss_d",
        "train_loss_g",
        "train_d_real",
        "train_d_fake",
    }  # since the last log
    assert [h["step"] for h in results["history"]] == [20, 40]
    best = max(results["history"], key=lambda h: (h["modes"], h["high_quality"], -h["kl"]))
    assert results["best"] == {
        "step": best["step"],
        "by": ["modes", "high_quality", "kl"],
        "metrics": {k: v for k, v in best.items() if k != "step"},
        "checkpoint": "checkpoints/best.pt",
    }
    assert (
        results["device"] == {"device": "cpu", "name": results["device"]["name"]}
        and results["device"]["name"]
    )
    assert results["overrides"] == ["trainer.steps=40"] and results["wall_time_s"] > 0

    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "step_0000020.png",
        "step_0000040.png",
    ]
    assert (tmp_path / "samples" / "step_0000040.png").read_bytes()[:4] == b"\x89PNG"
    assert load_state(tmp_path)["meta"]["step"] == 40

    ea = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0}).Reload()
    tags = set(ea.Tags()["scalars"])
    assert {
        "loss/D",
        "loss/G",
        "D/real",
        "D/fake",
        "grad_norm/D",
        "grad_norm/G",
        "perf/steps_per_s",
        "metrics/modes",
        "metrics/high_quality",
        "metrics/kl",
    } <= tags
    assert [e.step for e in ea.Scalars("loss/D")] == [10, 20, 30, 40]
    assert [e.step for e in ea.Images("samples")] == [20, 40]
    hp = {
        tag: plugin_data_pb2.HParamsPluginData.FromString(content)
        for tag, content in ea.PluginTagToContent("hparams").items()
    }
    start = hp["_hparams_/session_start_info"].session_start_info.hparams
    assert start["trainer.steps"].number_value == 40 and not any(
        k.endswith("_target_") for k in start
    )
    assert start["trainer.order"].string_value == "alternating"
    metric_tags = {m.name.tag for m in hp["_hparams_/experiment"].experiment.metric_infos}
    assert metric_tags == {
        "metrics/modes",
        "metrics/high_quality",
        "metrics/kl",
        "metrics/modes_near",
        "metrics/clumps",
    }


@pytest.mark.slow
def test_tensorboard_names_a_sweeps_runs_by_their_overrides_and_their_groups_by_choice(tmp_path):
    """Job directories (TensorBoard's run names) say what each job changed; hparams hold the group
    choices, not `_target_` paths; the composed config is a text summary."""
    sweep = tmp_path / "sweep"
    run_cli(
        "-m",
        "loss=lsgan,hinge",
        "optimizer=lookahead_minmax",
        "+experiment/lens=tempered",
        "trainer.steps=20",
        "trainer.eval_every=0",
        "metrics.n_samples=200",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        check=True,
    )
    common = "+experiment.lens=tempered,{},metrics.n_samples=200,optimizer=lookahead_minmax,trainer.eval_every=0,trainer.steps=20"
    names = {p.name for p in sweep.iterdir() if p.is_dir()}
    assert names == {"0_" + common.format("loss=lsgan"), "1_" + common.format("loss=hinge")}
    ea = EventAccumulator(
        str(sweep / ("0_" + common.format("loss=lsgan"))), size_guidance={"tensors": 0}
    ).Reload()
    hp = {
        tag: plugin_data_pb2.HParamsPluginData.FromString(content)
        for tag, content in ea.PluginTagToContent("hparams").items()
    }
    start = hp["_hparams_/session_start_info"].session_start_info.hparams
    assert {
        k: start[k].string_value
        for k in ("loss", "optimizer", "lens", "model", "dataset", "experiment/lens")
    } == {
        "loss": "lsgan",
        "optimizer": "lookahead_minmax",
        "lens": "tempered",
        "model": "mlp",
        "dataset": "ring",
        "experiment/lens": "tempered",
    }
    assert not any(k.endswith("_target_") or k.startswith("hydra") for k in start)
    assert start["optimizer.lookahead.k"].number_value == 5 and start["loss.a"].number_value == 0
    [text] = ea.Tensors("config/text_summary")
    config = text.tensor_proto.string_val[0].decode()
    [units] = ea.Tensors("units/text_summary")  # what the scalars count in, beside them
    units = units.tensor_proto.string_val[0].decode()
    assert (
        "| metrics/modes | out of the data's modes |" in units and "| metrics/kl | nats |" in units
    )
    assert (
        "    loss:\n      _target_: gan_runner.losses.lsgan" in config and "    steps: 20" in config
    )


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        train(make_cfg(f"trainer.seed={seed}", "trainer.steps=10"), tmp_path / name)
    a, b, c = (load_state(tmp_path / n)["objects"] for n in "abc")
    assert_same_tensors(a, b)
    assert not torch.equal(a["G"]["net.0.weight"], c["G"]["net.0.weight"])


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("update", ["alternating", "simultaneous"])
def test_exact_resume(tmp_path, update, optimizer):
    """2N steps in one go ≡ N steps, stop, resume, N steps: bitwise, whatever the eval schedule."""
    common = [f"trainer.order={update}", "trainer.d_steps=2", f"optimizer={optimizer}"]
    train(make_cfg(*common, "trainer.steps=30", "trainer.eval_every=7"), tmp_path / "whole")
    train(make_cfg(*common, "trainer.steps=15", "trainer.eval_every=5"), tmp_path / "split")
    out = train(make_cfg(*common, "trainer.steps=30", "trainer.eval_every=5"), tmp_path / "split")
    assert out.step == 30 and [h["step"] for h in out.history] == [5, 10, 15, 20, 25, 30]
    whole, split = load_state(tmp_path / "whole"), load_state(tmp_path / "split")
    assert_same_tensors(whole["objects"], split["objects"])
    assert_same_tensors(whole["rng"], split["rng"])


@pytest.mark.parametrize("order", ["alternating", "simultaneous"])
def test_algorithm_1_takes_k_d_steps_on_fresh_batches(monkeypatch, order):
    """The game alone, no run directory: k D steps per iteration, each on a fresh real batch; in
    the simultaneous order the last of them shares its minibatch with G's step."""
    batches = []
    sample = GaussianMixture.sample
    monkeypatch.setattr(
        GaussianMixture, "sample", lambda self, n: batches.append(sample(self, n)) or batches[-1]
    )
    cfg = make_cfg("trainer.d_steps=3", f"trainer.order={order}")
    game = gan_game(cfg, *players(cfg, torch.device("cpu")), torch.device("cpu"))
    for step in range(1, 5):
        stats = game.iteration(step)
        assert {"loss/D", "loss/G", "D/real", "D/fake"} <= set(stats)
    assert len(batches) == 3 * 4  # one real batch per D step; the G step needs none
    assert len({b.sum().item() for b in batches}) == len(batches)  # all fresh


@pytest.mark.parametrize(
    "update,g_depends_on_d_lr", [("alternating", True), ("simultaneous", False)]
)
def test_alternating_vs_simultaneous(tmp_path, update, g_depends_on_d_lr):
    """Alternating: G steps against the updated D. Simultaneous: G's gradient is taken before D moves,
    so D's learning rate cannot change G's first step."""
    g = []
    for lr in ("1e-4", "0.5"):
        train(
            make_cfg(
                f"trainer.order={update}",
                f"optimizer.d.lr={lr}",
                "optimizer=sgd",
                "trainer.steps=1",
                "trainer.eval_every=0",
                "trainer.sample_every=0",
            ),
            tmp_path / lr,
        )
        g.append(load_state(tmp_path / lr)["objects"]["G"])
    same = all(torch.equal(g[0][k], g[1][k]) for k in g[0])
    assert same != g_depends_on_d_lr


def nan_loss_from_call(n: int) -> losses.Loss:
    """The non-saturating loss, whose generator half turns NaN from its n-th call on."""
    calls = {"n": 0}

    def g(logits):
        calls["n"] += 1
        return losses.bce_real(logits) * (float("nan") if calls["n"] >= n else 1.0)

    return losses.Loss(losses.bce_real, losses.bce_fake, g)


def test_non_finite_loss_ends_the_run_as_diverged(tmp_path, monkeypatch):
    monkeypatch.setattr(losses, "nonsaturating", lambda: nan_loss_from_call(13))
    # NaN from step 13; logs at 10, 20; checkpoints at 15, 30: the check before the step-15
    # checkpoint catches it, and no checkpoint is written
    out = train(
        make_cfg(
            "trainer.steps=40",
            "trainer.ckpt_every=15",
            "trainer.eval_every=0",
            "trainer.sample_every=0",
        ),
        tmp_path,
    )
    assert out.status == "diverged" and out.step == 15
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "diverged" and "step 15 (all finite at step 10)" in results["note"]
    assert not (tmp_path / "checkpoints" / "last.pt").exists()
    ea = EventAccumulator(str(tmp_path)).Reload()
    assert [e.step for e in ea.Scalars("loss/G")] == [10]  # nothing non-finite was logged
    start = plugin_data_pb2.HParamsPluginData.FromString(
        ea.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    ).session_start_info
    assert start.hparams["status"].string_value == "diverged"


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(losses, "nonsaturating", lambda: nan_loss_from_call(23))
    out = train(
        make_cfg("trainer.steps=40", "trainer.ckpt_every=15", "trainer.log_every=7"), tmp_path
    )
    assert out.status == "diverged" and out.step == 28  # checks at 7, 14, 15, 20, 21 pass; 28 fails
    saved = load_state(tmp_path)
    assert saved["meta"]["step"] == 15
    assert all(torch.isfinite(v).all() for v in saved["objects"]["G"].values())


def test_an_exception_is_reported_as_failed(tmp_path, monkeypatch):
    def broken(logits):
        raise RuntimeError("out of memory, say")

    monkeypatch.setattr(
        losses, "nonsaturating", lambda: losses.Loss(losses.bce_real, losses.bce_fake, broken)
    )
    with pytest.raises(RuntimeError, match="out of memory"):
        train(make_cfg(), tmp_path)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "failed" and "out of memory" in results["note"]


def test_a_mismatched_checkpoint_is_a_clear_config_error_and_reports_nothing(tmp_path):
    train(make_cfg("trainer.steps=2"), tmp_path)
    before = (tmp_path / "results.json").read_text()
    with pytest.raises(UserError, match="does not match this run's config"):
        train(make_cfg("trainer.steps=4", "model.z_dim=8"), tmp_path)
    assert (tmp_path / "results.json").read_text() == before


def test_resume_applies_new_learning_rates(tmp_path):
    train(make_cfg("trainer.steps=5"), tmp_path)
    train(make_cfg("trainer.steps=10", "optimizer.d.lr=0.5"), tmp_path)
    groups = load_state(tmp_path)["objects"]["opt_d"]["param_groups"]
    assert [g["lr"] for g in groups] == [0.5]
    assert load_state(tmp_path)["objects"]["opt_g"]["param_groups"][0]["lr"] == 1e-4


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_saves_and_marks_the_run_interrupted(tmp_path, monkeypatch, sig):
    monkeypatch.setattr(signals, "_received", [])
    calls = {"n": 0}

    def g_then_signal(logits):  # the signal arrives in the middle of step 7's generator update
        calls["n"] += 1
        if calls["n"] == 7:
            os.kill(os.getpid(), sig)
        return losses.bce_real(logits)

    monkeypatch.setattr(
        losses,
        "nonsaturating",
        lambda: losses.Loss(losses.bce_real, losses.bce_fake, g_then_signal),
    )
    out = train(make_cfg(), tmp_path / "a")
    assert (out.status, out.step) == ("interrupted", 7)
    assert load_state(tmp_path / "a")["meta"]["step"] == 7
    assert json.loads((tmp_path / "a" / "results.json").read_text())["note"].startswith(sig.name)
    # a later job of the same sweep process does not start training
    out = train(make_cfg(), tmp_path / "b")
    assert (out.status, out.step) == ("interrupted", 0)


def test_noise_is_fresh_for_every_step(tmp_path, monkeypatch):
    seen = []
    forward = Generator.forward
    monkeypatch.setattr(
        Generator, "forward", lambda self, z: seen.append(z.clone()) or forward(self, z)
    )
    train(make_cfg("trainer.d_steps=3", "trainer.steps=3", "metrics.n_samples=10"), tmp_path)
    batches = [z for z in seen if len(z) == 64]  # training batches; evaluation uses its 10 fixed z
    assert len(batches) == 3 * (3 + 1)  # three D steps and one G step per iteration
    assert len({z.sum().item() for z in batches}) == len(batches)


def test_results_are_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        train(make_cfg("trainer.steps=2"), tmp_path)
    finally:
        os.umask(old)
    assert (tmp_path / "results.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "checkpoints" / "last.pt").stat().st_mode & 0o777 == 0o644


def test_the_runner_computes_what_a_hand_written_loop_computes(tmp_path):
    """The benchmark's reference loop (scripts/bench.py) and the runner agree bitwise, so the speed
    ratio compares like with like."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
    from bench import hand_written

    cfg = make_cfg("trainer.steps=15", "trainer.batch_size=32")
    train(cfg, tmp_path)
    G, D = hand_written(cfg, 15)
    state = load_state(tmp_path)["objects"]
    assert_same_tensors(state["G"], G.state_dict())
    assert_same_tensors(state["D"], D.state_dict())


def test_the_best_evaluation_ranks_modes_before_kl():
    """A mixture's best step is the one covering most modes (then most high-quality samples), not the
    one with the lowest KL: with no mode covered KL is over a handful of samples."""
    from gan_runner.metrics import best

    history = [
        {"step": 1, "modes": 0, "high_quality": 0.1, "kl": 0.01},
        {"step": 2, "modes": 8, "high_quality": 80.0, "kl": 0.5},
        {"step": 3, "modes": 8, "high_quality": 85.0, "kl": 0.9},
        {"step": 4, "modes": 8, "high_quality": 85.0, "kl": 0.2},
    ]
    assert best(history) == {
        "step": 4,
        "by": ["modes", "high_quality", "kl"],
        "metrics": {"modes": 8, "high_quality": 85.0, "kl": 0.2},
    }
    # metrics may change on resume, and a number may be NaN: such an entry ranks last on that value
    mixed = [
        {"step": 1, "fid_classifier": 3.0},
        {"step": 2, "fid_classifier": float("nan"), "is_classifier": 9.0},
        {"step": 3, "fid_classifier": 2.0, "is_classifier": 1.0},
    ]
    assert best(mixed)["step"] == 3 and best([]) == {}
    assert (
        best([{"step": 5, "fid_classifier": 1.0}, {"step": 6, "is_classifier": 2.0}])["step"] == 5
    )


def test_a_checkpoint_from_before_the_stabilisers_moved_resumes(tmp_path):
    """Checkpoints record the lens's target and trainer.update under their old names: read as the new;
    settings added since (trainer.compile, compat.ADDED) are absent from them: read as the old behaviour."""
    cfg = make_cfg("trainer.steps=6")
    train(cfg, tmp_path)
    state = load_state(tmp_path)
    old = state["meta"]["config"]
    old["lens"]["_target_"] = "gan_runner.lens.NoLens"
    old["trainer"]["update"] = old["trainer"].pop("order")  # as written before the rename
    from gan_runner.config.compat import ADDED

    for key in [*ADDED, "trainer.compile"]:  # every key added since (model.d_init_gain: null too)
        *parents, leaf = key.split(".")
        node = old
        for part in parents:
            node = node[part]
        node.pop(leaf, None)
    torch.save(state, tmp_path / "checkpoints" / "last.pt")
    from gan_runner.resume import check_resumable
    from gan_runner.run_dir import RunDir

    check_resumable(RunDir(tmp_path), make_cfg("trainer.steps=12"))  # no conflict
    assert train(make_cfg("trainer.steps=12"), tmp_path).step == 12


# gan-runner itself, counting what a run builds and reads: the players (models.build, through
# game.players) and each torch.load of a checkpoint, whole or its meta data alone (mmap)
COUNTING = """import collections, json, sys, torch
from gan_runner import cli, game
counts = collections.Counter()
build, load = game.build, torch.load
def counted_build(*a, **k):
    counts["players built"] += 1
    return build(*a, **k)
def counted_load(f, *a, **k):
    counts[f"{'meta of ' if k.get('mmap') else ''}{getattr(f, 'name', f)}"] += 1
    return load(f, *a, **k)
game.build, torch.load = counted_build, counted_load
try:
    cli.train()
finally:
    print("COUNTS" + json.dumps({k.rsplit('/', 1)[-1] if 'checkpoints' in k else k: v
                                 for k, v in counts.items() if 'cache' not in k}))
"""


def counts(tmp_path, *args: str) -> dict:
    proc = subprocess.run(
        # the run's directory as a user may write it: the pre-flight's hand-off still finds it
        [sys.executable, "-c", COUNTING, *args, f"hydra.run.dir={tmp_path / 'sub' / '..' / 'run'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.split("COUNTS")[-1])


def test_a_run_builds_its_players_once_and_reads_its_checkpoint_once(tmp_path):
    """Pre-flight and training share one build (the pre-flight's, seeded as training draws) and one
    read of checkpoints/last.pt; best.pt's step is read from its meta data alone."""
    fast = ["trainer.steps=20", "trainer.eval_every=10", "trainer.ckpt_every=10"]
    assert counts(tmp_path, *fast, "metrics.n_samples=200") == {"players built": 1}
    resumed = counts(tmp_path, "trainer.steps=30", "trainer.eval_every=10", "metrics.n_samples=200")
    assert resumed == {"players built": 1, "last.pt": 1, "meta of best.pt": 1}


FAILING_BUILD = """import sys
from gan_runner import cli, game
def players(*a, **k):
    raise RuntimeError("CUDA out of memory (a stand-in)")
game.players = players
cli.train()
"""


@pytest.mark.parametrize("sweep", [False, True])
def test_a_run_that_fails_while_its_players_are_built_reports_it(tmp_path, sweep):
    """Not bad input (out of memory, say): the run, or the sweep's job, fails with a results.json
    that says so, as a failure inside training does."""
    where = ["-m", f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=run"] if sweep else []
    run = f"hydra.run.dir={tmp_path / 'run'}"
    proc = subprocess.run(
        [sys.executable, "-c", FAILING_BUILD, *where, "trainer.steps=5", run],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert proc.returncode == 1 and "CUDA out of memory" in proc.stdout + proc.stderr
    assert results["status"] == "failed" and "CUDA out of memory" in results["note"]


def test_the_threads_a_run_takes(monkeypatch):
    """trainer.threads: the setting; null: 1 for the toy nets, a launcher's share, else every core,
    whatever an earlier job of the same process set torch to."""
    from gan_runner.device import cpu_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(1)  # as an earlier toy job in this process left it
    assert cpu_threads(3, toy=True) == 3 and cpu_threads(None, toy=True) == 1
    assert cpu_threads(None, toy=False) == len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # gpu_pool's share for each job
    assert cpu_threads(None, toy=False) == 2 and cpu_threads(None, toy=True) == 1
