"""The measures a claim reads beside its headline numbers: G's sample spread, each FID's floor from
the data itself, the Parzen baselines, a mixture's modes within a looser radius and its angular
clumps, the training statistics an evaluation records; and which finished jobs a continued sweep
keeps as they are."""

import math

import pytest
import torch
from torch import nn

from conftest import make_cfg
from fixtures import make_mnist
from gan_runner.data.mixtures import ring
from gan_runner.evaluation import Evaluator
from gan_runner.game import gan_game, players
from gan_runner.metrics.modes import clumps, mode_metrics
from gan_runner.metrics.spread import spread
from gan_runner.resume import finished
from gan_runner.run_dir import RunDir, write_results
from gan_runner.trainer import train

RING = ring(n_modes=8, radius=1.0, sigma=0.01)


def test_spread_is_the_root_of_the_total_variance():
    assert spread(torch.ones(50, 1, 4, 4)) == 0.0  # one point: a collapsed G
    x = torch.randn(20000, 3)
    assert spread(x) == pytest.approx(math.sqrt(3), rel=0.02)
    assert spread(2 * x + 5) == pytest.approx(2 * spread(x))


def test_modes_near_and_clumps():
    """Samples 0.05 from each mode (5σ): no mode within 3σ, all 8 within 0.1, 8 clumps; one arc: 1."""
    angles = torch.arange(8) * (2 * math.pi / 8) + 0.05  # 0.05 rad off each mode along the circle
    near = torch.stack([angles.cos(), angles.sin()], 1).repeat(50, 1)
    m = mode_metrics(near, RING.centers, RING.sigma, 0.01)
    assert (m["modes"], m["modes_near"], m["clumps"]) == (0, 8, 8)
    arc = torch.linspace(0, math.pi / 2, 1000)
    assert clumps(torch.stack([arc.cos(), arc.sin()], 1), 0.01) == 1
    two = torch.cat([torch.zeros(100), torch.full((100,), math.pi / 2)])
    assert clumps(torch.stack([two.cos(), two.sin()], 1), 0.01) == 2
    assert "clumps" not in mode_metrics(
        near, torch.tensor([[0.0, 0.0], [1.0, 1.0]]), 0.01, 0.01
    )  # not a ring


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist")
    make_mnist(root, n_train=200, n_test=100)
    return root


def test_an_fid_comes_with_its_floor_and_parzen_with_its_baselines(mnist_root):
    """fid_classifier_floor: the FID of as many real test images (up to n_samples) against the same
    training statistics, below a G that draws noise; parzen_real (the training images as the kernel
    centres) above parzen_mean_image (one centre at their mean) and above such a G's."""
    cfg = make_cfg(
        "dataset=mnist",
        f"dataset.root={mnist_root}",
        "model=dcgan28",
        "model.g_width=4",
        "model.d_width=4",
        "metrics.names=[fid_classifier,parzen,spread]",
        "metrics.n_samples=100",
        "metrics.classifier.epochs=1",
    )
    data, G, _ = players(cfg, torch.device("cpu"))
    evaluator = Evaluator(cfg, data, torch.device("cpu"))
    m = evaluator.metrics(G)
    assert m["fid_classifier_floor"] < m["fid_classifier"]
    assert m["parzen_real"] > m["parzen_mean_image"] and m["parzen_real"] > m["parzen"]
    assert 0 < m["spread_ratio"] == pytest.approx(m["spread"] / evaluator.data_spread)
    assert evaluator.data_spread == pytest.approx(
        spread(torch.cat([b.float() / 255 for b in data.batches(100, 100)]))
    )


