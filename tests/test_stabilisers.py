"""The tempered lens, generator EMA, and every stabiliser in the training loop: composition and
exact resume."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from conftest import assert_same_tensors, load_state, make_cfg
from gan_runner import losses
from gan_runner.config.compat import flatten
from gan_runner.metrics import TRAINING
from gan_runner.stabilisers.lens import NoLens, TemperedLens, tempering
from gan_runner.trainer import train


def test_the_ema_is_torchs_averaged_model_bit_for_bit():
    """EMA's own update (no host sync) gives AveragedModel(use_buffers=True, get_ema_multi_avg_fn)'s
    numbers, batch-norm statistics and counts included, and its checkpoint layout."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from gan_runner.stabilisers.ema import EMA

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    reference, ours = (
        AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True),
        EMA(net, 0.9),
    )
    for step in range(1, 8):
        net(torch.randn(16, 4))  # the batch-norm statistics move too
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        reference.update_parameters(net)
        ours.after_iteration(step)
    assert_same_tensors(reference.state_dict(), ours.state_dict())
    again = EMA(net, 0.9)
    again.load_state_dict(
        reference.state_dict()
    )  # a checkpoint written by the AveragedModel version
    assert_same_tensors(again.state_dict(), reference.state_dict())
    # a checkpoint saved before the first iteration (a stop at once): the next update is still the copy
    fresh, unstarted = (
        AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True),
        EMA(net, 0.9),
    )
    unstarted.load_state_dict(EMA(net, 0.9).state_dict())
    fresh.update_parameters(net), unstarted.after_iteration(1)
    assert_same_tensors(fresh.state_dict(), unstarted.state_dict())


def test_lambda_schedule():
    K = 900
    assert tempering(0, K) == 1.0
    assert tempering(K // 3, K) == pytest.approx(1 - math.sin(math.pi / 6))  # = 0.5
    assert tempering(K // 2, K) == pytest.approx(1 - math.sqrt(0.5))
    assert tempering(K, K) == pytest.approx(0.0, abs=1e-15)
    assert tempering(K + 1, K) == 0.0 and tempering(10 * K, K) == 0.0
    values = [tempering(t, K) for t in range(K + 1)]
    assert all(a >= b for a, b in zip(values, values[1:]))  # falls monotonically


def make_lens(data_shape, K=100, rec_weight=1.0, lr=0.1, loss=None):
    return TemperedLens(
        K,
        rec_weight,
        hidden=8,
        depth=2,
        optimizer=lambda p: torch.optim.SGD(p, lr=lr),
        data_shape=data_shape,
        loss=loss or losses.nonsaturating(),
        device=torch.device("cpu"),
    )


@pytest.mark.parametrize("shape", [(2,), (3, 8, 8)])
def test_the_lens_starts_as_the_identity_and_is_dropped_after_K(shape):
    lens = make_lens(shape, K=10)
    x = torch.randn(4, *shape)
    assert torch.equal(lens.view(x, 1), x)  # zero-initialised last layer
    with torch.no_grad():
        for p in lens.net.parameters():
            p.add_(0.1)
    assert not torch.equal(lens.view(x, 1), x)
    assert lens.view(x, 10) is x and lens.view(x, 11) is x  # λ = 0: the identity, D sees x itself
    D = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), 1), nn.Flatten(0))
    assert lens.train_step(11, D, lambda: pytest.fail("no batch is drawn once λ = 0")) == {}
    assert NoLens().view(x, 1) is x


