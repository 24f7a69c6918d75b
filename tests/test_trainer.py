"""The training loop: Algorithm 1, what a run writes, exact resume, divergence and failure."""

import json

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import assert_same_tensors, load_state, make_cfg
from gan_runner import losses
from gan_runner.data.mixtures import GaussianMixture
from gan_runner.trainer import train


def test_a_short_ring_run_writes_events_samples_results_and_checkpoint(tmp_path):
    out = train(make_cfg(), tmp_path, overrides=["trainer.steps=40"])
    assert (out.status, out.step) == ("completed", 40)

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "completed" and results["step"] == results["steps"] == 40
    assert set(results["final"]) == {"modes", "high_quality", "kl"}
    assert [h["step"] for h in results["history"]] == [20, 40]
    assert results["best"]["kl"]["value"] == min(h["kl"] for h in results["history"])
    assert results["overrides"] == ["trainer.steps=40"] and results["wall_time_s"] > 0

    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step_0000020.png", "step_0000040.png"]
    assert (tmp_path / "samples" / "step_0000040.png").read_bytes()[:4] == b"\x89PNG"
    assert load_state(tmp_path)["meta"]["step"] == 40

    ea = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0}).Reload()
    tags = set(ea.Tags()["scalars"])
    assert {"loss/D", "loss/G", "D/real", "D/fake", "grad_norm/D", "grad_norm/G", "perf/steps_per_s",
            "metrics/modes", "metrics/high_quality", "metrics/kl"} <= tags
    assert [e.step for e in ea.Scalars("loss/D")] == [10, 20, 30, 40]
    assert [e.step for e in ea.Images("samples")] == [20, 40]
    assert "hparams" in ea.PluginTagToContent("hparams") or ea.PluginTagToContent("hparams")


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        train(make_cfg(f"trainer.seed={seed}", "trainer.steps=10"), tmp_path / name)
    a, b, c = (load_state(tmp_path / n)["objects"] for n in "abc")
    assert_same_tensors(a, b)
    assert not torch.equal(a["G"]["net.0.weight"], c["G"]["net.0.weight"])


@pytest.mark.parametrize("update", ["alternating", "simultaneous"])
def test_exact_resume(tmp_path, update):
    """2N steps in one go ≡ N steps, stop, resume, N steps: bitwise, whatever the eval schedule."""
    common = [f"trainer.update={update}", "trainer.d_steps=2", "optimizer=sgd"]
    train(make_cfg(*common, "trainer.steps=30", "trainer.eval_every=7"), tmp_path / "whole")
    train(make_cfg(*common, "trainer.steps=15", "trainer.eval_every=5"), tmp_path / "split")
    out = train(make_cfg(*common, "trainer.steps=30", "trainer.eval_every=5"), tmp_path / "split")
    assert out.step == 30 and [h["step"] for h in out.history] == [5, 10, 15, 20, 25, 30]
    whole, split = load_state(tmp_path / "whole"), load_state(tmp_path / "split")
    assert_same_tensors(whole["objects"], split["objects"])
    assert_same_tensors(whole["rng"], split["rng"])


def test_algorithm_1_takes_k_d_steps_on_fresh_batches(tmp_path, monkeypatch):
    batches = []
    sample = GaussianMixture.sample
    monkeypatch.setattr(GaussianMixture, "sample", lambda self, n, generator=None:
                        batches.append(sample(self, n, generator)) or batches[-1])
    train(make_cfg("trainer.d_steps=3", "trainer.steps=4", "trainer.eval_every=0", "trainer.sample_every=0"),
          tmp_path)
    assert len(batches) == 3 * 4  # one real batch per D step; the G step needs none
    assert len({b.sum().item() for b in batches}) == len(batches)  # all fresh


@pytest.mark.parametrize("update,g_depends_on_d_lr", [("alternating", True), ("simultaneous", False)])
def test_alternating_vs_simultaneous(tmp_path, update, g_depends_on_d_lr):
    """Alternating: G steps against the updated D. Simultaneous: G's gradient is taken before D moves,
    so D's learning rate cannot change G's first step."""
    g = []
    for lr in ("1e-4", "0.5"):
        train(make_cfg(f"trainer.update={update}", f"optimizer.d.lr={lr}", "optimizer=sgd", "trainer.steps=1",
                       "trainer.eval_every=0", "trainer.sample_every=0"), tmp_path / lr)
        g.append(load_state(tmp_path / lr)["objects"]["G"])
    same = all(torch.equal(g[0][k], g[1][k]) for k in g[0])
    assert same != g_depends_on_d_lr


def test_non_finite_loss_ends_the_run_as_diverged(tmp_path, monkeypatch):
    calls = {"n": 0}

    def nan_after_12(logits):
        calls["n"] += 1
        return losses.bce_real(logits) * (float("nan") if calls["n"] > 12 else 1.0)

    monkeypatch.setattr(losses, "nonsaturating", lambda: losses.Loss(losses.bce_real, losses.bce_fake, nan_after_12))
    out = train(make_cfg("trainer.steps=40", "trainer.ckpt_every=10"), tmp_path)
    assert out.status == "diverged" and out.step == 20  # NaN from step 13, seen at the step-20 log
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "diverged" and "step 20" in results["note"]
    # the last good checkpoint is kept, not overwritten with NaNs
    assert load_state(tmp_path)["meta"]["step"] == 10


def test_an_exception_is_reported_as_failed(tmp_path, monkeypatch):
    def broken(logits):
        raise RuntimeError("out of memory, say")

    monkeypatch.setattr(losses, "nonsaturating", lambda: losses.Loss(losses.bce_real, losses.bce_fake, broken))
    with pytest.raises(RuntimeError):
        train(make_cfg(), tmp_path)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "failed" and "out of memory" in results["note"]


def test_a_mismatched_checkpoint_is_a_clear_config_error(tmp_path):
    from gan_runner.config import ConfigError

    train(make_cfg("trainer.steps=2"), tmp_path)
    with pytest.raises(ConfigError, match="does not match this run's config"):
        train(make_cfg("trainer.steps=4", "model.z_dim=8"), tmp_path)


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
