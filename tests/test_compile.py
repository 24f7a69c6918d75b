"""trainer.compile: the players compiled in place, exact resume with it on, D left eager where the
game differentiates through it twice, and the compiled code cached on disk for the next run."""

import os

import pytest

from conftest import assert_same_tensors, load_state, make_cfg, run_cli
from gan_runner.config.rules import validate
from gan_runner.errors import UserError
from gan_runner.trainer import train

SHORT = [
    "trainer.batch_size=64",
    "trainer.log_every=5",
    "trainer.eval_every=0",
    "trainer.sample_every=0",
    "metrics.n_samples=200",
]


@pytest.mark.slow
def test_exact_resume_with_compile_on(tmp_path):
    """2N ≡ N + resume + N with trainer.compile=default, bit for bit; the checkpoint keeps the eager
    state_dict keys; the compiled code went to the on-disk cache the next job reads."""
    common = ["trainer.compile=default", *SHORT]
    out = train(make_cfg(*common, "trainer.steps=20"), tmp_path / "whole")
    assert out.status == "completed"
    train(make_cfg(*common, "trainer.steps=10"), tmp_path / "split")
    train(make_cfg(*common, "trainer.steps=20"), tmp_path / "split")
    whole, split = load_state(tmp_path / "whole"), load_state(tmp_path / "split")
    assert_same_tensors(whole["objects"], split["objects"])
    assert not any("_orig_mod" in k for k in whole["objects"]["G"])


@pytest.mark.parametrize("twice", [[], ["loss=wgan_gp"]])
def test_the_players_are_compiled_and_traced(twice):
    """Both players compiled by default (D eager under the gradient penalty), and an iteration calls
    them through their compiled code."""
    import torch

    from gan_runner.game import compile_players, gan_game, players

    cfg, cpu = make_cfg("trainer.compile=default", *SHORT, *twice), torch.device("cpu")
    data, G, D = players(cfg, cpu)
    game = gan_game(cfg, data, G, D, cpu)
    compile_players(game, "default")
    assert G._compiled_call_impl is not None and (D._compiled_call_impl is None) == bool(twice)
    calls = {"G": 0, "D": 0}
    for name, net in (("G", G), ("D", D)):
        if net._compiled_call_impl is not None:

            def counted(*args, _compiled=net._compiled_call_impl, _name=name, **kwargs):
                calls[_name] += 1
                return _compiled(*args, **kwargs)

            net._compiled_call_impl = counted
    game.iteration(1)
    assert calls == {
        "G": 2,
        "D": 0 if twice else 3,
    }  # G for D's step and its own; D on real, fake, G's samples


@pytest.mark.slow
def test_the_compiled_code_is_cached_under_the_metrics_cache(tmp_path):
    """A fresh process (a sweep's job) puts torch.compile's cache in metrics.cache_dir/inductor, where
    the next job finds it; trainer.compile set by a user's preset."""
    cache = tmp_path / "cache"
    (tmp_path / "mine" / "experiment").mkdir(parents=True)
    (tmp_path / "mine" / "experiment" / "compiled.yaml").write_text(
        "# @package _global_\ntrainer:\n  compile: default\n"
    )
    run_cli(
        "-cd",
        "mine",
        "+experiment=compiled",
        *SHORT,
        "trainer.steps=3",
        f"metrics.cache_dir={cache}",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "TORCHINDUCTOR_CACHE_DIR"},
    )
    assert any((cache / "inductor").rglob("*.py"))
    assert load_state(tmp_path / "run")["meta"]["config"]["trainer"]["compile"] == "default"


@pytest.mark.parametrize(
    "twice",
    [
        ["loss=wgan_gp"],
        ["trainer.unroll_steps=2", "trainer.unroll_second_order=false"],
        ["model.spectral_norm=true"],
    ],
)
def test_d_stays_eager_where_the_game_differentiates_through_it_twice(tmp_path, twice, caplog):
    """... or where spectral norm updates its vectors in place on each of D's two forwards per step
    (compiled, the second forward broke the first's backward: a version error at step 1)."""
    import torch

    from gan_runner.game import compile_players, gan_game, players

    caplog.set_level("INFO", logger="gan_runner")
    cfg = make_cfg("trainer.compile=default", *SHORT, "trainer.steps=4", *twice)
    out = train(cfg, tmp_path)
    assert out.status == "completed"
    assert (
        "torch.compile (default): G; D eager (differentiated twice, unrolled, or spectrally normalised)"
        in caplog.text
    )
    cpu = torch.device("cpu")
    data, G, D = players(cfg, cpu)
    compile_players(gan_game(cfg, data, G, D, cpu), "default")
    assert (
        G._compiled_call_impl is not None and D._compiled_call_impl is None
    )  # what the log line says


def test_an_unknown_mode_and_second_order_unrolling_are_refused():
    with pytest.raises(
        UserError, match="trainer.compile='fast': must be off, default or max-autotune"
    ):
        validate(make_cfg("trainer.compile=fast"))
    with pytest.raises(UserError, match="trainer.compile cannot take second-order unrolling"):
        validate(make_cfg("trainer.compile=default", "trainer.unroll_steps=2"))
    assert make_cfg().trainer.compile == "off"
