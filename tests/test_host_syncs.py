"""No host synchronisation in the hot loop: between log steps the training loop — the game's
iteration, the health, stop and schedule checks around it — reads no tensor's value on the host, so
a GPU step queues without waiting. Every call that would is counted through a torch function mode:
a value read (.item(), .tolist(), .numpy(), a Python bool/float/int of a tensor), a copy to the host
(.cpu(), .to("cpu"), .to(a CPU device) of a tensor that is elsewhere) and an output whose size
depends on values (nonzero, argwhere, masked_select, unique, where(condition), boolean-mask
indexing). On a GPU (where there is one) CUDA's sync-debug mode also reports every synchronising
call, over the whole loop."""

import warnings

import pytest
import torch
from torch.overrides import TorchFunctionMode

from conftest import make_cfg
from gan_runner import game as game_module
from gan_runner.trainer import train

CASES = {
    "default": [],
    "lens": ["lens=tempered", "lens.K=20"],
    "unrolled, second order": ["trainer.unroll_steps=3"],
    "lookahead and EMA": [
        "optimizer=lookahead_minmax",
        "optimizer.lookahead.k=3",
        "trainer.ema=0.9",
    ],
    "extragradient": ["optimizer=extra_adam"],
    "wgan-gp, k=2": ["loss=wgan_gp", "trainer.d_steps=2"],
    "simultaneous": ["trainer.order=simultaneous"],
    "bf16 forwards": ["trainer.precision=bf16", "lens=tempered", "lens.K=20"],
}
LOG = 6
READS = {
    "item",
    "tolist",
    "numpy",
    "__bool__",
    "__float__",
    "__int__",
    "__index__",
    "cpu",
    "nonzero",
    "argwhere",
    "masked_select",
    "unique",
    "unique_consecutive",
}


def host_read(func, args: tuple, kwargs: dict) -> str | None:
    """The name of what `func(*args, **kwargs)` makes the host wait for, or None."""
    name = getattr(func, "__name__", "")
    if name in READS:
        return name
    if name == "where" and len(args) + len(kwargs) == 1:  # where(condition): nonzero
        return "where(condition)"
    if name == "to" and torch.is_tensor(args[0]):
        for d in (*args[1:], kwargs.get("device")):
            if (
                isinstance(d, (str, torch.device))
                and torch.device(d).type == "cpu"
                and (isinstance(d, str) or args[0].device.type != "cpu")
            ):  # a literal "cpu": the host, on any device
                return "to(cpu)"
    if name in ("__getitem__", "__setitem__"):
        index = args[1] if isinstance(args[1], tuple) else (args[1],)
        if any(torch.is_tensor(i) and i.dtype == torch.bool for i in index):
            return "boolean mask"
    return None


class HostReads(TorchFunctionMode):
    """Records (the last iteration begun, the read) for every host read but those of `ignored` tensors."""

    def __init__(self, now: dict):
        super().__init__()
        self.now, self.reads = now, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        read = host_read(func, args, kwargs)
        if read and not (args and id(args[0]) in self.now["ignored"]):
            self.reads.append((self.now["step"], read))
        return func(*args, **kwargs)


def _step_counters(game) -> set[int]:
    """torch's Adam keeps its step count on the CPU whatever the device (capturable=False): reading it
    waits for nothing on a GPU. The players' optimizers and the lens's."""
    lens = getattr(game.objective, "lens", None)
    optimizers = [game.opt_g, game.opt_d, *([lens.opt] if hasattr(lens, "opt") else [])]
    return {
        id(s["step"])
        for o in optimizers
        for s in o.state.values()
        if torch.is_tensor(s.get("step"))
    }


def count_host_reads(cfg, run_dir, monkeypatch) -> list[tuple[int, str]]:
    """Train `cfg`, returning every host read (and, on a GPU, every synchronising CUDA call) with the
    last iteration begun before it: reads after iteration s and before s + 1 count as step s's."""
    now = {"step": 0, "ignored": set()}
    iteration = game_module.Game.iteration

    def counted(self, step: int):
        now["step"] = step
        if step == 2:  # iteration 1 created the optimizers' state
            now["ignored"] = _step_counters(self)
        return iteration(self, step)

    monkeypatch.setattr(game_module.Game, "iteration", counted)
    mode, syncs = HostReads(now), []
    cuda = torch.cuda.is_available() and cfg.trainer.device == "cuda"
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        monkeypatch.setattr(
            warnings,
            "showwarning",
            lambda message, *a, **k: (
                syncs.append((now["step"], str(message)))
                if "synchronizing CUDA operation" in str(message)
                else None
            ),
        )
        if cuda:
            torch.cuda.set_sync_debug_mode("warn")
        try:
            with mode:
                train(cfg, run_dir)
        finally:
            if cuda:
                torch.cuda.set_sync_debug_mode("default")
    return mode.reads + syncs


@pytest.mark.parametrize("case", CASES)
def test_the_loop_reads_no_tensor_between_log_steps(case, tmp_path, monkeypatch):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    cfg = make_cfg(
        "trainer.steps=12",
        f"trainer.log_every={LOG}",
        "trainer.eval_every=0",
        "trainer.sample_every=0",
        "trainer.ckpt_every=0",
        "metrics.names=[]",
        f"trainer.device={device}",
        *CASES[case],
    )
    reads = count_host_reads(cfg, tmp_path, monkeypatch)
    # from iteration 2 on, values are read at log steps only
    assert reads and {step for step, _ in reads if step > 1} <= {LOG, 2 * LOG}, sorted(set(reads))


@pytest.mark.parametrize(
    "code",
    [
        "x.sum().item()",
        "bool((x > 0).all())",
        "x.cpu()",
        "x.to('cpu')",
        "x.nonzero()",
        "x[x > 0]",
        "torch.where(x > 0)",
        "x.tolist()",
    ],
)
def test_each_kind_of_host_read_is_counted(code):
    now = {"step": 3, "ignored": set()}
    x = torch.ones(4)
    with HostReads(now) as mode:
        eval(code, {"x": x, "torch": torch})
        x.to(x.device), x.to(torch.float64), x + 1  # staying where it is: not a read
    assert [step for step, _ in mode.reads] == [3], mode.reads
