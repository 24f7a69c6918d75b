"""Lookahead-Minmax (Chavdarova et al. 2021, Algorithm 1): slow copies of both players; every k
generator iterations, for both at once, slow ← slow + α(fast − slow) and fast ← slow. The base
optimizers' state is kept across the backtrack. The players' floating-point buffers (batch-norm
statistics) backtrack with their parameters, so the slow networks are whole networks: evaluation,
samples and the generator EMA use the slow generator.
"""

import copy

import torch
from torch import nn

from . import Off


def _state(module: nn.Module) -> list[torch.Tensor]:
    return [*module.parameters(), *(b for b in module.buffers() if b.is_floating_point())]


class NoLookahead(Off):
    """Off: the players are their own slow weights."""

    def __init__(self, players: list[nn.Module]):
        self.slow = players


class LookaheadMinmax(NoLookahead):
    """`lazy`: the slow weights are taken at the first backtrack, whose pull is then a no-op, as the
    authors' MNIST notebook creates its slow copy there (LA-AltGAN+LA-ExtraGrad.ipynb); until then
    they follow the fast ones. Otherwise they start at the initial weights (Algorithm 1)."""

    def __init__(self, players: list[nn.Module], k: int, alpha: float, lazy: bool = False):
        self.players, self.k, self.alpha, self.lazy = players, k, alpha, lazy
        super().__init__([copy.deepcopy(m).requires_grad_(False) for m in players])

    @torch.no_grad()
    def after_iteration(self, step: int) -> None:
        first = self.lazy and step <= self.k
        if step % self.k and not first:
            return
        for fast_module, slow_module in zip(self.players, self.slow):
            fast, slow = _state(fast_module), _state(slow_module)
            if first:
                torch._foreach_copy_(slow, fast)
                continue
            for f, w in zip(fast, slow):
                w.add_(f - w, alpha=self.alpha)
                f.copy_(w)

    def state_dict(self) -> dict:
        return {"slow": [m.state_dict() for m in self.slow]}

    def load_state_dict(self, state: dict) -> None:
        for module, saved in zip(self.slow, state["slow"]):
            module.load_state_dict(saved)


def lookahead(players: list[nn.Module], k: int, alpha: float, lazy: bool = False) -> NoLookahead:
    """Lookahead-Minmax over `players` every k iterations; k = 0: off."""
    return LookaheadMinmax(players, k, alpha, lazy) if k else NoLookahead(players)