def test_the_lens_works_against_d():
    """With only the adversarial term, a lens step raises D's loss on the lensed real batch: the
    lens pulls real data toward what D calls fake."""
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1), nn.Flatten(0))
    lens = make_lens((2,), K=100, rec_weight=0.0, lr=0.05)
    x = torch.randn(256, 2) + 2
    with torch.no_grad():
        lens.net.f[-1].weight.normal_(
            0, 0.01
        )  # off the exact identity so the first step has a gradient path
    before = losses.nonsaturating().d_real(D(lens.view(x, 1))).item()
    for _ in range(5):
        stats = lens.train_step(1, D, lambda: x)
    after = losses.nonsaturating().d_real(D(lens.view(x, 1))).item()
    assert after > before
    assert stats["lens/adv"].item() == pytest.approx(
        -after, abs=0.05
    )  # L_adv is minus D's real loss
    assert stats["lens/lambda"].item() == pytest.approx(tempering(1, 100))
    # with WGAN-GP the adversarial term is minus the critic's loss on lensed real data, E D(L(x)) (the
    # penalty is D's regulariser, not the lens's): the lens lowers D's score of the real data
    wgan = make_lens((2,), K=100, rec_weight=0.0, lr=0.05, loss=losses.wgan_gp(10.0))
    with torch.no_grad():
        wgan.net.f[-1].weight.normal_(0, 0.01)
    score = D(wgan.view(x, 1)).mean().item()
    stats = wgan.train_step(1, D, lambda: x)
    assert (
        stats["lens/adv"].item() == pytest.approx(score, rel=1e-5)
        and D(wgan.view(x, 1)).mean().item() < score
    )
    # and the reconstruction term alone pulls L back to the identity
    lens.K, lens.rec_weight = 100, 1.0
    D_flat = nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))
    nn.init.zeros_(D_flat[0].weight)
    rec = [lens.train_step(100 - 1, D_flat, lambda: x)["lens/rec"].item() for _ in range(20)]
    assert rec[-1] < rec[0]


def test_generator_ema(tmp_path):
    """θ_ema ← β θ_ema + (1 − β) θ_G after every iteration, starting from G's first weights."""
    beta = 0.9
    snapshots = []
    for steps in (1, 2, 3):
        train(make_cfg(f"trainer.steps={steps}", f"trainer.ema={beta}"), tmp_path / str(steps))
        snapshots.append(load_state(tmp_path / str(steps)))
    g = [s["objects"]["G"]["net.0.weight"] for s in snapshots]
    ema = snapshots[-1]["objects"]["ema"]["module.net.0.weight"]
    expected = beta * (beta * g[0] + (1 - beta) * g[1]) + (1 - beta) * g[2]
    torch.testing.assert_close(ema, expected)
    assert torch.equal(
        snapshots[-1]["meta"]["evaluated_G"]["net.0.weight"], ema
    )  # evaluation uses the EMA


def test_an_ema_run_measures_both_generators(tmp_path):
    """Every evaluation gives the EMA's metrics and, suffixed _no_ema, those of the G it follows
    (Chavdarova et al. 2021 report both): the same as a run without the EMA, which trains the same."""
    out = train(
        make_cfg("trainer.steps=4", "trainer.eval_every=2", "trainer.ema=0.5"), tmp_path / "ema"
    )
    plain = train(make_cfg("trainer.steps=4", "trainer.eval_every=2"), tmp_path / "plain")
    for with_ema, without in zip(out.history, plain.history):
        measures = {
            k: v for k, v in without.items() if k != "step" and k not in TRAINING
        }  # training's: once
        assert {k + "_no_ema" for k in measures} <= with_ema.keys()
        assert all(with_ema[k + "_no_ema"] == v for k, v in measures.items())
        assert all(with_ema[k] == without[k] for k in TRAINING if k in without)  # the same training


def test_lookahead_in_the_loop(tmp_path):
    """Every k iterations both players backtrack; evaluation uses the slow weights between syncs."""
    train(
        make_cfg("trainer.steps=7", "optimizer=lookahead_minmax"), tmp_path / "a"
    )  # k = 5: synced at 5
    state = load_state(tmp_path / "a")
    slow_g, slow_d = state["objects"]["lookahead"]["slow"]
    assert torch.equal(state["meta"]["evaluated_G"]["net.0.weight"], slow_g["net.0.weight"])
    assert not torch.equal(
        state["objects"]["G"]["net.0.weight"], slow_g["net.0.weight"]
    )  # fast moved on
    train(
        make_cfg("trainer.steps=10", "optimizer=lookahead_minmax"), tmp_path / "b"
    )  # synced at 10
    state = load_state(tmp_path / "b")
    slow_g, slow_d = state["objects"]["lookahead"]["slow"]
    assert_same_tensors(state["objects"]["G"], slow_g)
    assert_same_tensors(state["objects"]["D"], slow_d)


