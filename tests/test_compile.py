"""trainer.compile: the players compiled in place, exact resume with it on, D left eager where the
game differentiates through it twice, and the compiled code cached on disk for the next run."""

import os
from pathlib import Path

import pytest

from conftest import assert_same_tensors, load_state, make_cfg, run_cli
from gan_runner.config import validate
from gan_runner.errors import ConfigError
from gan_runner.trainer import train

SHORT = ["trainer.batch_size=64", "trainer.log_every=5", "trainer.eval_every=0", "trainer.sample_every=0",
         "metrics.n_samples=200"]


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


def test_the_compiled_code_is_cached_under_the_metrics_cache(tmp_path):
    """A fresh process (a sweep's job) puts torch.compile's cache in metrics.cache_dir/inductor, where
    the next job finds it."""
    cache = tmp_path / "cache"
    run_cli("trainer.compile=default", *SHORT, "trainer.steps=3", f"metrics.cache_dir={cache}",
            f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, check=True,
            env={k: v for k, v in os.environ.items() if k != "TORCHINDUCTOR_CACHE_DIR"})
    assert any((cache / "inductor").rglob("*.py"))


@pytest.mark.parametrize("twice", [["loss=wgan_gp"], ["trainer.unroll_steps=2", "trainer.unroll_second_order=false"]])
def test_d_stays_eager_where_the_game_differentiates_through_it_twice(tmp_path, twice, caplog):
    caplog.set_level("INFO", logger="gan_runner")
    out = train(make_cfg("trainer.compile=default", *SHORT, "trainer.steps=4", *twice), tmp_path)
    assert out.status == "completed"
    assert "torch.compile (default): G; D eager (differentiated twice, or unrolled)" in caplog.text


def test_an_unknown_mode_and_second_order_unrolling_are_refused():
    with pytest.raises(ConfigError, match="trainer.compile='fast': must be off, default or max-autotune"):
        validate(make_cfg("trainer.compile=fast"))
    with pytest.raises(ConfigError, match="trainer.compile cannot take second-order unrolling"):
        validate(make_cfg("trainer.compile=default", "trainer.unroll_steps=2"))
    assert make_cfg().trainer.compile == "off"
