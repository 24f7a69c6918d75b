"""Lookahead-Minmax (Chavdarova et al. 2021): slow copies of both players; every k generator
iterations, for both at once, slow ← slow + α(fast − slow) and fast ← slow. The base optimizers'
state is kept across the backtrack. Only parameters are averaged; buffers (batch-norm statistics)
stay the fast ones.
"""

import copy

import torch
from torch import nn


class LookaheadMinmax:
    def __init__(self, players: list[nn.Module], k: int, alpha: float):
        self.players, self.k, self.alpha = players, k, alpha
        self.slow = [[p.detach().clone() for p in m.parameters()] for m in players]

    @torch.no_grad()
    def after_iteration(self, step: int) -> None:
        if step % self.k:
            return
        for module, slow in zip(self.players, self.slow):
            for fast, s in zip(module.parameters(), slow):
                s.add_(fast - s, alpha=self.alpha)
                fast.copy_(s)

    def slow_copy(self, i: int) -> nn.Module:
        """Player i with its slow weights (what evaluation and samples use)."""
        module = copy.deepcopy(self.players[i])
        with torch.no_grad():
            for p, s in zip(module.parameters(), self.slow[i]):
                p.copy_(s)
        return module

    def state_dict(self) -> dict:
        return {"slow": self.slow}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            for mine, saved in zip(self.slow, state["slow"]):
                for s, v in zip(mine, saved):
                    s.copy_(v)