def test_ema_follows_lookaheads_slow_generator(tmp_path):
    beta = 0.5
    for steps in (4, 5):
        train(
            make_cfg(f"trainer.steps={steps}", "optimizer=lookahead_minmax", f"trainer.ema={beta}"),
            tmp_path / str(steps),
        )
    before, after = load_state(tmp_path / "4"), load_state(tmp_path / "5")
    slow = after["objects"]["lookahead"]["slow"][0][
        "net.0.weight"
    ]  # the slow G after the sync at 5
    ema = before["objects"]["ema"]["module.net.0.weight"]
    torch.testing.assert_close(
        after["objects"]["ema"]["module.net.0.weight"], beta * ema + (1 - beta) * slow
    )
    assert torch.equal(
        after["meta"]["evaluated_G"]["net.0.weight"], after["objects"]["ema"]["module.net.0.weight"]
    )


ALL_ON = [
    "trainer.unroll_steps=2",
    "lens=tempered",
    "lens.K=30",
    "optimizer.lookahead.k=4",
    "trainer.ema=0.99",
]
EXTRA_ON = [
    "optimizer=extra_adam",
    "trainer.order=simultaneous",
    "lens=tempered",
    "lens.K=30",
    "optimizer.lookahead.k=4",
    "trainer.ema=0.99",
]
# name -> (overrides that turn it on, the override that turns that one stabiliser off again): the
# baseline is the same config minus that stabiliser alone (same optimizer, order, loss, other stabilisers)
STABILISERS = {
    "unrolled": (["trainer.unroll_steps=2"], "trainer.unroll_steps=0"),
    "unrolled-first-order-one-batch": (
        [
            "trainer.unroll_steps=2",
            "trainer.unroll_second_order=false",
            "trainer.unroll_fresh_batches=false",
        ],
        "trainer.unroll_steps=0",
    ),
    "unrolled-simultaneous": (
        ["trainer.unroll_steps=2", "trainer.order=simultaneous", "optimizer=sgd"],
        "trainer.unroll_steps=0",
    ),
    "lens": (["lens=tempered", "lens.K=6"], "lens=none"),
    "lookahead": (
        ["optimizer=lookahead_minmax"],
        "optimizer.lookahead.k=0",
    ),  # its Adam, without Lookahead
    "extra_adam": (
        ["optimizer=extra_adam", "trainer.order=simultaneous"],
        "optimizer.extragradient=false",
    ),
    "extra_sgd-two-d-steps": (
        ["optimizer=extra_sgd", "trainer.order=simultaneous", "trainer.d_steps=2"],
        "optimizer.extragradient=false",
    ),  # simultaneous SGD, same momentum
    "ema": (["trainer.ema=0.9"], "trainer.ema=null"),
    # WGAN-GP's gradient penalty with each stabiliser it composes with (unrolling: differentiated through)
    "unrolled-wgan_gp": (["loss=wgan_gp", "trainer.unroll_steps=2"], "trainer.unroll_steps=0"),
    "lens-wgan_gp-five-critic-steps": (
        ["loss=wgan_gp", "trainer.d_steps=5", "lens=tempered", "lens.K=6"],
        "lens=none",
    ),
    "extragradient-lookahead-ema-wgan_gp": (
        [
            "loss=wgan_gp",
            "optimizer=extra_adam",
            "trainer.order=simultaneous",
            "optimizer.lookahead.k=4",
            "trainer.ema=0.9",
        ],
        "optimizer.extragradient=false",
    ),
    "lookahead-wgan_gp": (
        ["loss=wgan_gp", "optimizer=lookahead_minmax"],
        "optimizer.lookahead.k=0",
    ),
    # the combined cases drop the stabiliser whose effect the others could hide: unrolling (G's loss)
    # under the lens, Lookahead and the EMA; the extragradient step rule under the same three
    "unrolled-lens-lookahead-ema-lsgan": ([*ALL_ON, "loss=lsgan"], "trainer.unroll_steps=0"),
    "extragradient-lens-lookahead-ema-hinge": (
        [*EXTRA_ON, "loss=hinge", "trainer.d_steps=2"],
        "optimizer.extragradient=false",
    ),
}
IMAGES = [
    "dataset=mnist",
    "model=dcgan",
    "model.width=8",
    "model.z_dim=16",
    "trainer.batch_size=16",
    "metrics.n_samples=64",
]


