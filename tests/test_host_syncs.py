"""No host synchronisation in the hot loop: between log steps the training loop reads no tensor's
value on the host (no .item(), no Python branch on a tensor), so a GPU step queues without waiting.
On the CPU every read is counted by wrapping torch.Tensor's readers; on a GPU (where there is one)
CUDA's sync-debug mode also raises at any synchronising call inside an iteration."""

import pytest
import torch

from conftest import make_cfg
from gan_runner import game as game_module
from gan_runner.trainer import train

READERS = ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__")
CASES = {
    "default": [],
    "lens": ["lens=tempered", "lens.K=20"],
    "unrolled, second order": ["trainer.unroll_steps=3"],
    "lookahead and EMA": ["optimizer=lookahead_minmax", "optimizer.lookahead.k=3", "trainer.ema=0.9"],
    "extragradient": ["optimizer=extra_adam"],
    "wgan-gp, k=2": ["loss=wgan_gp", "trainer.d_steps=2"],
    "simultaneous": ["trainer.order=simultaneous"],
    "bf16 forwards": ["trainer.precision=bf16", "lens=tempered", "lens.K=20"],
}
LOG = 6


def _step_counters(game) -> set[int]:
    """torch's Adam keeps its step count on the CPU whatever the device (capturable=False): reading it
    waits for nothing on a GPU. The players' optimizers and the lens's."""
    lens = getattr(game.objective, "lens", None)
    optimizers = [game.opt_g, game.opt_d, *([lens.opt] if hasattr(lens, "opt") else [])]
    return {id(s["step"]) for o in optimizers for s in o.state.values() if torch.is_tensor(s.get("step"))}


@pytest.mark.parametrize("case", CASES)
def test_the_loop_reads_no_tensor_between_log_steps(case, tmp_path, monkeypatch):
    reads: list[tuple[int, str]] = []  # (the last iteration begun, the reader)
    now = {"step": 0, "counters": set()}
    for name in READERS:
        def reader(self, *args, _name=name, _original=getattr(torch.Tensor, name), **kwargs):
            if id(self) not in now["counters"]:
                reads.append((now["step"], _name))
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, reader)
    iteration = game_module.Game.iteration

    def counted(self, step: int):
        now["step"], now["counters"] = step, _step_counters(self) if step == 2 else now["counters"]
        if next(self.G.parameters()).is_cuda:
            with _cuda_sync_errors():
                return iteration(self, step)
        return iteration(self, step)

    monkeypatch.setattr(game_module.Game, "iteration", counted)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    train(make_cfg("trainer.steps=12", f"trainer.log_every={LOG}", "trainer.eval_every=0", "trainer.sample_every=0",
                   "trainer.ckpt_every=0", "metrics.names=[]", f"trainer.device={device}", *CASES[case]), tmp_path)
    # iteration 1 creates the optimizers' state; from then on, values are read at log steps only
    assert reads and {step for step, _ in reads if step > 1} <= {LOG, 2 * LOG}, sorted(set(reads))


class _cuda_sync_errors:
    def __enter__(self):
        torch.cuda.set_sync_debug_mode("error")

    def __exit__(self, *exc):
        torch.cuda.set_sync_debug_mode("default")
