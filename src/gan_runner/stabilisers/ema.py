"""The generator EMA: θ_ema ← β θ_ema + (1 − β) θ after every iteration, of G or, with
Lookahead-Minmax, of its slow G (Chavdarova et al. 2021 evaluate both with and without it).
What a run evaluates and samples from is the EMA when on, else the generator it follows."""

import copy
import itertools

import torch
from torch import nn

from . import Off


class NoEMA(Off):
    """Off: the followed generator is evaluated as it is."""

    averaged = False  # whether `evaluated` is an average of `followed`, measured beside it

    def __init__(self, followed: nn.Module):
        self.followed = followed

    @property
    def evaluated(self) -> nn.Module:
        return self.followed


class EMA(NoEMA):
    """The β-EMA of every parameter and buffer (batch-norm statistics too), the numbers of torch's
    AveragedModel(use_buffers=True) with get_ema_multi_avg_fn(β), updated without reading a device
    tensor: AveragedModel branches on its update count, a host sync every iteration on a GPU. The
    first update copies; the count is kept for the checkpoint, never read."""

    def __init__(self, followed: nn.Module, beta: float):
        super().__init__(followed)
        self.beta, self.average, self.started = beta, copy.deepcopy(followed), False
        self.n_averaged = torch.zeros(
            (), dtype=torch.long, device=next(followed.parameters()).device
        )
        # the tensors, paired once (the modules keep theirs: checkpoints load in place): floats by
        # dtype for one foreach lerp each, the rest (batch norm's counts) apart
        self.ours, self.theirs = (
            list(itertools.chain(m.parameters(), m.buffers())) for m in (self.average, followed)
        )
        self.floats: dict[torch.dtype, tuple[list, list]] = {}
        for t, m in zip(self.ours, self.theirs):
            if t.is_floating_point():
                pair = self.floats.setdefault(t.dtype, ([], []))
                pair[0].append(t), pair[1].append(m)
        self.counts = [(t, m) for t, m in zip(self.ours, self.theirs) if not t.is_floating_point()]

    averaged = True

    @property
    def evaluated(self) -> nn.Module:
        return self.average

    @torch.no_grad()
    def after_iteration(self, step: int) -> None:
        if not self.started:
            torch._foreach_copy_(self.ours, self.theirs)
            self.started = True
        else:
            for ours, theirs in self.floats.values():
                torch._foreach_lerp_(ours, theirs, 1 - self.beta)
            for t, m in self.counts:
                t.copy_(t * self.beta + m * (1 - self.beta))
        self.n_averaged += 1

    def state_dict(
        self,
    ) -> dict:  # AveragedModel's layout: checkpoints written before read the same
        return {
            "n_averaged": self.n_averaged,
            **{f"module.{k}": v for k, v in self.average.state_dict().items()},
        }

    def load_state_dict(self, state: dict) -> None:
        self.n_averaged.copy_(state["n_averaged"])
        self.started = bool(
            state["n_averaged"]
        )  # a stop before the first iteration saves a count of 0
        self.average.load_state_dict(
            {k.removeprefix("module."): v for k, v in state.items() if k != "n_averaged"}
        )


def ema(followed: nn.Module, beta: float | None) -> NoEMA:
    return EMA(followed, beta) if beta else NoEMA(followed)