def without(overrides: list[str], off: str) -> list[str]:
    """`overrides` less the stabiliser that `off` turns off (its key and sub-keys), plus `off`."""
    key = off.split("=")[0]
    return [o for o in overrides if o.split("=")[0] != key and not o.startswith(key + ".")] + [off]


@pytest.mark.slow
@pytest.mark.parametrize("data", ["toy", "images"])
@pytest.mark.parametrize("name", list(STABILISERS))
def test_every_stabiliser_composes_and_runs(tmp_path, image_root, name, data):
    extra = [*IMAGES, f"dataset.root={image_root}"] if data == "images" else []
    if data == "images" and name == "unrolled-wgan_gp":
        extra.append(
            "model.d_batchnorm=false"
        )  # batch norm has no third derivative (refused: test_unrolled)
    on, off = STABILISERS[name]
    short = ["trainer.steps=8", "trainer.log_every=4", "trainer.sample_every=4"]
    cfg, baseline = make_cfg(*on, *extra, *short), make_cfg(*without(on, off), *extra, *short)
    # the baseline is this config minus the one stabiliser: it differs in that stabiliser's keys alone
    with_it, without_it, key = flatten(cfg), flatten(baseline), off.split("=")[0]
    differ = {k for k in with_it.keys() | without_it.keys() if with_it.get(k) != without_it.get(k)}
    assert differ and all(k == key or k.startswith(key + ".") for k in differ), differ
    out = train(cfg, tmp_path)
    assert out.status == "completed" and out.step == 8
    evaluated = load_state(tmp_path)["meta"]["evaluated_G"]
    assert all(torch.isfinite(v).all() for v in evaluated.values())
    # the stabiliser changed what was trained (or what is evaluated) against the same run without it
    train(baseline, tmp_path / "plain")
    assert any(
        not torch.equal(v, load_state(tmp_path / "plain")["meta"]["evaluated_G"][k])
        for k, v in evaluated.items()
    )
    if "lens=tempered" in on:
        tags = EventAccumulator(str(tmp_path)).Reload().Tags()
        assert {"lens/lambda", "lens/rec", "lens/adv"} <= set(tags["scalars"])
        if data == "images":
            assert (
                "lens" in tags["images"]
                and (tmp_path / "samples" / "lens_step_0000004.png").exists()
            )
            # real | lensed side by side, each under its caption (dark text on the white strip above)
            picture = np.asarray(Image.open(tmp_path / "samples" / "lens_step_0000004.png"))
            assert picture.shape[1] > picture.shape[0]
            strip, half = picture[:14], picture.shape[1] // 2  # the panels start below it
            assert (
                strip.mean() > 200 and strip[:, :half].min() < 128 and strip[:, half:].min() < 128
            )


@pytest.mark.slow
@pytest.mark.parametrize("stabilisers", [ALL_ON, EXTRA_ON, [*ALL_ON, "loss=wgan_gp"]])
def test_exact_resume_with_every_stabiliser_on(tmp_path, stabilisers):
    """2N ≡ N + resume + N, bitwise, with unrolling (or extragradient), the lens, Lookahead
    (mid-cycle: k = 4, N = 5) and the EMA all on."""
    common = [*stabilisers, "trainer.eval_every=3"]
    train(make_cfg(*common, "trainer.steps=10"), tmp_path / "whole")
    train(make_cfg(*common, "trainer.steps=5"), tmp_path / "split")
    train(make_cfg(*common, "trainer.steps=10"), tmp_path / "split")
    whole, split = load_state(tmp_path / "whole"), load_state(tmp_path / "split")
    assert set(whole["objects"]) >= {"G", "D", "lens", "lookahead", "ema"}
    assert_same_tensors(whole["objects"], split["objects"])
    assert_same_tensors(whole["rng"], split["rng"])
