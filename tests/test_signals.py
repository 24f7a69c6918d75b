"""A launcher's own signal handler (submitit's SIGUSR2 requeue) gets the signal after the run has
stopped and saved, or after the grace period, and not at all when the run completed anyway."""

import os
import signal
import time

import pytest

from conftest import load_state, make_cfg
from gan_runner import losses, signals
from gan_runner.trainer import train


@pytest.fixture
def launcher(monkeypatch, tmp_path):
    """A Python SIGUSR2 handler, as submitit installs, recording the run's checkpointed step when called."""
    monkeypatch.setattr(signals, "_received", [])
    calls = []

    def requeue(signum, frame):
        ckpt = tmp_path / "checkpoints" / "last.pt"
        calls.append(load_state(tmp_path)["meta"]["step"] if ckpt.exists() else None)

    previous = signal.signal(signal.SIGUSR2, requeue)
    yield calls
    signal.signal(signal.SIGUSR2, previous)


def signal_in_step(monkeypatch, step: int, then=lambda: None):
    """SIGUSR2 arrives in the middle of `step`'s generator update; `then` runs right after it."""
    calls = {"n": 0}

    def g_loss(logits):
        calls["n"] += 1
        if calls["n"] == step:
            os.kill(os.getpid(), signal.SIGUSR2)
            then()
        return losses.bce_real(logits)

    monkeypatch.setattr(
        losses, "nonsaturating", lambda: losses.Loss(losses.bce_real, losses.bce_fake, g_loss)
    )


def test_handed_on_after_the_save(tmp_path, monkeypatch, launcher):
    signal_in_step(monkeypatch, 7)
    out = train(make_cfg("trainer.ckpt_every=0"), tmp_path)
    assert (out.status, out.step) == ("interrupted", 7)
    assert launcher == [7]  # once, and the checkpoint it requeues with is the one saved at the stop
    assert signal.getsignal(signal.SIGUSR2) is not signals._handle  # restored


def test_not_handed_on_when_the_run_completed(tmp_path, monkeypatch, launcher):
    signal_in_step(monkeypatch, 40)  # the last step: nothing left to stop
    assert train(make_cfg(), tmp_path).status == "completed"
    assert launcher == []


def test_handed_on_after_the_grace_period_when_the_run_is_slow_to_stop(
    tmp_path, monkeypatch, launcher
):
    monkeypatch.setattr(signals, "GRACE_S", 0.05)
    signal_in_step(
        monkeypatch, 7, then=lambda: time.sleep(0.5)
    )  # a long step: the grace runs out in it
    out = train(make_cfg("trainer.ckpt_every=0"), tmp_path)
    assert launcher == [None]  # handed on mid-step, before any checkpoint; not again after the save
    assert (out.status, out.step) == ("interrupted", 7)
