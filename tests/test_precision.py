"""trainer.precision: the players' forwards under autocast (bf16 tested here on the CPU; fp16 too,
with its gradient scalers), the losses and weights in fp32, exact resume, the scalers in the checkpoint."""

import math

import pytest
import torch

from conftest import assert_same_tensors, load_state, make_cfg
from gan_runner.game import gan_game, players
from gan_runner.precision import Precision
from gan_runner.trainer import train

CPU = torch.device("cpu")


def test_bf16_forwards_train_the_ring_with_fp32_losses_and_weights():
    cfg = make_cfg("trainer.precision=bf16", "trainer.batch_size=256")
    torch.manual_seed(0)
    data, G, D = players(cfg, CPU)
    game = gan_game(cfg, data, G, D, CPU)
    outputs = []
    for net in (G, D):
        net.register_forward_hook(lambda m, i, out: outputs.append(out.dtype))
    for step in range(1, 301):
        stats = game.iteration(step)
        if step == 1:
            assert set(outputs) == {torch.bfloat16}, outputs  # every forward of the players in bf16
    assert {v.dtype for v in stats.values()} == {
        torch.float32
    }  # D's outputs cast before the losses
    assert {p.dtype for p in [*G.parameters(), *D.parameters()]} == {torch.float32}
    assert all(torch.isfinite(v).all() for v in stats.values())
    assert all(torch.isfinite(p).all() for p in [*G.parameters(), *D.parameters()])
    samples = G(game.objective.noise())  # evaluation: outside autocast, in fp32
    assert samples.dtype == torch.float32 and torch.isfinite(samples).all()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_exact_resume_with_mixed_precision(tmp_path, precision):
    """2N ≡ N + resume + N; fp16's two gradient scalers (their scales, growth trackers) are in the checkpoint."""
    common = [f"trainer.precision={precision}", "trainer.d_steps=2"]
    out = train(make_cfg(*common, "trainer.steps=30"), tmp_path / "whole")
    train(make_cfg(*common, "trainer.steps=15"), tmp_path / "split")
    train(make_cfg(*common, "trainer.steps=30"), tmp_path / "split")
    whole, split = load_state(tmp_path / "whole"), load_state(tmp_path / "split")
    assert_same_tensors(whole["objects"], split["objects"])
    assert_same_tensors(whole["rng"], split["rng"])
    assert out.status == "completed" and all(math.isfinite(v) for v in out.history[-1].values())
    scalers = {k: whole["objects"][k] for k in ("scaler_g", "scaler_d")}
    if precision == "fp16":
        assert all(s["scale"] > 0 and "_growth_tracker" in s for s in scalers.values())
    else:
        assert scalers == {"scaler_g": {}, "scaler_d": {}}  # off: nothing saved


def test_bf16_is_refused_on_a_gpu_without_bfloat16_arithmetic(monkeypatch):
    from gan_runner.errors import UserError
    from gan_runner.preflight import check_precision

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    with pytest.raises(
        UserError, match=r"Tesla T4 \(compute capability 7.5\) has no bfloat16 arithmetic"
    ):
        check_precision("bf16", torch.device("cuda", 0))
    check_precision("fp16", torch.device("cuda", 0))
    check_precision("bf16", CPU)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    check_precision("bf16", torch.device("cuda", 0))


def test_fp16_scalers_are_per_player():
    """An overflow in D's scaled gradients skips D's step and halves D's scale alone; G steps on."""
    g, d = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    opt_g, opt_d = torch.optim.SGD(g.parameters(), lr=0.1), torch.optim.SGD(d.parameters(), lr=0.1)
    precision = Precision("fp16", CPU, opt_g, opt_d)
    x = torch.ones(4, 2)
    before_d, before_g = d.weight.detach().clone(), g.weight.detach().clone()
    for opt, net, factor in ((opt_d, d, 1e36), (opt_g, g, 1e-3)):
        with precision.forwards():
            loss = (
                net(x).float().sum() * factor
            )  # D's: finite in fp32, infinite once scaled by 2**16; G's not
        precision.scaled(opt, loss).backward()
        precision.step(opt)
    assert torch.equal(d.weight, before_d) and not torch.equal(g.weight, before_g)
    assert precision.scaler_d.get_scale() == 2.0**15 and precision.scaler_g.get_scale() == 2.0**16


@pytest.mark.slow
@pytest.mark.parametrize("where", ["the command line", "a preset"])
def test_precision_from_the_command_line_or_a_preset(tmp_path, where):
    from conftest import run_cli

    (tmp_path / "mine" / "experiment").mkdir(parents=True)
    (tmp_path / "mine" / "experiment" / "half.yaml").write_text(
        "# @package _global_\ntrainer:\n  precision: bf16\n"
    )
    chosen = (
        ["trainer.precision=bf16"]
        if where == "the command line"
        else ["-cd", "mine", "+experiment=half"]
    )
    proc = run_cli(
        *chosen,
        "trainer.steps=20",
        "trainer.batch_size=64",
        "trainer.device=cpu",
        "metrics.n_samples=500",
        f"hydra.run.dir={tmp_path}/run",
        cwd=tmp_path,
        check=True,
    )
    assert "bf16 forwards" in proc.stdout + proc.stderr
    assert load_state(tmp_path / "run")["meta"]["config"]["trainer"]["precision"] == "bf16"
    # the effect, on the config the same arguments compose: the players' forwards run in bfloat16
    from gan_runner.cli import _compose

    overrides = [a for a in chosen if a not in ("-cd", "mine")]
    cfg = _compose(
        [*overrides, "trainer.batch_size=64"],
        config_dir=str(tmp_path / "mine") if "-cd" in chosen else None,
    )
    data, G, D = players(cfg, CPU)
    outputs = []
    for net in (G, D):
        net.register_forward_hook(lambda m, i, out: outputs.append(out.dtype))
    gan_game(cfg, data, G, D, CPU).iteration(1)
    assert outputs and set(outputs) == {torch.bfloat16}