@pytest.mark.slow
def test_each_evaluation_records_the_training_statistics_since_the_last_log_line(
    tmp_path, monkeypatch
):
    """train_loss_d etc.: the means over the iterations since the last log line, the same as the
    per-iteration values averaged; and the same after a stop mid-window and a resume (the window is
    in the checkpoint)."""
    import os
    import signal

    from gan_runner import game as game_module
    from gan_runner import losses, signals

    cfg = make_cfg(
        "trainer.steps=10",
        "trainer.log_every=5",
        "trainer.eval_every=5",
        "trainer.ckpt_every=5",
        "trainer.sample_every=0",
        "metrics.names=[]",
    )
    seen = []
    original = game_module.Game.iteration
    monkeypatch.setattr(
        game_module.Game,
        "iteration",
        lambda self, step: (stats := original(self, step), seen.append(stats["loss/D"].item()))[0],
    )
    out = train(cfg, tmp_path / "whole")
    assert [e["step"] for e in out.history] == [5, 10]
    assert out.history[1]["train_loss_d"] == pytest.approx(sum(seen[5:]) / 5)

    monkeypatch.setattr(signals, "_received", [])
    calls = {"n": 0}

    def g_then_signal(logits):  # a stop in the middle of step 7, mid-window
        calls["n"] += 1
        if calls["n"] == 7:
            os.kill(os.getpid(), signal.SIGUSR1)
        return losses.bce_real(logits)

    with monkeypatch.context() as m:
        m.setattr(
            losses,
            "nonsaturating",
            lambda: losses.Loss(losses.bce_real, losses.bce_fake, g_then_signal),
        )
        assert train(cfg, tmp_path / "split").step == 7
    monkeypatch.setattr(signals, "_received", [])
    assert train(cfg, tmp_path / "split").history == out.history

    # a run that died after the checkpoint of a step that logged but did not evaluate resumes from it
    import shutil

    from gan_runner import checkpoint

    saved, original_save = [], checkpoint.save
    monkeypatch.setattr(
        checkpoint,
        "save",
        lambda path, *a: (original_save(path, *a), saved.append(path.read_bytes())),
    )
    every = make_cfg(
        "trainer.steps=10",
        "trainer.log_every=5",
        "trainer.eval_every=10",
        "trainer.ckpt_every=5",
        "trainer.sample_every=0",
        "metrics.names=[]",
    )
    whole = train(every, tmp_path / "whole5")
    (tmp_path / "crashed" / "checkpoints").mkdir(parents=True)
    (tmp_path / "crashed" / "checkpoints" / "last.pt").write_bytes(saved[0])  # step 5's
    shutil.rmtree(tmp_path / "whole5")
    assert train(every, tmp_path / "crashed").history == whole.history


def test_a_finished_job_stands_unless_its_training_settings_changed(tmp_path):
    """A continued sweep keeps a job whose results.json finished the task's steps with the same
    settings; a change of what it trains with runs it again; of how it is judged (claim.*) or where
    (trainer.device), not."""
    from omegaconf import OmegaConf

    run = RunDir(tmp_path)
    task = make_cfg("trainer.steps=40")
    (tmp_path / ".hydra").mkdir()
    OmegaConf.save(OmegaConf.to_container(task, resolve=True, enum_to_str=True), run.config)
    assert not finished(run, task)  # no results yet
    write_results(run, "completed", overrides=[], step=40, steps=40, history=[])
    assert finished(run, task)
    assert finished(run, make_cfg("trainer.steps=40", "trainer.device=auto"))
    assert not finished(run, make_cfg("trainer.steps=40", "trainer.seed=1"))
    assert not finished(run, make_cfg("trainer.steps=80"))
    write_results(run, "interrupted", overrides=[], step=20, steps=40, history=[])
    assert not finished(run, task)


def test_noise_of_the_configured_law_reaches_training_and_evaluation(mnist_root):
    cfg = make_cfg(
        "+experiment=goodfellow/mnist",
        f"dataset.root={mnist_root}",
        "metrics.names=[]",
        "metrics.n_samples=5000",
    )
    data, G, D = players(cfg, torch.device("cpu"))
    z = gan_game(cfg, data, G, D, torch.device("cpu")).objective.noise()
    for drawn in (z, Evaluator(cfg, data, torch.device("cpu")).z):
        assert drawn.abs().max() <= math.sqrt(3) and drawn.abs().max() > 1.6  # U(±√3), not N(0, 1)


def test_the_output_bias_of_a_conv_generator_is_per_channel(mnist_root):
    """model.init=goodfellow on the stacked-MNIST DCGAN (tanh, a conv output layer): each channel's
    bias at atanh(2m − 1) of its mean pixel."""
    cfg = make_cfg(
        "dataset=stacked_mnist",
        f"dataset.root={mnist_root}",
        "dataset.size=300",
        "model=stacked_dcgan",
        "model.init=goodfellow",
        "model.init_gain=0.05",
        "metrics.names=[]",
    )
    data, G, D = players(cfg, torch.device("cpu"))
    images = torch.cat([b.double() / 255 for b in data.batches(300)])
    m = images.mean((0, 2, 3)).clamp(1e-7, 1 - 1e-7)
    torch.testing.assert_close(
        G.net[-2].bias.double(), torch.atanh(2 * m - 1), atol=1e-5, rtol=1e-5
    )
    assert G(torch.randn(2, 256)).shape == (2, 3, 28, 28)
    assert [m.out_channels for m in D.modules() if isinstance(m, nn.Conv2d)] == [
        2,
        4,
        8,
    ]  # ¼ of G: PacGAN's D
